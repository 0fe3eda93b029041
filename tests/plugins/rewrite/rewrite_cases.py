"""Helpers for the rewrite plugin's tests: rules from Corefile text, and next plugins that record
the query they were handed and answer from zone text (CoreDNS's mockDnsResponder and msgPrinter)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.flags
from dnslib import QTYPE, RCODE, RR

from kdns.corefile.parser import parse as parse_corefile
from kdns.corefile.tree import Directive
from kdns.plugins.rewrite.config import parse
from kdns.plugins.rewrite.handler import Handler
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import parse_query


def directive(text: str) -> Directive:
    blocks = parse_corefile(". {\n" + text + "\n}\n", "Corefile", known=lambda name: True)
    return blocks[0].directives[0]


def handler(text: str, nxt: object) -> Handler:
    """The rewrite handler of every `rewrite` line in text (one block), in front of nxt."""
    blocks = parse_corefile(". {\n" + text + "\n}\n", "Corefile", known=lambda name: True)
    head: object = nxt
    for d in reversed(blocks[0].directives):
        head = Handler(head, parse(d))  # type: ignore[arg-type]
    assert isinstance(head, Handler)
    return head


def query(
    name: str, qtype: str | int = "A", qclass: int = 1, options: Sequence[tuple[int, bytes]] | None = None,
    do: bool = False, client: tuple[str, int] = ("10.240.0.1", 40212), proto: str = "udp",
) -> Request:
    """A parsed query as the server hands it on; options: EDNS options (an OPT record is added).
    Made by dnspython, which reads any presentation name (escaped dots and bytes included)."""
    import dns.edns
    import dns.message

    rdtype = qtype if isinstance(qtype, int) else QTYPE.reverse[qtype]
    q = dns.message.make_query(name, rdtype, qclass)
    if options is not None or do:
        opts = [dns.edns.GenericOption(c, d) for c, d in options or ()]
        q.use_edns(0, dns.flags.DO if do else 0, 4096, options=opts)
    req = parse_query(q.to_wire())
    req.client = client
    # CoreDNS's test.ResponseWriter: the local address is 127.0.0.1 port 53.
    req.local = ("127.0.0.1", 53) if ":" not in client[0] else ("::1", 53)
    req.proto = proto
    return req


@dataclass
class Zone:
    """A next plugin answering from zone-text records, recording every query it is handed.

    A name with records of other types is NODATA; a name with none is NXDOMAIN. answer=None
    answers every question with `<qname> 300 IN A 127.0.0.1` as CoreDNS's mockDnsResponder does.
    """

    records: Sequence[str] | None = None
    rcode: int = RCODE.NOERROR
    seen: list[Request] = field(default_factory=list)

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        if self.records is None:
            rr = RR.fromZone(f"{req.qname} 300 IN A 127.0.0.1")
            resp = req.answer(self.rcode, plugin="zone")
            resp.msg.rr = rr
            return resp
        rrs = [rr for text in self.records for rr in RR.fromZone(text)]
        name = req.qname_lower
        rcode = self.rcode if any(str(rr.rname).lower() == name for rr in rrs) else RCODE.NXDOMAIN
        resp = req.answer(rcode, plugin="zone", aa=True)
        for _ in range(8):  # follow CNAMEs inside the zone
            mine = [rr for rr in rrs if str(rr.rname).lower() == name]
            resp.msg.rr += [rr for rr in mine if rr.rtype == req.qtype or rr.rtype == QTYPE.CNAME]
            cname = [rr for rr in mine if rr.rtype == QTYPE.CNAME]
            if not cname or req.qtype == QTYPE.CNAME:
                break
            name = str(cname[0].rdata.label).lower()
        return resp

    @property
    def last(self) -> Request:
        return self.seen[-1]


def zone_text(rrs: Sequence[RR]) -> list[str]:
    """Records as one-line zone text, whitespace collapsed."""
    return [" ".join(rr.toZone().split()) for rr in rrs]


def options_of(req: Request) -> list[tuple[int, bytes]]:
    """The EDNS options of a query as the next plugin sees them."""
    assert req.edns is not None, "no OPT record"
    data = req.edns.options
    out, offset = [], 0
    while offset < len(data):
        code, length = int.from_bytes(data[offset : offset + 2]), int.from_bytes(data[offset + 2 : offset + 4])
        out.append((code, data[offset + 4 : offset + 4 + length]))
        offset += 4 + length
    # The packed query is what forward sends upstream: it must say the same.
    parsed = parse_query(req.wire)
    assert (parsed.qname, parsed.qtype, parsed.qclass, parsed.edns) == (req.qname, req.qtype, req.qclass, req.edns)
    return out
