"""The kubernetes plugin live against the fake API server, asked over real UDP and TCP sockets.

issue 4, "How it is checked", watch tests: objects created, modified and deleted through the API
change the DNS answers (also answers the server had packed on its fast path); an API outage leaves
the answers as they were; an API that comes back with a changed cluster converges exactly to what a
freshly started kdns answers; a 410 relist never shows an answer that is neither the old nor the new
one. The expected answers follow design.md section 4 (not kdns's own output).

The helpers at the top are shared with test_k8s_live_*.py.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest
from conftest import RunningServer, kdns_server

from kdns.plugins.kubernetes import apisource
from kdns.plugins.kubernetes.settings import WatchSettings
from tests.fakeapi import FakeApi

ZONE = "cluster.local."
# Short backoffs so that a watcher finds a restarted API within a fraction of a second; watches
# themselves last long enough that no clean re-watch happens by chance in the middle of a test.
FAST = WatchSettings(
    watch_timeout=60,
    watch_timeout_jitter=0,
    backoff_base=0.02,
    backoff_cap=0.2,
    backoff_reset_after=1.0,
    min_watch_duration=0.05,
    stop_timeout=2,
)
DEADLINE = 5.0  # the watch delivers in milliseconds; this only bounds a failing test

Summary = tuple[str, bool, tuple[tuple[str, str, int, str], ...], tuple[str, ...], tuple[tuple[str, str, int, str], ...]]


@pytest.fixture(autouse=True)
def fast_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    # ApiSource reads apisource.DEFAULT_SETTINGS when the handler builds it (it passes none).
    monkeypatch.setattr(apisource, "DEFAULT_SETTINGS", FAST)


def corefile(api: FakeApi, *, pods: str = "verified", extra: str = "", options: str = "") -> str:
    return f"""
    .:0 {{
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            endpoint {api.url}
            pods {pods}
            startup_timeout 2s
            {options}
        }}
        {extra}
    }}
    """


# -- API objects ----------------------------------------------------------------------------


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name, "labels": labels or {}}, "spec": {}}


def service(
    name: str,
    ns: str,
    ips: Iterable[str] = (),
    *,
    headless: bool = False,
    ports: Iterable[tuple[str, int, str]] = (("http", 80, "TCP"),),
    selector: bool = True,
    external: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ports": [{"name": n, "port": p, "protocol": proto, "targetPort": p} for n, p, proto in ports]
    }
    if selector:
        spec["selector"] = {"app": name}
    if external is not None:
        spec.update(type="ExternalName", externalName=external)
    else:
        cluster = ["None"] if headless else list(ips)
        spec.update(type="ClusterIP", clusterIP=cluster[0], clusterIPs=cluster)
        spec["ipFamilies"] = ["IPv6" if ":" in ip else "IPv4" for ip in ips] or ["IPv4"]
    return {"kind": "Service", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def endpoint(ip: str, hostname: str | None = None, ready: bool = True, pod: str | None = None) -> dict[str, Any]:
    ep: dict[str, Any] = {"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": False}}
    if hostname:
        ep["hostname"] = hostname
    if pod:
        ep["targetRef"] = {"kind": "Pod", "name": pod, "namespace": "x"}
    return ep


def endpoint_slice(
    name: str,
    ns: str,
    svc: str,
    endpoints: list[dict[str, Any]],
    *,
    ports: Iterable[tuple[str, int, str]] = (("http", 8080, "TCP"),),
    address_type: str = "IPv4",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": svc, "endpointslice.kubernetes.io/managed-by": "test"},
            "annotations": annotations or {},
        },
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports],
    }


def pod(name: str, ns: str, ips: Iterable[str], phase: str = "Running") -> dict[str, Any]:
    ips = list(ips)
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": phase, "podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips]},
    }


def live_objects() -> list[dict[str, Any]]:
    """A namespace beside the recorded cluster with the rows it lacks: IPv6, dual-stack, in-zone
    ExternalName, a headless service with hostnames and an IPv6 slice, verified pods."""
    return [
        namespace("live"),
        service("dual", "live", ["10.96.50.1", "fd00:96::50:1"]),
        service("hl", "live", headless=True, ports=[("http", 80, "TCP"), ("dns", 53, "UDP")]),
        endpoint_slice(
            "hl-v4",
            "live",
            "hl",
            [endpoint("10.244.5.1", "a", pod="p1"), endpoint("10.244.5.2"), endpoint("10.244.5.3", "c", ready=False)],
            ports=[("http", 8080, "TCP"), ("dns", 5353, "UDP")],
        ),
        endpoint_slice("hl-v6", "live", "hl", [endpoint("fd00:244::5:1")], address_type="IPv6",
                       ports=[("http", 8080, "TCP"), ("dns", 5353, "UDP")]),
        service("alias", "live", external="dual.live.svc.cluster.local"),
        pod("p1", "live", ["10.244.5.1"]),
        pod("pending", "live", ["10.244.5.9"], phase="Pending"),
    ]


@asynccontextmanager
async def live_api(extra: Iterable[dict[str, Any]] = ()) -> AsyncIterator[FakeApi]:
    """The recorded cluster (kube-apiserver v1.36.2, resourceVersion 338) plus live_objects()."""
    async with FakeApi(recorded=True) as api:
        for obj in [*live_objects(), *extra]:
            api.create(obj)
        yield api


# -- asking and comparing -----------------------------------------------------------------------


def reverse(ip: str) -> str:
    return str(dns.reversename.from_address(ip))


def _rr_rows(section: list[Any]) -> tuple[tuple[str, str, int, str], ...]:
    rows = []
    for rrset in section:
        for rd in rrset:
            text = rd.to_text().lower()
            if rrset.rdtype == dns.rdatatype.SOA:
                # The serial is the time of the last index change: it differs between servers.
                fields = text.split()
                text = " ".join(fields[:2] + fields[3:])
            rows.append((str(rrset.name).lower(), dns.rdatatype.to_text(rrset.rdtype), rrset.ttl, text))
    return tuple(sorted(rows))


def summary(msg: dns.message.Message) -> Summary:
    """What a test compares: rcode, AA, answer rows, authority types, additional rows."""
    return (
        dns.rcode.to_text(msg.rcode()),
        bool(msg.flags & dns.flags.AA),
        _rr_rows(msg.answer),
        tuple(sorted(dns.rdatatype.to_text(r.rdtype) for r in msg.authority)),
        _rr_rows(msg.additional),
    )


async def ask(server: RunningServer, name: str, rdtype: str, tcp: bool = False) -> Summary:
    return summary(await server.query(name, rdtype, tcp=tcp))


async def snapshot(server: RunningServer, names: Iterable[tuple[str, str]], tcp: bool = False) -> dict[tuple[str, str], Summary]:
    return {(n, t): await ask(server, n, t, tcp) for n, t in names}


def data(s: Summary) -> tuple[str, set[str]]:
    """(rcode, rdata of the answer section) of a summary: what most expectations are about."""
    return s[0], {row[3] for row in s[2]}


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = DEADLINE) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {what}")
        await asyncio.sleep(0.02)


async def becomes(server: RunningServer, name: str, rdtype: str, rcode: str, rdata: set[str]) -> None:
    """Wait until the answer is (rcode, rdata) over UDP, then check TCP says the same."""

    async def check() -> bool:
        return data(await ask(server, name, rdtype)) == (rcode, rdata)

    try:
        await until(check, f"{name} {rdtype} -> {rcode} {sorted(rdata)}")
    except AssertionError:
        got = data(await ask(server, name, rdtype))
        raise AssertionError(f"{name} {rdtype}: want {rcode} {sorted(rdata)}, still {got}") from None
    assert data(await ask(server, name, rdtype, tcp=True)) == (rcode, rdata), f"{name} {rdtype} over TCP"


def fast_path_key(name: str, rdtype: str) -> bytes:
    """The fast-path table's key for a plain query without EDNS (kdns/server/fastpath.py)."""
    wire = dns.name.from_text(name).to_wire()
    assert wire is not None
    return wire.lower() + struct.pack("!HH", dns.rdatatype.from_text(rdtype), 1) + b"\x00"


