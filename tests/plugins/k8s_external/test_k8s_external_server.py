"""k8s_external over real sockets: CoreDNS's external_test.go and apex_test.go tables, the
headless rows, the README example, and service changes answered at once.

Services are those of fixtures/cluster.yaml (CoreDNS's test services; svc12's load balancer is
known by the name lb.example.test, which a real dnsmasq upstream resolves). Records as zone text;
a SOA's serial (the time of the index's last change) is compared as 0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from conftest import RunningServer, kdns_server
from plugins.kubernetes.k8s_cases import Case, records
from upstreams import Dnsmasq, dnsmasq

FIXTURES = Path(__file__).parent / "fixtures"
SOA = "example.com. 5 IN SOA ns1.dns.example.com. hostmaster.dns.example.com. 0 7200 1800 86400 5"
CLIENTS = ("127.0.0.1", "127.0.0.21", "127.0.0.22")


def nx(qname: str, qtype: str = "A") -> Case:
    return Case(qname, qtype, "NXDOMAIN", ns=[SOA])


def nodata(qname: str, qtype: str = "A") -> Case:
    return Case(qname, qtype, ns=[SOA])


# plugin/k8s_external/external_test.go (k8s_external example.com, without headless).
EXTERNAL = [
    Case("svc1.testns.example.com.", "A", answer=["svc1.testns.example.com. 5 IN A 1.2.3.4"]),
    Case("svc1.testns.example.com.", "SRV", answer=["svc1.testns.example.com. 5 IN SRV 0 100 80 svc1.testns.example.com."],
         extra=["svc1.testns.example.com. 5 IN A 1.2.3.4"]),
    nx("*._not-udp-or-tcp.svc1.testns.example.com.", "SRV"),
    Case("_http._tcp.svc1.testns.example.com.", "SRV",
         answer=["_http._tcp.svc1.testns.example.com. 5 IN SRV 0 100 80 svc1.testns.example.com."],
         extra=["svc1.testns.example.com. 5 IN A 1.2.3.4"]),
    nodata("svc1.testns.example.com.", "AAAA"),
    nx("svc0.testns.example.com.", "AAAA"),
    nx("svc0.testns.example.com.", "A"),
    nx("svc0.svc-nons.example.com.", "A"),
    Case("svc6.testns.example.com.", "AAAA", answer=["svc6.testns.example.com. 5 IN AAAA 1:2::5"]),
    Case("_http._tcp.svc6.testns.example.com.", "SRV",
         answer=["_http._tcp.svc6.testns.example.com. 5 IN SRV 0 100 80 svc6.testns.example.com."],
         extra=["svc6.testns.example.com. 5 IN AAAA 1:2::5"]),
    Case("svc6.testns.example.com.", "SRV", answer=["svc6.testns.example.com. 5 IN SRV 0 100 80 svc6.testns.example.com."],
         extra=["svc6.testns.example.com. 5 IN AAAA 1:2::5"]),
    nodata("testns.example.com.", "A"),
    nodata("testns.example.com.", "SOA"),
    Case("svc11.testns.example.com.", "A", answer=["svc11.testns.example.com. 5 IN A 1.2.3.4"]),
    Case("_http._tcp.svc12.testns.example.com.", "SRV",
         answer=["_http._tcp.svc12.testns.example.com. 5 IN SRV 0 100 80 svc12.testns.example.com."]),
    # The load balancer's name, then its addresses as the block's chain (forward) finds them.
    Case("svc12.testns.example.com.", "A",
         answer=["svc12.testns.example.com. 5 IN CNAME lb.example.test.", "lb.example.test. 60 IN A 192.0.2.80"]),
    # kdns's own rows: a service without external addresses, another type, wildcards, too long.
    nx("internal.testns.example.com.", "A"),
    nodata("svc1.testns.example.com.", "TXT"),
    Case("_http._any.svc1.testns.example.com.", "SRV",
         answer=["_http._any.svc1.testns.example.com. 5 IN SRV 0 100 80 svc1.testns.example.com."],
         extra=["svc1.testns.example.com. 5 IN A 1.2.3.4"]),
    nx("_https._tcp.svc1.testns.example.com.", "SRV"),
    nx("a.b.c.svc1.testns.example.com.", "A"),
    nx("x.svc1.testns.example.com.", "A"),
    # The README's Service: headless, one external IP, no ports (no SRV then).
    Case("test.default.example.com.", "A", answer=["test.default.example.com. 5 IN A 192.168.200.123"]),
    nodata("test.default.example.com.", "SRV"),
]

# plugin/k8s_external/apex_test.go (with headless).
APEX = [
    Case("example.com.", "SOA", answer=[SOA]),
    Case("example.com.", "NS", answer=["example.com. 5 IN NS ns1.dns.example.com."],
         extra=["ns1.dns.example.com. 5 IN A 127.0.0.1"]),
    nodata("example.com.", "SRV"),
    nodata("dns.example.com.", "SRV"),
    nodata("dns.example.com.", "NS"),
    nodata("ns1.dns.example.com.", "SRV"),
    nodata("ns1.dns.example.com.", "NS"),
    nodata("ns1.dns.example.com.", "AAAA"),
    Case("ns1.dns.example.com.", "A", answer=["ns1.dns.example.com. 5 IN A 127.0.0.1"]),
    nx("ns2.dns.example.com.", "A"),
    nx("a.ns1.dns.example.com.", "A"),
]

# `headless`: a headless service's ready endpoints, by service, endpoint label and port.
H = "hdls.testns.example.com."
HEADLESS = [
    Case(H, "A", answer=[f"{H} 5 IN A 10.244.0.5", f"{H} 5 IN A 10.244.0.6"]),
    Case(f"hdls-0.{H}", "A", answer=[f"hdls-0.{H} 5 IN A 10.244.0.5"]),
    Case(f"10-244-0-6.{H}", "A", answer=[f"10-244-0-6.{H} 5 IN A 10.244.0.6"]),
    nx(f"10-244-0-7.{H}", "A"),  # not ready
    nx(f"nope.{H}", "A"),
    Case(H, "SRV", answer=[f"{H} 5 IN SRV 0 50 8080 hdls-0.{H}", f"{H} 5 IN SRV 0 50 8080 10-244-0-6.{H}"],
         extra=[f"hdls-0.{H} 5 IN A 10.244.0.5", f"10-244-0-6.{H} 5 IN A 10.244.0.6"]),
    Case(f"_http._tcp.{H}", "SRV",
         answer=[f"_http._tcp.{H} 5 IN SRV 0 50 8080 hdls-0.{H}", f"_http._tcp.{H} 5 IN SRV 0 50 8080 10-244-0-6.{H}"],
         extra=[f"hdls-0.{H} 5 IN A 10.244.0.5", f"10-244-0-6.{H} 5 IN A 10.244.0.6"]),
    nodata(H, "AAAA"),
    # A headless service's own external IP is not served with `headless`: its endpoints are.
    nx("test.default.example.com.", "A"),
    # An endpoint label below a service that is not headless names nothing.
    nx("x.svc1.testns.example.com.", "A"),
    Case("svc1.testns.example.com.", "A", answer=["svc1.testns.example.com. 5 IN A 1.2.3.4"]),
]


@pytest.fixture
async def upstream() -> AsyncIterator[Dnsmasq]:
    async with dnsmasq({"lb.example.test": "192.0.2.80"}) as up:
        yield up


def corefile(upstream: Dnsmasq, options: str = "") -> str:
    return f"""
    . {{
        kubernetes cluster.local {{
            manifests {FIXTURES / "cluster.yaml"}
        }}
        k8s_external example.com {{
            {options}
        }}
        forward . {upstream.address}
    }}
    """


def norm(rrsets: Sequence[dns.rrset.RRset]) -> list[tuple[str, int, int, str]]:
    """A section's records, sorted, as k8s_cases.records() makes them of zone text."""
    return records([rrset.to_text() for rrset in rrsets])


