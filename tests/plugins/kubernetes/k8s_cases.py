"""Helpers for the kubernetes plugin's table tests: CoreDNS-style cases with zone-text records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnslib import QTYPE, RCODE, RR, DNSRecord

from kdns.plugins.kubernetes.config import Config
from kdns.plugins.kubernetes.handler import Handler
from kdns.plugins.kubernetes.manifests import ManifestSource
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import parse_query

FIXTURES = Path(__file__).parent / "fixtures"
ZONES = ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")


def soa(zone: str = "cluster.local.", ttl: int = 5, minimum: int | None = None) -> str:
    m = ttl if minimum is None else minimum
    return f"{zone} {ttl} IN SOA ns.dns.{zone} hostmaster.{zone} 0 7200 1800 86400 {m}"


SOA = soa()
RSOA = soa("in-addr.arpa.")
R6SOA = soa("ip6.arpa.")


@dataclass
class Case:
    qname: str
    qtype: str
    rcode: str = "NOERROR"
    answer: Sequence[str] = ()
    ns: Sequence[str] = ()
    extra: Sequence[str] = ()
    # The response came from the next plugin (fallthrough, out of zone), not from kubernetes.
    passed: bool = False

    def __str__(self) -> str:
        return f"{self.qname} {self.qtype}"


NXDOMAIN = {"rcode": "NXDOMAIN", "ns": [SOA]}
NODATA = {"ns": [SOA]}


def nx(qname: str, qtype: str = "A", ns: str = SOA) -> Case:
    return Case(qname, qtype, "NXDOMAIN", ns=[ns])


def nodata(qname: str, qtype: str = "A", ns: str = SOA) -> Case:
    return Case(qname, qtype, "NOERROR", ns=[ns])


async def next_plugin(req: Request) -> Response:
    return req.answer(RCODE.REFUSED, plugin="next")


@dataclass
class FakeInfo:
    """A BlockInfo whose resolve() answers like an upstream resolver would for example.com."""

    zones: list[str] = field(default_factory=lambda: ["cluster.local."])
    addresses: list[tuple[str, int]] = field(default_factory=list)
    app: Any = None
    asked: list[tuple[str, int]] = field(default_factory=list)

    async def resolve(self, qname: str, qtype: int) -> Response:
        self.asked.append((qname, qtype))
        q = DNSRecord.question(qname, QTYPE.get(qtype))
        reply = q.reply()
        if qname.lower() == "example.com." and qtype == QTYPE.A:
            reply.add_answer(*RR.fromZone("example.com. 300 IN A 93.184.216.34"))
        return Response(reply, plugin="forward")


def handler(config: Config | None = None, paths: Sequence[Path] = (FIXTURES,), load: bool = True,
            info: FakeInfo | None = None) -> Handler:
    h = Handler(next_plugin, config or Config(zones=ZONES))
    h.attach(info or FakeInfo())  # type: ignore[arg-type]
    if load:
        assert ManifestSource([str(p) for p in paths], h.index).reload()
    return h


def config(**kw: Any) -> Config:
    kw.setdefault("zones", ZONES)
    return Config(**kw)


async def ask(h: Handler, qname: str, qtype: str) -> Response:
    return await h(parse_query(DNSRecord.question(qname, qtype).pack()))


def _norm(rr: RR) -> tuple[str, int, int, str]:
    text = str(rr.rdata).lower()
    if rr.rtype == QTYPE.SOA:
        parts = text.split()
        parts[2] = "0"  # the serial is the time of the last change: checked on its own
        text = " ".join(parts)
    return (str(rr.rname).lower(), rr.rtype, rr.ttl, text)


def records(texts: Sequence[str]) -> list[tuple[str, int, int, str]]:
    out = []
    for text in texts:
        out.extend(_norm(rr) for rr in RR.fromZone(text))
    return sorted(out)


def check(case: Case, resp: Response) -> None:
    msg = resp.msg
    if case.passed:
        assert resp.plugin == "next", f"{case}: expected the next plugin to answer, got {msg}"
        return
    assert resp.plugin == "kubernetes", f"{case}: answered by {resp.plugin}"
    assert RCODE.get(msg.header.rcode) == case.rcode, f"{case}: rcode {RCODE.get(msg.header.rcode)}\n{msg}"
    if case.rcode != "SERVFAIL":
        assert msg.header.aa == 1, f"{case}: AA not set"
    assert sorted(_norm(r) for r in msg.rr) == records(case.answer), f"{case}: answer\n{msg}"
    assert sorted(_norm(r) for r in msg.auth) == records(case.ns), f"{case}: authority\n{msg}"
    assert sorted(_norm(r) for r in msg.ar) == records(case.extra), f"{case}: additional\n{msg}"