def on_fast_path(server: RunningServer, name: str, rdtype: str) -> bool:
    key = fast_path_key(name, rdtype)
    return any(key in sockets.listener.table.entries for sockets in server.app.sockets.values())


async def cached(server: RunningServer, name: str, rdtype: str, rcode: str, rdata: set[str]) -> None:
    """Ask twice over UDP and TCP; the answer is as given and now packed on the fast path."""
    for tcp in (False, True, False, True):
        assert data(await ask(server, name, rdtype, tcp)) == (rcode, rdata), (name, rdtype, tcp)
    assert on_fast_path(server, name, rdtype), f"{name} {rdtype} was not put on the fast path"


def k8s_handler(server: RunningServer) -> Any:
    assert server.app.generation is not None
    for block in server.app.generation.blocks:
        for handler in block.handlers:
            if type(handler).__module__ == "kdns.plugins.kubernetes.handler":
                return handler
    raise LookupError("no kubernetes handler")


def list_requests(api: FakeApi, path: str) -> int:
    """How many times kdns listed path: paged lists, or streaming lists (sendInitialEvents)."""
    return sum(
        1
        for method, p, qs in api.requests
        if method == "GET"
        and p == path
        and (parse_qs(qs).get("watch") != ["true"] or parse_qs(qs).get("sendInitialEvents") == ["true"])
    )


