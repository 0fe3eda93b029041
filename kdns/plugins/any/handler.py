"""Answer qtype ANY with one synthesized HINFO record instead of every RRset of the name.

RFC 8482 section 4.2: a responder may answer ANY with a single HINFO whose CPU field is
"RFC8482"; CoreDNS's plugin/any writes CPU "ANY obsoleted", OS "See RFC 8482", TTL 8482, and so
does kdns. Other queries go on down the chain.
"""

from __future__ import annotations

from dnslib import CLASS, RD, RR, DNSBuffer, DNSLabel

from kdns.plugins.any.config import Config
from kdns.request import Request
from kdns.response import Response
from kdns.types import Next

ANY = 255
HINFO = 13
TTL = 8482


class Hinfo(RD):
    """HINFO rdata (RFC 1035 section 3.3.2): two character-strings; dnslib has no class for it."""

    def __init__(self, cpu: str, os: str) -> None:
        self.cpu = cpu
        self.os = os

    def pack(self, buffer: DNSBuffer) -> None:
        for text in (self.cpu, self.os):
            data = text.encode()
            buffer.pack("!B", len(data))
            buffer.append(data)

    def __repr__(self) -> str:
        return f'"{self.cpu}" "{self.os}"'


ANSWER = Hinfo("ANY obsoleted", "See RFC 8482")


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config

    async def __call__(self, req: Request) -> Response:
        if req.qtype != ANY:
            return await self.next(req)
        resp = req.answer(plugin="any")
        resp.msg.add_answer(RR(DNSLabel(list(req.labels)), HINFO, CLASS.IN, TTL, ANSWER))
        return resp


