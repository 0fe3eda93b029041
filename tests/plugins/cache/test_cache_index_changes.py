"""The cache follows the kubernetes index (issue 15): with the kubeadm Corefile (`cache 30` on `.`,
kubernetes falling through for the reverse zones), a PTR asked before its Service or endpoint
existed is cached as the upstream's NXDOMAIN; the index change that adds the address drops exactly
that entry, so the new PTR answers at once instead of 30 s later. Negative answers under the
cluster zone are dropped on any change. Real sockets: dnspython against kdns, the fake API, a
fake upstream for forward.
"""

from __future__ import annotations

from conftest import kdns_server
from plugins.kubernetes.test_k8s_live import (
    ZONE,
    ask,
    becomes,
    data,
    endpoint,
    endpoint_slice,
    fast_watch,  # noqa: F401  (autouse fixture: short watch backoffs)
    live_api,
    reverse,
    service,
)
from plugins.kubernetes.test_k8s_live_startup import kubeadm_corefile

from tests.upstreams import FakeUpstream

FRESH = f"fresh.live.svc.{ZONE}"
# Negative answers from this upstream live an hour: only the index change can end them in a test.
HOUR_SOA = "example.org. 3600 IN SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 3600"


def upstream_asked(upstream: FakeUpstream, name: str) -> int:
    return sum(1 for q in upstream.client_queries() if q.name.lower() == name.lower())


async def test_new_service_and_endpoint_ptrs_are_not_hidden_by_cached_nxdomains() -> None:
    cluster_ip, v6_ip, endpoint_ip = "10.96.77.7", "fd00:96::77:7", "10.244.77.8"
    other = reverse("10.96.77.99")
    names = [reverse(ip) for ip in (cluster_ip, v6_ip, endpoint_ip)]
    async with live_api() as api, FakeUpstream(soa=HOUR_SOA) as upstream, \
            kdns_server(kubeadm_corefile(api, upstream)) as server:
        for name in [*names, other]:
            for _ in range(2):
                assert data(await ask(server, name, "PTR")) == ("NXDOMAIN", set())
            # the second answer came from the cache: the upstream was asked once
            assert upstream_asked(upstream, name) == 1

        api.create(service("fresh", "live", [cluster_ip, v6_ip]))
        await becomes(server, names[0], "PTR", "NOERROR", {FRESH})
        await becomes(server, names[1], "PTR", "NOERROR", {FRESH})
        api.create(service("fresh-hl", "live", headless=True))
        api.create(endpoint_slice("fresh-hl-1", "live", "fresh-hl", [endpoint(endpoint_ip, "db-0")]))
        await becomes(server, names[2], "PTR", "NOERROR", {f"db-0.fresh-hl.live.svc.{ZONE}"})
        # exactly those: the cached NXDOMAIN of an address the index never gained is still served
        assert data(await ask(server, other, "PTR")) == ("NXDOMAIN", set())
        assert upstream_asked(upstream, other) == 1

        # and the other way: the Service goes, its PTR falls through again, upstream's NXDOMAIN
        api.delete("Service", "fresh", namespace="live")
        await becomes(server, names[0], "PTR", "NXDOMAIN", set())


async def test_negative_answers_under_the_cluster_zone_end_with_any_change() -> None:
    # `fallthrough` for every zone: NXDOMAINs of cluster names come from upstream and are cached.
    async with live_api() as api, FakeUpstream(soa=HOUR_SOA) as upstream:
        corefile = kubeadm_corefile(api, upstream)
        corefile = corefile.replace("fallthrough in-addr.arpa ip6.arpa", "fallthrough")
        corefile = corefile.replace(
            "cache 30 { disable success cluster.local\n               disable denial cluster.local }", "cache 30"
        )
        assert "disable" not in corefile
        async with kdns_server(corefile) as server:
            for _ in range(2):
                assert data(await ask(server, FRESH, "A")) == ("NXDOMAIN", set())
            assert upstream_asked(upstream, FRESH) == 1
            api.create(service("fresh", "live", ["10.96.77.7"]))
            await becomes(server, FRESH, "A", "NOERROR", {"10.96.77.7"})


async def test_the_fast_path_copy_of_a_dropped_answer_goes_with_it() -> None:
    # The cache's answers are fast-path answers (issue 19): the index change that drops the cached
    # NXDOMAIN must take the server's packed copy too, or the fast path would go on serving it.
    name = reverse("10.96.77.7")
    async with live_api() as api, FakeUpstream(soa=HOUR_SOA) as upstream, \
            kdns_server(kubeadm_corefile(api, upstream)) as server:
        assert data(await ask(server, name, "PTR")) == ("NXDOMAIN", set())
        (sockets,) = server.app.sockets.values()
        owner = b"".join(bytes((len(label),)) + label.encode() for label in name.rstrip(".").split(".")) + b"\x00"
        leased = [e for k, e in sockets.listener.table.entries.items() if k.startswith(owner) and e.lease is not None]
        assert len(leased) == 1
        assert data(await ask(server, name, "PTR")) == ("NXDOMAIN", set())
        assert sum(leased[0].collect().values()) == 1  # the repeat was the fast path's
        api.create(service("fresh", "live", ["10.96.77.7"]))
        await becomes(server, name, "PTR", "NOERROR", {FRESH})
        assert all(e is not leased[0] for e in sockets.listener.table.entries.values())
