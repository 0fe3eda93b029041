"""ExternalName edge cases (issue 15): a target inside our zones that does not exist or lacks the
asked type (RFC 6604 section 3: the rcode and SOA of the chain's last name), and an externalName
that is an IP address (not resolved, as Kubernetes documents: NXDOMAIN, as CoreDNS answers)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from plugins.kubernetes.k8s_cases import FIXTURES, SOA, Case, ask, check, config, handler, nx
from plugins.kubernetes.test_k8s_server import expected, rrs

import dns.flags
import dns.rcode
import dns.rdatatype
from conftest import kdns_server

EDGES = Path(__file__).parent / "fixtures_external"
Z = "cluster.local."
W = f"web.demo.svc.{Z}"
INNER = f"inner.demo.svc.{Z}"
DANGLING = f"ext-dangling.demo.svc.{Z}"
MISSING = f"missing.demo.svc.{Z}"
NONS = f"ext-nons.demo.svc.{Z}"
CHAIN = f"ext-chain.demo.svc.{Z}"
IP = f"ext-ip.demo.svc.{Z}"

CASES = [
    # the target is a name of our zone that does not exist: NXDOMAIN, the CNAME, the zone's SOA
    Case(DANGLING, "A", "NXDOMAIN", answer=[f"{DANGLING} 5 IN CNAME {MISSING}"], ns=[SOA]),
    Case(DANGLING, "AAAA", "NXDOMAIN", answer=[f"{DANGLING} 5 IN CNAME {MISSING}"], ns=[SOA]),
    # asking for the CNAME itself: it exists
    Case(DANGLING, "CNAME", answer=[f"{DANGLING} 5 IN CNAME {MISSING}"]),
    # the target's namespace does not exist
    Case(NONS, "A", "NXDOMAIN", answer=[f"{NONS} 5 IN CNAME web.nons.svc.{Z}"], ns=[SOA]),
    # a chain of two: answers for every link, then the rcode of the last name
    Case(CHAIN, "A", answer=[f"{CHAIN} 5 IN CNAME {INNER}", f"{INNER} 5 IN CNAME {W}", f"{W} 5 IN A 10.96.0.10"]),
    Case(CHAIN, "AAAA", answer=[f"{CHAIN} 5 IN CNAME {INNER}", f"{INNER} 5 IN CNAME {W}"], ns=[SOA]),
    # the target exists without the type: NODATA with the CNAME and the SOA
    Case(INNER, "AAAA", answer=[f"{INNER} 5 IN CNAME {W}"], ns=[SOA]),
    # an IP address as externalName: not resolved, whatever the type
    nx(IP, "A"),
    nx(IP, "AAAA"),
    nx(IP, "CNAME"),
    nx(IP, "TXT"),
    nx(f"x.{IP}"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_external_edges(case: Case) -> None:
    h = handler(config(), paths=(FIXTURES, EDGES))
    resp = await ask(h, case.qname, case.qtype)
    check(case, resp)
    assert resp.tags is not None  # computed from the index alone: kept on the fast path


async def test_dangling_target_appearing_changes_the_answer() -> None:
    h = handler(config(), paths=(FIXTURES, EDGES))
    first = await ask(h, DANGLING, "A")
    changed = h.index.apply("Service", "ADDED", {
        "metadata": {"name": "missing", "namespace": "demo"}, "spec": {"clusterIP": "10.96.0.77"},
    })
    # the fast-path answer of the dangling name depends on the target's tag, so it is dropped
    assert set(first.tags or ()) & changed
    check(Case(DANGLING, "A", answer=[f"{DANGLING} 5 IN CNAME {MISSING}", f"{MISSING} 5 IN A 10.96.0.77"]),
          await ask(h, DANGLING, "A"))


async def test_ip_target_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    h = handler(config(), paths=(FIXTURES, EDGES))
    with caplog.at_level(logging.INFO, logger="kdns.plugins.kubernetes"):
        for qtype in ("A", "A", "AAAA"):
            await ask(h, IP, qtype)
    lines = [r for r in caplog.records if "ext-ip" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "demo/ext-ip" in lines[0].getMessage() and "192.0.2.99" in lines[0].getMessage()


COREFILE = f"""
.:0 {{
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        manifests {FIXTURES} {EDGES}
    }}
}}
"""


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_external_edges_over_sockets(tcp: bool) -> None:
    async with kdns_server(COREFILE) as server:
        for case in CASES:
            for _ in range(2):  # the slow path, then the fast path's stored answer
                msg = await server.query(case.qname, case.qtype, tcp=tcp)
                assert dns.rcode.to_text(msg.rcode()) == case.rcode, case
                assert msg.flags & dns.flags.AA, case
                assert rrs(msg.answer) == expected(case.answer), case
                soas = [r for r in msg.authority if r.rdtype == dns.rdatatype.SOA]
                assert [str(r.name) for r in soas] == [Z] * len(case.ns), case
