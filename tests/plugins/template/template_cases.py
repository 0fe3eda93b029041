"""Helpers for the template plugin's table tests: a block's templates as a chain, CoreDNS-style cases
with records written as zone text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dnslib import CLASS, EDNS0, QTYPE, RCODE, RR, DNSQuestion, DNSRecord

from kdns.config import config_from_text
from kdns.plugins.template.handler import Handler
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import parse_query


async def next_plugin(req: Request) -> Response:
    """The rest of the chain: answers REFUSED so a test sees the templates passed the query on."""
    return req.answer(RCODE.REFUSED, plugin="next")


@dataclass
class Chain:
    """A server block's templates linked in Corefile order, ending in next_plugin."""

    head: Any
    handlers: list[Handler]
    zones: list[str]
    addresses: list[tuple[str, int]] = field(default_factory=list)
    app: Any = None

    async def resolve(self, qname: str, qtype: int) -> Response:
        return await self.head(query(qname, QTYPE.get(qtype)))

    async def ask(self, qname: str, qtype: str = "A", qclass: str = "IN", **kw: Any) -> Response:
        return await self.head(query(qname, qtype, qclass, **kw))


def chain(corefile: str) -> Chain:
    """The templates of the first server block of corefile (other plugins left out)."""
    block = config_from_text(corefile, default_port=0).blocks[0]
    head: Any = next_plugin
    handlers: list[Handler] = []
    for use in reversed(block.plugins):
        if use.name == "template":
            head = Handler(head, use.config)
            handlers.insert(0, head)
    built = Chain(head, handlers, block.zones)
    for h in handlers:
        h.attach(built)  # type: ignore[arg-type]
    return built


def query(qname: str, qtype: str = "A", qclass: str = "IN", client: str = "192.0.2.7", edns: bool = False) -> Request:
    q = DNSRecord(q=DNSQuestion(qname, getattr(QTYPE, qtype), getattr(CLASS, qclass)))
    if edns:
        q.add_ar(EDNS0(udp_len=1232))
    req = parse_query(bytes(q.pack()))
    req.client = (client, 40000)
    req.server = "dns://:53"
    return req


@dataclass
class Case:
    qname: str
    qtype: str = "A"
    rcode: str = "NOERROR"
    answer: Sequence[str] = ()
    ns: Sequence[str] = ()
    extra: Sequence[str] = ()
    qclass: str = "IN"
    # The templates passed the query on to the next plugin (no match with fallthrough, not ours).
    passed: bool = False

    def __str__(self) -> str:
        return f"{self.qname} {self.qclass} {self.qtype}"


def _norm(rr: RR) -> tuple[str, int, int, int, str]:
    return (str(rr.rname).lower(), rr.rtype, rr.rclass, rr.ttl, str(rr.rdata).lower())


def records(texts: Sequence[str]) -> list[tuple[str, int, int, int, str]]:
    return [_norm(rr) for text in texts for rr in RR.fromZone(text)]


def check(case: Case, resp: Response) -> None:
    msg = resp.msg
    if case.passed:
        assert resp.plugin == "next", f"{case}: expected the next plugin to answer, got {resp.plugin}\n{msg}"
        return
    assert resp.plugin == "template", f"{case}: answered by {resp.plugin}"
    assert RCODE.get(msg.header.rcode) == case.rcode, f"{case}: rcode {RCODE.get(msg.header.rcode)}\n{msg}"
    # Records in the order the templates wrote them, as CoreDNS appends them.
    assert [_norm(r) for r in msg.rr] == records(case.answer), f"{case}: answer\n{msg}"
    assert [_norm(r) for r in msg.auth] == records(case.ns), f"{case}: authority\n{msg}"
    assert [_norm(r) for r in msg.ar] == records(case.extra), f"{case}: additional\n{msg}"
