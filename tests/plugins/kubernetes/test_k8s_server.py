"""A sample of the table through a real server: UDP and TCP, dnspython and dig."""

from __future__ import annotations

import pytest
from plugins.kubernetes.k8s_cases import FIXTURES
from plugins.kubernetes.test_k8s_table import BASE, INSECURE

import dns.flags
import dns.rcode
import dns.rdatatype

pytest.importorskip("kdns.server.app")

from conftest import kdns_server  # noqa: E402

COREFILE = f"""
.:0 {{
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        manifests {FIXTURES}
        pods insecure
    }}
}}
"""

SAMPLE = [c for c in BASE + INSECURE if not c.passed and c.qtype in ("A", "AAAA", "SRV", "PTR", "TXT")][::4]


def rrs(section) -> list[tuple[str, str, int, str]]:  # type: ignore[no-untyped-def]
    out = []
    for rrset in section:
        for rd in rrset:
            if rrset.rdtype == dns.rdatatype.SOA:
                continue
            out.append((str(rrset.name).lower(), dns.rdatatype.to_text(rrset.rdtype), rrset.ttl, rd.to_text().lower()))
    return sorted(out)


def expected(texts) -> list[tuple[str, str, int, str]]:  # type: ignore[no-untyped-def]
    from dnslib import QTYPE, RR

    out = []
    for t in texts:
        for rr in RR.fromZone(t):
            if rr.rtype == QTYPE.SOA:
                continue
            out.append((str(rr.rname).lower(), QTYPE.get(rr.rtype), rr.ttl, str(rr.rdata).lower()))
    return sorted(out)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_sample_over_sockets(tcp: bool) -> None:
    assert len(SAMPLE) >= 20
    async with kdns_server(COREFILE) as server:
        for case in SAMPLE:
            if case.answer and "93.184.216.34" in " ".join(case.answer):
                continue  # needs an upstream
            msg = await server.query(case.qname, case.qtype, tcp=tcp)
            assert dns.rcode.to_text(msg.rcode()) == case.rcode, case
            assert msg.flags & dns.flags.AA, case
            assert rrs(msg.answer) == expected(case.answer), case
            assert rrs(msg.additional) == expected(case.extra), case
            assert len(msg.authority) == len(case.ns), case


async def test_dig() -> None:
    async with kdns_server(COREFILE) as server:
        out = await server.dig("+short", "SRV", "_http._tcp.web-headless.demo.svc.cluster.local")
        assert sorted(line for line in out.splitlines() if line) == [
            "0 50 8080 10-244-0-13.web-headless.demo.svc.cluster.local.",
            "0 50 8080 web-0.web-headless.demo.svc.cluster.local.",
        ]
        out = await server.dig("+tcp", "+short", "-x", "10.96.0.10")
        assert out.strip() == "web.demo.svc.cluster.local."
        out = await server.dig("nothing.demo.svc.cluster.local")
        assert "status: NXDOMAIN" in out and "flags: qr aa" in out
