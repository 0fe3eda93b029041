"""The kubernetes plugin live: an unsynced start, the kubeadm Corefile, the programming-latency metric.

Real sockets throughout: DNS over UDP and TCP with dnspython, /ready, /health and /metrics over HTTP,
the fake kube-apiserver (tests/fakeapi) over HTTP, a fake upstream for `forward`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import KUBEADM_COREFILE, RunningServer, kdns_server
from plugins.kubernetes.test_k8s_live import (
    ZONE,
    ask,
    data,
    endpoint,
    endpoint_slice,
    fast_watch,  # noqa: F401  (autouse fixture: short watch backoffs)
    k8s_handler,
    list_requests,
    live_api,
    on_fast_path,
    reverse,
    service,
    until,
)
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from kdns.plugins.kubernetes import metrics
from tests.fakeapi import FakeApi
from tests.upstreams import FakeUpstream

def substitute(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} is not in the Corefile exactly once"
    return text.replace(old, new)


def kubeadm_corefile(api: FakeApi, upstream: FakeUpstream) -> str:
    """The kubeadm Corefile with only what a test must change: listen ports (free ones on
    127.0.0.1), the API endpoint, and a loopback upstream instead of /etc/resolv.conf."""
    text = KUBEADM_COREFILE
    text = substitute(text, ".:53 {", ".:0 {")
    # Only the address goes in: `{` and `}` stay tokens of their own, as the Corefile lexer wants.
    text = substitute(text, "health { lameduck 5s }", "health 127.0.0.1:0 { lameduck 5s }")
    text = substitute(text, "    ready\n", "    ready 127.0.0.1:0\n")
    text = substitute(text, "prometheus :9153", "prometheus 127.0.0.1:0")
    text = substitute(text, "forward . /etc/resolv.conf", f"forward . {upstream.address}")
    return substitute(
        text,
        "kubernetes cluster.local in-addr.arpa ip6.arpa {\n",
        f"kubernetes cluster.local in-addr.arpa ip6.arpa {{\n       endpoint {api.url}\n",
    )


async def test_kubeadm_corefile_serves_cluster_reverse_and_forwarded_names() -> None:
    records = {
        ("example.org.", "A"): ["example.org. 300 IN A 192.0.2.80"],
        ("example.com.", "A"): ["example.com. 300 IN A 192.0.2.81"],
        ("3.2.1.10.in-addr.arpa.", "PTR"): ["3.2.1.10.in-addr.arpa. 300 IN PTR host.example.org."],
    }
    async with live_api() as api, FakeUpstream(records) as upstream, kdns_server(kubeadm_corefile(api, upstream)) as server:
        web = f"web.demo.svc.{ZONE}"
        for tcp in (False, True):
            # Cluster names: ttl 30, AA, never forwarded.
            got = await ask(server, web, "A", tcp)
            assert got[:3] == ("NOERROR", True, ((web, "A", 30, "10.98.75.229"),))
            got = await ask(server, f"nothing.demo.svc.{ZONE}", "A", tcp)
            assert (got[0], got[1], got[3]) == ("NXDOMAIN", True, ("SOA",))
            assert data(await ask(server, f"web-headless.demo.svc.{ZONE}", "A", tcp)) == ("NOERROR", {"10.244.0.10", "10.244.0.12"})
            assert data(await ask(server, f"_http._tcp.{web}", "SRV", tcp)) == ("NOERROR", {f"0 100 80 {web}"})
            # pods insecure: the address spelled by the name, in an existing namespace.
            assert data(await ask(server, f"10-244-9-9.demo.pod.{ZONE}", "A", tcp)) == ("NOERROR", {"10.244.9.9"})
            assert data(await ask(server, f"10-244-9-9.nowhere.pod.{ZONE}", "A", tcp)) == ("NXDOMAIN", set())
            # Reverse names: cluster IPs from the index, others fall through to forward.
            assert data(await ask(server, reverse("10.98.75.229"), "PTR", tcp)) == ("NOERROR", {web})
            assert data(await ask(server, reverse("10.1.2.3"), "PTR", tcp)) == ("NOERROR", {"host.example.org."})
            assert (await ask(server, reverse("fd00::99"), "PTR", tcp))[0] == "NXDOMAIN"  # upstream's answer
            # Forwarded names, and an ExternalName chased through forward.
            assert data(await ask(server, "example.org.", "A", tcp)) == ("NOERROR", {"192.0.2.80"})
            assert data(await ask(server, f"ext.demo.svc.{ZONE}", "A", tcp)) == ("NOERROR", {"example.com.", "192.0.2.81"})
        asked = {q.name.lower().rstrip(".") for q in upstream.client_queries()}
        assert {"example.org", "example.com", "3.2.1.10.in-addr.arpa", reverse("fd00::99").rstrip(".")} <= asked
        assert not any(name.endswith("cluster.local") for name in asked), asked

        assert await server.http("ready", "/ready") == (200, "OK")
        assert (await server.http("health", "/health"))[0] == 200
        status, text = await server.http("prometheus", "/metrics")
        assert status == 200
        assert "coredns_dns_requests_total" in text
        assert "coredns_kubernetes_dns_programming_duration_seconds" in text


# -- readiness before the first sync ------------------------------------------------------------


UNSYNCED = """
.:0 {{
    ready 127.0.0.1:0
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        endpoint {url}
        startup_timeout 500ms
    }}
    whoami
}}
"""


@pytest.mark.parametrize("outage", ["api-down", "forbidden"])
async def test_unsynced_start_then_the_api_appears(outage: str) -> None:
    async with live_api() as api:
        if outage == "api-down":
            await api.stop()  # the port stays reserved for start()
        else:
            api.set_auth_failure(403)  # RBAC not granted yet
        started = time.monotonic()
        async with kdns_server(UNSYNCED.format(url=api.url)) as server:
            waited = time.monotonic() - started
            assert 0.5 <= waited < 3, f"startup_timeout 500ms, but started after {waited:.2f}s"
            status, body = await server.http("ready", "/ready")
            assert status == 503 and "kubernetes" in body
            web, nothing = f"web.demo.svc.{ZONE}", f"nothing.demo.svc.{ZONE}"
            for tcp in (False, True):
                # Would be NXDOMAIN in an empty index: "not seen yet" is not "does not exist".
                for name in (web, nothing):
                    got = await ask(server, name, "A", tcp)
                    assert got[0] == "SERVFAIL", (name, got)
                # An outside name goes on to the next plugin (whoami: the client's address).
                got = await ask(server, "example.org.", "A", tcp)
                assert got[0] == "NOERROR" and got[2] == ()
                assert ("example.org.", "A", 0, "127.0.0.1") in got[4]
            assert not on_fast_path(server, nothing, "A")

            if outage == "api-down":
                await api.start()
            else:
                api.set_auth_failure(None)

            async def ready() -> bool:
                return await server.http("ready", "/ready") == (200, "OK")

            await until(ready, "/ready turns 200 once every resource has listed")
            for tcp in (False, True):
                assert data(await ask(server, web, "A", tcp)) == ("NOERROR", {"10.98.75.229"})
                assert data(await ask(server, nothing, "A", tcp)) == ("NXDOMAIN", set())
                assert data(await ask(server, f"hl.live.svc.{ZONE}", "A", tcp)) == ("NOERROR", {"10.244.5.1", "10.244.5.2"})


# -- coredns_kubernetes_dns_programming_duration_seconds ----------------------------------------

HIST = "coredns_kubernetes_dns_programming_duration_seconds"


async def programming(server: RunningServer) -> dict[str, tuple[float, float]]:
    """{service_kind: (count, sum)} as /metrics shows it."""
    status, text = await server.http("prometheus", "/metrics")
    assert status == 200
    out: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != HIST:
            continue
        for s in family.samples:
            kind = s.labels.get("service_kind", "")
            if s.name == HIST + "_count":
                out.setdefault(kind, [0.0, 0.0])[0] = s.value
            elif s.name == HIST + "_sum":
                out.setdefault(kind, [0.0, 0.0])[1] = s.value
    return {kind: (v[0], v[1]) for kind, v in out.items()}


def delta(after: dict[str, tuple[float, float]], before: dict[str, tuple[float, float]], kind: str) -> tuple[float, float]:
    a, b = after.get(kind, (0.0, 0.0)), before.get(kind, (0.0, 0.0))
    return a[0] - b[0], a[1] - b[1]


def registered(kind: str) -> tuple[float, float]:
    def value(suffix: str) -> float:
        return REGISTRY.get_sample_value(HIST + suffix, {"service_kind": kind}) or 0.0

    return value("_count"), value("_sum")


def trigger_time(seconds_ago: float) -> str:
    """The annotation as the EndpointSlice controller writes it (RFC 3339 with fraction, UTC)."""
    stamp = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def annotated(name: str, svc: str, ip: str, seconds_ago: float) -> dict[str, object]:
    return endpoint_slice(
        name, "live", svc, [endpoint(ip)],
        annotations={metrics.TRIGGER_TIME_ANNOTATION: trigger_time(seconds_ago)},
    )


async def test_programming_duration_is_observed_for_headless_slice_events() -> None:
    # Already in the cluster at start: the initial list is not a change to time.
    pre = [service("pre", "live", headless=True), annotated("pre-1", "pre", "10.244.7.9", 1.0)]
    # /metrics serves the process's default registry: its values before the server starts.
    at_start = {kind: registered(kind) for kind in metrics.SERVICE_KINDS}
    async with live_api(pre) as api, kdns_server(f"""
        .:0 {{
            prometheus 127.0.0.1:0
            kubernetes cluster.local {{
                endpoint {api.url}
            }}
        }}
    """) as server:
        index = k8s_handler(server).index
        assert data(await ask(server, f"pre.live.svc.{ZONE}", "A")) == ("NOERROR", {"10.244.7.9"})
        before = await programming(server)
        for kind in metrics.SERVICE_KINDS:
            assert delta(before, at_start, kind) == (0, 0), kind

        # The Services first (CoreDNS too observes only when the slice's service is known).
        api.create(service("hl2", "live", headless=True))
        api.create(service("cip", "live", ["10.96.70.1"]))
        api.create(service("bare", "live", headless=True, selector=False))
        await until(
            lambda: asyncio.sleep(0, result=all(index.service("live", n) for n in ("hl2", "cip", "bare"))),
            "the services are in the index",
        )

        api.create(annotated("hl2-1", "hl2", "10.244.7.1", 0.25))
        # Slices of a ClusterIP service and of a selector-less headless one: not timed.
        api.create(annotated("cip-1", "cip", "10.244.7.2", 0.25))
        api.create(annotated("bare-1", "bare", "10.244.7.3", 0.25))

        async def served() -> bool:
            for name in (f"hl2.live.svc.{ZONE}", f"10-244-7-2.cip.live.svc.{ZONE}", f"bare.live.svc.{ZONE}"):
                if data(await ask(server, name, "A"))[0] != "NOERROR":
                    return False
            return True

        await until(served, "the slices are served")
        after = await programming(server)
        count, seconds = delta(after, before, metrics.HEADLESS_WITH_SELECTOR)
        assert count == 1
        assert 0.25 <= seconds < 5, seconds
        assert delta(after, before, metrics.CLUSTER_IP)[0] == 0
        assert delta(after, before, metrics.HEADLESS_WITHOUT_SELECTOR)[0] == 0

        # A modification is timed too (CoreDNS's informer records every delta of the slice);
        # one without the annotation is not.
        api.update(annotated("hl2-1", "hl2", "10.244.7.4", 0.5))
        await until(
            lambda: _answers(server, f"hl2.live.svc.{ZONE}", {"10.244.7.4"}),
            "the modified slice is served",
        )
        api.update(endpoint_slice("hl2-1", "live", "hl2", [endpoint("10.244.7.5")]))
        await until(
            lambda: _answers(server, f"hl2.live.svc.{ZONE}", {"10.244.7.5"}),
            "the modified slice without annotation is served",
        )
        assert delta(await programming(server), before, metrics.HEADLESS_WITH_SELECTOR)[0] == 2

        # A relist (410) replaces the state: not timed either, though annotated slices of
        # known headless services (pre-1, hl2-1 again) are in it.
        api.cut_streams()
        api.update(annotated("hl2-1", "hl2", "10.244.7.6", 0.5))
        api.compact()
        await until(
            lambda: _answers(server, f"hl2.live.svc.{ZONE}", {"10.244.7.6"}),
            "the relisted slice is served",
        )
        assert list_requests(api, "/apis/discovery.k8s.io/v1/endpointslices") == 2
        assert delta(await programming(server), before, metrics.HEADLESS_WITH_SELECTOR)[0] == 2


async def _answers(server: RunningServer, name: str, rdata: set[str]) -> bool:
    return data(await ask(server, name, "A")) == ("NOERROR", rdata)