async def ask(server: RunningServer, qname: str, qtype: str, source: str = "127.0.0.1", **kw: Any) -> dns.message.Message:
    q = dns.message.make_query(qname, qtype)
    return await dns.asyncquery.udp(q, server.host, port=server.port, source=source, timeout=3, **kw)


async def check_cases(server: RunningServer, cases: Sequence[Case]) -> None:
    for case in cases:
        for client in CLIENTS:  # twice and more: the first answer, then the fast path's
            r = await ask(server, case.qname, case.qtype, client)
            where = f"{case.qname} {case.qtype} from {client}"
            assert dns.rcode.to_text(r.rcode()) == case.rcode, where
            assert r.flags & dns.flags.AA, where
            assert norm(r.answer) == records(case.answer), where
            assert norm(r.authority) == records(case.ns), where
            assert norm(r.additional) == records(case.extra), where


async def test_external(upstream: Dnsmasq) -> None:
    async with kdns_server(corefile(upstream)) as server:
        await check_cases(server, EXTERNAL + APEX)


async def test_apex_and_headless(upstream: Dnsmasq) -> None:
    async with kdns_server(corefile(upstream, "headless")) as server:
        await check_cases(server, APEX + HEADLESS)


async def test_apex_label_and_ttl(upstream: Dnsmasq) -> None:
    async with kdns_server(corefile(upstream, "apex testdns\n ttl 30")) as server:
        await check_cases(server, [
            Case("example.com.", "SOA", answer=[
                "example.com. 30 IN SOA ns1.testdns.example.com. hostmaster.testdns.example.com. 0 7200 1800 86400 30",
            ]),
            Case("ns1.testdns.example.com.", "A", answer=["ns1.testdns.example.com. 30 IN A 127.0.0.1"]),
            Case("svc1.testns.example.com.", "A", answer=["svc1.testns.example.com. 30 IN A 1.2.3.4"]),
        ])