WATCHED_PATHS = ("/api/v1/namespaces", "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/pods")


def names_of_every_row() -> list[tuple[str, str]]:
    """(name, type) over every row kind of design.md section 4, for the recorded cluster plus
    live_objects() and the names CHANGES touches."""

    def svc(n: str, ns: str) -> str:
        return f"{n}.{ns}.svc.{ZONE}"

    names: list[tuple[str, str]] = [
        (f"dns-version.{ZONE}", "TXT"),
        (ZONE, "SOA"),
        (ZONE, "NS"),
        (ZONE, "A"),  # NODATA at the apex
        (f"svc.{ZONE}", "A"),
        (f"pod.{ZONE}", "A"),
        (f"demo.svc.{ZONE}", "A"),
        (f"extra.svc.{ZONE}", "A"),  # a namespace CHANGES creates
        (f"demo-b.svc.{ZONE}", "A"),  # a namespace CHANGES deletes
        (f"nowhere.svc.{ZONE}", "A"),
        (f"web.nowhere.svc.{ZONE}", "A"),
        (f"a.b.c.web.demo.svc.{ZONE}", "A"),  # too many labels
        (f"web.demo.weird.{ZONE}", "A"),  # not svc/pod
    ]
    services = [
        ("web", "demo"), ("web-headless", "demo"), ("web-nr", "demo"), ("manual", "demo"),
        ("dual-prefer", "demo"), ("ext", "demo"), ("kubernetes", "default"), ("web", "demo-b"),
        ("dual", "live"), ("hl", "live"), ("alias", "live"), ("new", "live"), ("missing", "demo"),
    ]
    for n, ns in services:
        names += [(svc(n, ns), "A"), (svc(n, ns), "AAAA"), (svc(n, ns), "SRV"), (f"_http._tcp.{svc(n, ns)}", "SRV")]
    names += [
        (f"_dns._udp.{svc('web', 'demo')}", "SRV"),
        (f"_grpc._tcp.{svc('web', 'demo')}", "SRV"),  # a port CHANGES adds
        (f"_dns._udp.{svc('hl', 'live')}", "SRV"),
        (f"_https._tcp.{svc('manual', 'demo')}", "SRV"),
        (f"_grpc._tcp.{svc('web', 'demo-b')}", "SRV"),
        (f"_http._udp.{svc('web', 'demo')}", "SRV"),  # wrong protocol
        (f"web-0.{svc('web-headless', 'demo')}", "A"),
        (f"web-1.{svc('web-headless', 'demo')}", "A"),  # not ready
        (f"192-0-2-51.{svc('manual', 'demo')}", "A"),  # turns ready in CHANGES
        (f"10-244-0-12.{svc('web-headless', 'demo')}", "A"),
        (f"10-244-0-11.{svc('web-nr', 'demo')}", "A"),
        (f"m0.{svc('manual', 'demo')}", "A"),
        (f"a.{svc('hl', 'live')}", "A"),
        (f"a.{svc('hl', 'live')}", "AAAA"),
        (f"c.{svc('hl', 'live')}", "A"),  # not ready
        (f"10-244-5-2.{svc('hl', 'live')}", "A"),  # leaves in CHANGES
        (f"fd00-244--5-1.{svc('hl', 'live')}", "AAAA"),
        (f"10-244-0-10.{svc('web', 'demo')}", "A"),  # ClusterIP services have endpoint names too
        (f"nobody.{svc('web', 'demo')}", "A"),
        (f"10-244-0-10.demo.pod.{ZONE}", "A"),
        (f"10-244-0-12.demo.pod.{ZONE}", "A"),  # pod deleted in CHANGES
        (f"10-244-0-99.demo.pod.{ZONE}", "A"),
        (f"10-244-5-1.live.pod.{ZONE}", "A"),
        (f"10-244-5-7.live.pod.{ZONE}", "A"),  # pod created in CHANGES
        (f"10-244-5-9.live.pod.{ZONE}", "A"),  # Pending
        (f"10-244-1-10.demo-b.pod.{ZONE}", "A"),
        (f"fd00-10-244-1--a.demo-b.pod.{ZONE}", "AAAA"),
    ]
    for ip in (
        "10.98.75.229", "10.96.0.1", "10.96.164.53", "10.97.139.152", "10.109.115.72", "10.96.50.1",
        "10.96.50.9", "fd00:96::50:1", "10.244.0.10", "10.244.0.11", "10.244.0.12", "10.244.1.10",
        "192.0.2.50", "192.0.2.51", "10.244.5.1", "10.244.5.2", "10.244.5.3", "fd00:244::5:1", "10.1.2.3",
    ):
        names.append((reverse(ip), "PTR"))
    names += [("10.in-addr.arpa.", "PTR"), ("in-addr.arpa.", "SOA"), ("ip6.arpa.", "NS")]
    return names


