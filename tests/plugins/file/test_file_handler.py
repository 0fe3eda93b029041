"""file: answers from zones/db.example.org, table-driven in the style of CoreDNS's lookup_test.go.

Expected records are written from the zone file and the RFC rules (RFC 1034 4.3.2, RFC 2308,
RFC 4592, RFC 6604), and the answers are decoded with dnspython, not dnslib.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.rcode
import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from kdns.corefile.parser import parse as parse_corefile
from kdns.errors import ConfigError
from kdns.plugins.file.config import parse
from kdns.plugins.file.handler import Handler
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import parse_query

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "zones" / "db.example.org"

NS = ["example.org. 3600 IN NS ns1.example.org.", "example.org. 3600 IN NS ns2.example.org."]
# RFC 2308 section 5: min(SOA TTL 3600, MINIMUM 300).
SOA = "example.org. 300 IN SOA ns1.example.org. hostmaster.example.org. 2026112201 7200 1800 1209600 300"
SUB_NS = ["sub.example.org. 3600 IN NS ns1.sub.example.org.", "sub.example.org. 3600 IN NS ns2.sub.example.org."]
SUB_GLUE = ["ns1.sub.example.org. 3600 IN A 192.0.2.201", "ns2.sub.example.org. 3600 IN AAAA 2001:db8:1::53"]


@dataclass
class Case:
    qname: str
    qtype: str
    rcode: int = RCODE.NOERROR
    answer: list[str] = field(default_factory=list)
    ns: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    aa: bool = True


CASES = [
    Case("www.example.org.", "A", answer=["www.example.org. 3600 IN A 192.0.2.10"], ns=NS),
    Case("www.example.org.", "AAAA", answer=["www.example.org. 3600 IN AAAA 2001:db8::10"], ns=NS),
    Case("example.org.", "A", answer=["example.org. 3600 IN A 192.0.2.1"], ns=NS),
    Case("example.org.", "SOA", answer=[SOA.replace(" 300 IN", " 3600 IN")], ns=NS),
    Case(
        "example.org.", "NS", answer=NS,
        extra=["ns1.example.org. 3600 IN A 192.0.2.53", "ns1.example.org. 3600 IN AAAA 2001:db8::53",
               "ns2.example.org. 3600 IN A 192.0.2.54"],
    ),
    Case("example.org.", "MX", answer=["example.org. 3600 IN MX 10 mail.example.org."], ns=NS,
         extra=["mail.example.org. 3600 IN A 192.0.2.25"]),
    Case("example.org.", "TXT", answer=['example.org. 3600 IN TXT "v=spf1 mx -all"'], ns=NS),
    # A CNAME chain inside the zone, ending in the target's records (RFC 1034 4.3.2 step 3a).
    Case("alias.example.org.", "A", ns=NS, answer=[
        "alias.example.org. 3600 IN CNAME web.example.org.", "web.example.org. 3600 IN CNAME www.example.org.",
        "www.example.org. 3600 IN A 192.0.2.10"]),
    Case("alias.example.org.", "AAAA", ns=NS, answer=[
        "alias.example.org. 3600 IN CNAME web.example.org.", "web.example.org. 3600 IN CNAME www.example.org.",
        "www.example.org. 3600 IN AAAA 2001:db8::10"]),
    Case("alias.example.org.", "CNAME", answer=["alias.example.org. 3600 IN CNAME web.example.org."], ns=NS),
    # The chain ends at a name without the type: NODATA after the CNAMEs.
    Case("web.example.org.", "MX", answer=["web.example.org. 3600 IN CNAME www.example.org."], ns=[SOA]),
    Case("_sip._udp.example.org.", "SRV", answer=["_sip._udp.example.org. 300 IN SRV 10 60 5060 sip.example.org."],
         ns=NS, extra=["sip.example.org. 3600 IN A 192.0.2.50"]),
    # Empty non-terminals exist (RFC 4592 2.2.2): NODATA.
    Case("_udp.example.org.", "SRV", ns=[SOA]),
    Case("wild.example.org.", "A", ns=[SOA]),
    Case("nope.example.org.", "A", rcode=RCODE.NXDOMAIN, ns=[SOA]),
    Case("a.nope.example.org.", "AAAA", rcode=RCODE.NXDOMAIN, ns=[SOA]),
    Case("www.example.org.", "TXT", ns=[SOA]),
    # Wildcards answer with the question's name (RFC 4592 3.3.1), one or more labels deep.
    Case("host.wild.example.org.", "A", answer=["host.wild.example.org. 3600 IN A 192.0.2.100"], ns=NS),
    Case("a.b.wild.example.org.", "TXT", answer=['a.b.wild.example.org. 3600 IN TXT "wildcard"'], ns=NS),
    Case("a.b.wild.example.org.", "AAAA", ns=[SOA]),
    Case("*.wild.example.org.", "A", answer=["*.wild.example.org. 3600 IN A 192.0.2.100"], ns=NS),
    # At and below a zone cut: a referral, not authoritative, with glue.
    Case("sub.example.org.", "A", aa=False, ns=SUB_NS, extra=SUB_GLUE),
    Case("sub.example.org.", "NS", aa=False, ns=SUB_NS, extra=SUB_GLUE),
    Case("deep.www.sub.example.org.", "MX", aa=False, ns=SUB_NS, extra=SUB_GLUE),
    Case("ns1.sub.example.org.", "A", aa=False, ns=SUB_NS, extra=SUB_GLUE),
    # The DS of a cut is the parent's data (RFC 4035 3.1.4.1): here NODATA.
    Case("sub.example.org.", "DS", ns=[SOA]),
    Case("www.example.org.", "ANY", ns=NS, answer=[
        "www.example.org. 3600 IN A 192.0.2.10", "www.example.org. 3600 IN AAAA 2001:db8::10"]),
    # A CNAME out of the zone without a server to ask: the CNAME alone.
    Case("docs.example.org.", "A", answer=["docs.example.org. 3600 IN CNAME docs.example.net."], ns=NS),
]


def directive_for(text: str) -> Handler:
    blocks = parse_corefile(". {\n" + text + "\n}\n", "Corefile", known=lambda name: True)
    return Handler(next_plugin, parse(blocks[0].directives[0]))


def request(name: str, qtype: str) -> Request:
    return parse_query(bytes(DNSRecord.question(name, qtype).pack()))


async def next_plugin(req: Request) -> Response:
    return req.answer(RCODE.REFUSED, plugin="next")


def texts(section: list[dns.rrset.RRset]) -> list[str]:
    return [line for rrset in section for line in rrset.to_text().splitlines()]


@pytest.fixture(scope="module")
def example() -> Handler:
    return directive_for(f"file {EXAMPLE} example.org")


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.qname}{c.qtype}")
async def test_lookup(example: Handler, case: Case) -> None:
    resp = await example(request(case.qname, case.qtype))
    assert resp.plugin == "file"
    msg = dns.message.from_wire(bytes(resp.msg.pack()))
    assert msg.rcode() == case.rcode
    assert bool(msg.flags & dns.flags.AA) == case.aa
    assert texts(msg.answer) == case.answer
    assert texts(msg.authority) == case.ns
    assert texts(msg.additional) == case.extra


async def test_owner_echoes_the_question_case(example: Handler) -> None:
    resp = await example(request("WwW.ExAmPlE.oRg.", "A"))
    assert [str(rr.rname) for rr in resp.msg.rr] == ["WwW.ExAmPlE.oRg."]
    # The answer's owner is a pointer to the question name (offset 12), right after the question.
    wire = bytes(resp.msg.pack())
    assert wire[12 + 21 : 12 + 23] == b"\xc0\x0c"


async def test_forty_addresses(example: Handler) -> None:
    resp = await example(request("big.example.org.", "A"))
    assert sorted(str(rr.rdata) for rr in resp.msg.rr) == sorted(f"198.51.100.{i}" for i in range(1, 41))
    assert len(resp.msg.pack()) > 512


async def test_other_zones_go_to_the_next_plugin(example: Handler) -> None:
    assert (await example(request("example.net.", "A"))).plugin == "next"
    assert (await example(request("org.", "SOA"))).plugin == "next"


async def test_cname_out_of_the_zone_is_resolved_through_the_chain(example: Handler) -> None:
    asked = []

    async def resolve(name: str, qtype: int) -> Response:
        asked.append((name, qtype))
        sub = request(name, QTYPE[qtype])
        resp = sub.answer()
        resp.msg.add_answer(*DNSRecord.question(name).replyZone(f"{name} 60 IN A 203.0.113.7").rr)
        return resp

    req = request("docs.example.org.", "A")
    req.resolve = resolve
    msg = dns.message.from_wire(bytes((await example(req)).msg.pack()))
    assert asked == [("docs.example.net.", QTYPE.A)]
    assert texts(msg.answer) == [
        "docs.example.org. 3600 IN CNAME docs.example.net.", "docs.example.net. 60 IN A 203.0.113.7",
    ]


async def test_cname_edge_cases(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.write_text(
        "@ 60 SOA ns h 1 2 3 4 30\n@ 60 NS ns\nns 60 A 192.0.2.1\n"
        "dangling 60 CNAME missing\nloop1 60 CNAME loop2\nloop2 60 CNAME loop1\n"
        "towild 60 CNAME x.wild\n*.wild 60 A 192.0.2.2\n"
    )
    h = directive_for(f"file {db} example.org")
    # RFC 6604 section 3: the RCODE is that of the last name in the chain.
    msg = dns.message.from_wire(bytes((await h(request("dangling.example.org.", "A"))).msg.pack()))
    assert msg.rcode() == dns.rcode.NXDOMAIN
    assert texts(msg.answer) == ["dangling.example.org. 60 IN CNAME missing.example.org."]
    assert texts(msg.authority) == ["example.org. 30 IN SOA ns.example.org. h.example.org. 1 2 3 4 30"]
    msg = dns.message.from_wire(bytes((await h(request("loop1.example.org.", "A"))).msg.pack()))
    assert texts(msg.answer) == [
        "loop1.example.org. 60 IN CNAME loop2.example.org.", "loop2.example.org. 60 IN CNAME loop1.example.org.",
    ]
    msg = dns.message.from_wire(bytes((await h(request("towild.example.org.", "A"))).msg.pack()))
    assert texts(msg.answer) == [
        "towild.example.org. 60 IN CNAME x.wild.example.org.", "x.wild.example.org. 60 IN A 192.0.2.2",
    ]


async def test_zones_from_the_server_block(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.write_text("@ SOA ns h 1 2 3 4 5\nwww A 192.0.2.1\n")
    h = directive_for(f"file {db}")
    assert (await h(request("www.example.com.", "A"))).plugin == "next"  # not attached yet

    class Block:
        zones = ["example.com."]

    h.attach(Block())  # type: ignore[arg-type]
    resp = await h(request("www.example.com.", "A"))
    assert [str(rr.rdata) for rr in resp.msg.rr] == ["192.0.2.1"]

    db.write_text("@ SOA ns h 1 2 3 4 5\nwww.other. A 192.0.2.1\n")
    with pytest.raises(ConfigError) as info:
        h.attach(Block())  # type: ignore[arg-type]
    assert (info.value.file, info.value.line) == (str(db), 2)


async def test_reload_follows_the_serial(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kdns.plugins.file.handler")
    db = tmp_path / "db"
    db.write_text("@ SOA ns h 1 2 3 4 5\nwww A 192.0.2.1\n")
    h = directive_for(f"file {db} example.org {{\n reload 20ms\n}}")
    await h.start()
    try:

        async def www() -> list[str]:
            return [str(rr.rdata) for rr in (await h(request("www.example.org.", "A"))).msg.rr]

        async def settle(want: list[str]) -> list[str]:
            for _ in range(100):
                if await www() == want:
                    break
                await asyncio.sleep(0.02)
            return await www()

        # Same serial: CoreDNS does not reload.
        db.write_text("@ SOA ns h 1 2 3 4 5\nwww A 192.0.2.99\n")
        await asyncio.sleep(0.2)
        assert await www() == ["192.0.2.1"]
        db.write_text("@ SOA ns h 2 2 3 4 5\nwww A 192.0.2.2\n")
        assert await settle(["192.0.2.2"]) == ["192.0.2.2"]
        # A broken file is logged and the loaded zone keeps serving.
        db.write_text("@ SOA ns h 3 2 3 4 5\nwww A 192.0.2.\n")
        await asyncio.sleep(0.2)
        assert await www() == ["192.0.2.2"]
        assert any("failed to reload" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
        assert any("successfully reloaded zone example.org." in r.getMessage() for r in caplog.records)
    finally:
        await h.stop()