async def test_fallthrough(upstream: Dnsmasq) -> None:
    async with kdns_server(corefile(upstream, "fallthrough")) as server:
        # NXDOMAIN goes on to forward: dnsmasq refuses names outside its domain.
        r = await ask(server, "svc0.testns.example.com.", "A")
        assert dns.rcode.to_text(r.rcode()) == "REFUSED"
        assert not r.flags & dns.flags.AA
        r = await ask(server, "svc1.testns.example.com.", "A")
        assert norm(r.answer) == records(["svc1.testns.example.com. 5 IN A 1.2.3.4"])


async def test_readme_example(tmp_path: Path) -> None:
    """The README: `k8s_external example.org` next to kubernetes, and the Service `test`."""
    corefile = f"""
    . {{
       kubernetes cluster.local {{
           manifests {FIXTURES / "cluster.yaml"}
       }}
       k8s_external example.org
    }}
    """
    async with kdns_server(corefile) as server:
        for client in CLIENTS:
            out = await server.dig("-b", client, "test.default.example.org", "+short")
            assert out.split() == ["192.168.200.123"]
        # The cluster zone is still the kubernetes plugin's.
        out = await server.dig("svc1.testns.svc.cluster.local", "+short")
        assert out.split() == ["10.0.0.1"]


SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "svc1", "namespace": "testns"},
    "spec": {"clusterIP": "10.0.0.1", "externalIPs": ["1.2.3.4"],
             "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
}


def stored_names(server: RunningServer) -> set[bytes]:
    ((_, sockets),) = server.app.sockets.items()
    return {key[: key.index(b"\x00")] for key in sockets.listener.table.entries}


async def test_service_changes_are_answered_at_once(upstream: Dnsmasq) -> None:
    async with kdns_server(corefile(upstream)) as server:
        (kubernetes,) = [h for h in server.app.generation.blocks[0].handlers if type(h).__module__.endswith("kubernetes.handler")]
        for name in ("svc1.testns.example.com.", "svc6.testns.example.com.", "svc7.testns.example.com."):
            await ask(server, name, "A")
            await ask(server, name, "A")
        svc1 = b"\x04svc1\x06testns\x07example\x03com"
        svc6 = b"\x04svc6\x06testns\x07example\x03com"
        svc7 = b"\x04svc7\x06testns\x07example\x03com"
        assert {svc1, svc6, svc7} <= stored_names(server)

        # A new external IP: the stored answer for svc1 goes, svc6's stays, the next query has it.
        changed = {**SERVICE, "spec": {**SERVICE["spec"], "externalIPs": ["1.2.3.4", "5.6.7.8"]}}
        kubernetes.index.apply("Service", "MODIFIED", changed)
        assert svc1 not in stored_names(server) and svc6 in stored_names(server)
        r = await ask(server, "svc1.testns.example.com.", "A")
        assert norm(r.answer) == records(["svc1.testns.example.com. 5 IN A 1.2.3.4", "svc1.testns.example.com. 5 IN A 5.6.7.8"])

        # A load balancer address appears for a service that had none: its NXDOMAIN goes.
        lb = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc7", "namespace": "testns"},
              "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.7"},
              "status": {"loadBalancer": {"ingress": [{"ip": "9.9.9.7"}]}}}
        kubernetes.index.apply("Service", "ADDED", lb)
        assert svc7 not in stored_names(server) and svc6 in stored_names(server)
        r = await ask(server, "svc7.testns.example.com.", "A")
        assert norm(r.answer) == records(["svc7.testns.example.com. 5 IN A 9.9.9.7"])

        # The service goes: NXDOMAIN at once.
        kubernetes.index.apply("Service", "DELETED", changed)
        r = await ask(server, "svc1.testns.example.com.", "A")
        assert dns.rcode.to_text(r.rcode()) == "NXDOMAIN"