NAMES = names_of_every_row()


def apply_changes(api: FakeApi) -> None:
    """Changes of every kind, chosen so that each name above depends on one changed kind only
    (kinds are relisted one after the other, so an answer mixing two changed kinds would be
    neither the old nor the new state)."""
    api.delete("Service", "web-nr", namespace="demo")  # headless goes: A, endpoint names, PTRs
    api.create(service("new", "live", ["10.96.50.9"]))
    api.patch("Service", "web", {"spec": {"ports": [
        {"name": "http", "port": 80, "protocol": "TCP"},
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "grpc", "port": 9000, "protocol": "TCP"},
    ]}}, namespace="demo")
    api.update(service("alias", "live", external="web.demo.svc.cluster.local"))
    # 192.0.2.51 turns ready in one of the two slices of the selector-less service `manual`.
    slice_ = api.get("EndpointSlice", "manual-1", namespace="demo")
    assert slice_ is not None
    for ep in slice_["endpoints"]:
        ep["conditions"]["ready"] = True
    api.update({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", **slice_})
    api.update(endpoint_slice("hl-v4", "live", "hl", [endpoint("10.244.5.1", "a", pod="p1"), endpoint("10.244.5.3", "c", ready=False)],
                              ports=[("http", 8080, "TCP"), ("dns", 5353, "UDP")]))
    api.delete("Namespace", "demo-b")
    api.create(namespace("extra"))
    api.delete("Pod", "web-2", namespace="demo")
    api.create(pod("p2", "live", ["10.244.5.7"]))


# -- create, modify, delete ---------------------------------------------------------------------


async def test_service_create_modify_delete_reaches_cached_answers() -> None:
    name, ptr = f"new.live.svc.{ZONE}", reverse("10.96.50.9")
    srv_http, srv_web = f"_http._tcp.{name}", f"_web._tcp.{name}"
    async with live_api() as api, kdns_server(corefile(api)) as server:
        # Negative answers packed on the fast path first.
        await cached(server, name, "A", "NXDOMAIN", set())
        await cached(server, ptr, "PTR", "NXDOMAIN", set())

        api.create(service("new", "live", ["10.96.50.9"]))
        await becomes(server, name, "A", "NOERROR", {"10.96.50.9"})
        await becomes(server, ptr, "PTR", "NOERROR", {name})
        await cached(server, name, "A", "NOERROR", {"10.96.50.9"})
        await cached(server, srv_http, "SRV", "NOERROR", {f"0 100 80 {name}"})
        await cached(server, srv_web, "SRV", "NXDOMAIN", set())

        # Modified: the port is renamed and moved; the ClusterIP answer itself stays.
        api.patch("Service", "new", {"spec": {"ports": [{"name": "web", "port": 8080, "protocol": "TCP"}]}}, namespace="live")
        await becomes(server, srv_web, "SRV", "NOERROR", {f"0 100 8080 {name}"})
        await becomes(server, srv_http, "SRV", "NXDOMAIN", set())
        await cached(server, name, "A", "NOERROR", {"10.96.50.9"})
        await cached(server, ptr, "PTR", "NOERROR", {name})

        api.delete("Service", "new", namespace="live")
        await becomes(server, name, "A", "NXDOMAIN", set())
        await becomes(server, ptr, "PTR", "NXDOMAIN", set())
        await becomes(server, srv_web, "SRV", "NXDOMAIN", set())


async def test_dual_stack_and_external_name_changes() -> None:
    name = f"dual.live.svc.{ZONE}"
    alias = f"alias.live.svc.{ZONE}"
    async with live_api() as api, kdns_server(corefile(api)) as server:
        await cached(server, name, "AAAA", "NOERROR", {"fd00:96::50:1"})
        await cached(server, reverse("fd00:96::50:1"), "PTR", "NOERROR", {name})
        # In-zone ExternalName: the CNAME and the target's addresses chased from the index.
        await cached(server, alias, "A", "NOERROR", {name, "10.96.50.1"})

        # The ExternalName now points at another in-cluster service: the cached chase is dropped.
        api.update(service("alias", "live", external="web.demo.svc.cluster.local"))
        await becomes(server, alias, "A", "NOERROR", {f"web.demo.svc.{ZONE}", "10.98.75.229"})
        # The service the old target chased through goes: the new chase must not depend on it.
        await cached(server, alias, "A", "NOERROR", {f"web.demo.svc.{ZONE}", "10.98.75.229"})
        api.delete("Service", "dual", namespace="live")
        await becomes(server, name, "AAAA", "NXDOMAIN", set())
        await becomes(server, reverse("fd00:96::50:1"), "PTR", "NXDOMAIN", set())
        await cached(server, alias, "A", "NOERROR", {f"web.demo.svc.{ZONE}", "10.98.75.229"})
        # And a change of the chased target reaches the alias's cached answer: the CNAME stays,
        # with the target's NXDOMAIN (RFC 6604; CoreDNS answers NOERROR here).
        api.delete("Service", "web", namespace="demo")
        await becomes(server, alias, "A", "NXDOMAIN", {f"web.demo.svc.{ZONE}"})


async def test_endpoint_slice_changes_reach_headless_hostname_and_ptr_answers() -> None:
    hl = f"hl.live.svc.{ZONE}"
    async with live_api() as api, kdns_server(corefile(api)) as server:
        await cached(server, hl, "A", "NOERROR", {"10.244.5.1", "10.244.5.2"})
        await cached(server, hl, "AAAA", "NOERROR", {"fd00:244::5:1"})
        await cached(server, f"c.{hl}", "A", "NXDOMAIN", set())  # not ready
        await cached(server, reverse("10.244.5.3"), "PTR", "NXDOMAIN", set())
        await cached(server, f"_http._tcp.{hl}", "SRV", "NOERROR", {
            f"0 33 8080 a.{hl}", f"0 33 8080 10-244-5-2.{hl}", f"0 33 8080 fd00-244--5-1.{hl}",
        })

        # c turns ready, 10.244.5.2 goes.
        api.update(endpoint_slice(
            "hl-v4", "live", "hl",
            [endpoint("10.244.5.1", "a", pod="p1"), endpoint("10.244.5.3", "c")],
            ports=[("http", 8080, "TCP"), ("dns", 5353, "UDP")],
        ))
        await becomes(server, hl, "A", "NOERROR", {"10.244.5.1", "10.244.5.3"})
        await becomes(server, f"c.{hl}", "A", "NOERROR", {"10.244.5.3"})
        await becomes(server, reverse("10.244.5.3"), "PTR", "NOERROR", {f"c.{hl}"})
        await becomes(server, f"10-244-5-2.{hl}", "A", "NXDOMAIN", set())
        await becomes(server, f"_http._tcp.{hl}", "SRV", "NOERROR", {
            f"0 33 8080 a.{hl}", f"0 33 8080 c.{hl}", f"0 33 8080 fd00-244--5-1.{hl}",
        })
        await cached(server, hl, "AAAA", "NOERROR", {"fd00:244::5:1"})

        # A new slice of the same service is merged; deleting every slice leaves no ready
        # endpoint, and a headless service without one is NXDOMAIN (design.md section 4).
        api.create(endpoint_slice("hl-extra", "live", "hl", [endpoint("10.244.5.4", "d")]))
        await becomes(server, hl, "A", "NOERROR", {"10.244.5.1", "10.244.5.3", "10.244.5.4"})
        for name in ("hl-v4", "hl-v6", "hl-extra"):
            api.delete("EndpointSlice", name, namespace="live")
        await becomes(server, hl, "A", "NXDOMAIN", set())
        await becomes(server, hl, "AAAA", "NXDOMAIN", set())
        await becomes(server, f"a.{hl}", "A", "NXDOMAIN", set())
        await becomes(server, reverse("10.244.5.1"), "PTR", "NXDOMAIN", set())


async def test_namespace_create_and_delete() -> None:
    web = f"web.fresh.svc.{ZONE}"
    async with live_api() as api, kdns_server(corefile(api)) as server:
        await cached(server, f"fresh.svc.{ZONE}", "A", "NXDOMAIN", set())
        await cached(server, web, "A", "NXDOMAIN", set())
        # A service whose namespace object is not (yet) seen does not exist for DNS.
        api.create(service("web", "fresh", ["10.96.60.1"]))
        await asyncio.sleep(0.2)
        await cached(server, web, "A", "NXDOMAIN", set())
        await cached(server, reverse("10.96.60.1"), "PTR", "NXDOMAIN", set())

        api.create(namespace("fresh"))
        await becomes(server, web, "A", "NOERROR", {"10.96.60.1"})
        await becomes(server, f"fresh.svc.{ZONE}", "A", "NOERROR", set())  # NODATA
        await becomes(server, reverse("10.96.60.1"), "PTR", "NOERROR", {web})
        await cached(server, web, "A", "NOERROR", {"10.96.60.1"})
        await cached(server, reverse("10.96.60.1"), "PTR", "NOERROR", {web})

        # Deleting the namespace makes every name below it NXDOMAIN, cached ones included.
        api.delete("Namespace", "fresh")
        await becomes(server, web, "A", "NXDOMAIN", set())
        await becomes(server, f"fresh.svc.{ZONE}", "A", "NXDOMAIN", set())
        await becomes(server, reverse("10.96.60.1"), "PTR", "NXDOMAIN", set())


async def test_pods_verified_follow_the_pod_objects() -> None:
    name = f"10-244-5-7.live.pod.{ZONE}"
    async with live_api() as api, kdns_server(corefile(api, pods="verified")) as server:
        await cached(server, f"10-244-5-1.live.pod.{ZONE}", "A", "NOERROR", {"10.244.5.1"})
        await cached(server, f"10-244-5-9.live.pod.{ZONE}", "A", "NXDOMAIN", set())  # Pending
        await cached(server, name, "A", "NXDOMAIN", set())

        api.create(pod("p2", "live", ["10.244.5.7"]))
        await becomes(server, name, "A", "NOERROR", {"10.244.5.7"})
        # The same address in another namespace is still not verified.
        await cached(server, f"10-244-5-7.demo.pod.{ZONE}", "A", "NXDOMAIN", set())
        await cached(server, name, "A", "NOERROR", {"10.244.5.7"})

        api.patch("Pod", "pending", {"status": {"phase": "Running"}}, namespace="live")
        await becomes(server, f"10-244-5-9.live.pod.{ZONE}", "A", "NOERROR", {"10.244.5.9"})
        api.patch("Pod", "p2", {"status": {"phase": "Succeeded"}}, namespace="live")
        await becomes(server, name, "A", "NXDOMAIN", set())
        await cached(server, name, "A", "NXDOMAIN", set())
        api.patch("Pod", "p2", {"status": {"phase": "Running"}}, namespace="live")
        await becomes(server, name, "A", "NOERROR", {"10.244.5.7"})
        api.delete("Pod", "p2", namespace="live")
        await becomes(server, name, "A", "NXDOMAIN", set())


# -- outages ------------------------------------------------------------------------------------


async def test_answers_continue_unchanged_through_an_api_outage() -> None:
    async with live_api() as api, kdns_server(corefile(api, extra="ready 127.0.0.1:0")) as server:
        before = await snapshot(server, NAMES)
        before_tcp = await snapshot(server, NAMES, tcp=True)
        assert before == before_tcp
        assert sum(1 for s in before.values() if s[0] == "NOERROR" and s[2]) >= 40, "too few positive answers"
        handler = k8s_handler(server)

        assert api.cut_streams() == 4  # namespaces, services, endpointslices, pods
        assert await snapshot(server, NAMES) == before

        await api.stop()
        # Changes the server cannot see while the API is away.
        api.delete("Service", "web", namespace="demo")
        api.delete("Namespace", "live")
        await until(
            lambda: asyncio.sleep(0, result=all(w.errors >= 2 for w in handler.source.watchers)),
            "every watcher failed to reach the API at least twice",
        )
        assert await snapshot(server, NAMES) == before
        assert await snapshot(server, NAMES, tcp=True) == before
        assert await server.http("ready", "/ready") == (200, "OK")


@pytest.mark.parametrize("history", ["kept", "compacted"])
async def test_api_restart_with_changes_converges_to_a_fresh_server(history: str) -> None:
    """kept: the watchers re-watch from their resourceVersion and get the changes as events;
    compacted: the re-watch gets 410 and they list again."""
    async with live_api() as api, kdns_server(corefile(api)) as server:
        before = await snapshot(server, NAMES)
        await api.stop()
        apply_changes(api)
        if history == "compacted":
            api.compact()
        await asyncio.sleep(0.3)
        assert await snapshot(server, NAMES) == before  # still the last known state
        await api.start()

        async with kdns_server(corefile(api)) as fresh:
            want = await snapshot(fresh, NAMES)
            differ = [k for k in NAMES if want[k] != before[k]]
            assert len(differ) >= 25, differ

            async def converged() -> bool:
                return await snapshot(server, NAMES) == want

            try:
                await until(converged, "the restarted watch converges")
            except AssertionError:
                got = await snapshot(server, NAMES)
                wrong = {k: (got[k], want[k]) for k in NAMES if got[k] != want[k]}
                raise AssertionError(f"not converged: {wrong}") from None
            assert await snapshot(server, NAMES, tcp=True) == want

        # The fresh server's answers are the rules' answers for the changed cluster (spot checks).
        svc = f"svc.{ZONE}"
        assert data(want[(f"web-nr.demo.{svc}", "A")]) == ("NXDOMAIN", set())
        assert data(want[(f"new.live.{svc}", "A")]) == ("NOERROR", {"10.96.50.9"})
        assert data(want[(f"_grpc._tcp.web.demo.{svc}", "SRV")]) == ("NOERROR", {f"0 100 9000 web.demo.{svc}"})
        assert data(want[(f"alias.live.{svc}", "A")]) == ("NOERROR", {f"web.demo.{svc}", "10.98.75.229"})
        assert data(want[(f"192-0-2-51.manual.demo.{svc}", "A")]) == ("NOERROR", {"192.0.2.51"})
        assert data(want[(reverse("192.0.2.51"), "PTR")]) == ("NOERROR", {f"192-0-2-51.manual.demo.{svc}"})
        assert data(want[(reverse("10.244.0.11"), "PTR")]) == ("NXDOMAIN", set())  # only web-nr had it ready
        assert data(want[(f"10-244-5-2.hl.live.{svc}", "A")]) == ("NXDOMAIN", set())
        assert data(want[(f"web.demo-b.{svc}", "A")]) == ("NXDOMAIN", set())
        assert data(want[(f"demo-b.{svc}", "A")]) == ("NXDOMAIN", set())
        assert data(want[(f"extra.{svc}", "A")]) == ("NOERROR", set())
        assert data(want[(f"10-244-0-12.demo.pod.{ZONE}", "A")]) == ("NXDOMAIN", set())
        assert data(want[(f"10-244-5-7.live.pod.{ZONE}", "A")]) == ("NOERROR", {"10.244.5.7"})
        assert data(want[(reverse("10.96.164.53"), "PTR")]) == ("NXDOMAIN", set())
        # kept: no relist, the events came through the re-watch; compacted: one relist each.
        # (The fresh server listed once too.)
        lists = (2 if history == "compacted" else 1) + 1
        assert all(list_requests(api, p) == lists for p in WATCHED_PATHS), api.requests


async def test_410_relist_never_shows_a_wrong_answer() -> None:
    async with live_api() as api, kdns_server(corefile(api)) as server:
        old = await snapshot(server, NAMES)
        seen: dict[tuple[str, str], set[Summary]] = {k: set() for k in NAMES}
        stop = asyncio.Event()
        rounds = 0

        async def keep_asking() -> None:
            nonlocal rounds
            while not stop.is_set():
                for key in NAMES:
                    seen[key].add(await ask(server, *key))
                rounds += 1

        asker = asyncio.create_task(keep_asking())
        try:
            await api.stop()
            apply_changes(api)
            # Every watcher's next watch gets the 410 ERROR event (too old resourceVersion) even
            # though the history still holds the changes: they must come through a relist. The
            # stall holds the reconnecting watchers' requests until all four wait, so that each
            # gets one of the four 410s (none re-watching after its relist takes another's).
            api.expire_watches(len(WATCHED_PATHS))
            api.stall(0.8)
            await api.start()
            await until(
                lambda: asyncio.sleep(0, result=all(list_requests(api, p) >= 2 for p in WATCHED_PATHS)),
                "every watcher relisted",
            )
            lists = {p: list_requests(api, p) for p in WATCHED_PATHS}
            async with kdns_server(corefile(api)) as fresh:
                new = await snapshot(fresh, NAMES)

            async def converged() -> bool:
                return await snapshot(server, NAMES) == new

            await until(converged, "the relist converges")
            start_rounds = rounds
            await until(lambda: asyncio.sleep(0, result=rounds >= start_rounds + 2), "two more rounds")
        finally:
            stop.set()
            await asyncio.wait_for(asker, 10)

        assert rounds >= 4
        assert set(lists.values()) == {2}, (lists, api.requests)  # one relist each
        assert sum(1 for k in NAMES if old[k] != new[k]) >= 25
        for key in NAMES:
            wrong = seen[key] - {old[key], new[key]}
            assert not wrong, f"{key}: neither old {old[key]} nor new {new[key]}: {wrong}"
            if old[key][0] == "NOERROR" and new[key][0] == "NOERROR":
                assert all(s[0] == "NOERROR" for s in seen[key]), key
