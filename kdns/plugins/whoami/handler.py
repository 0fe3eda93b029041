"""Answer every query with the client's address and port in the additional section.

As CoreDNS's plugin/whoami: AA set, empty answer, an A or AAAA with the client's IP and
`_<proto>.<qname> SRV 0 0 <port> .`, all with TTL 0. It is the end of its chain.
"""

from __future__ import annotations

from dnslib import AAAA, SRV, A, DNSLabel, QTYPE, RR

from kdns.plugins.whoami.config import Config
from kdns.request import Request
from kdns.response import Response
from kdns.types import Next


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config

    async def __call__(self, req: Request) -> Response:
        resp = req.answer(plugin="whoami", aa=True)
        host, port = req.client
        # The question's own labels: dnslib then compresses to the question and echoes its case.
        owner = DNSLabel(list(req.labels))
        if req.family == 2:
            address = RR(owner, QTYPE.AAAA, req.qclass, 0, AAAA(host.split("%", 1)[0]))
        else:
            address = RR(owner, QTYPE.A, req.qclass, 0, A(host))
        srv_owner = DNSLabel([b"_" + req.proto.encode()] + list(req.labels))
        srv = RR(srv_owner, QTYPE.SRV, req.qclass, 0, SRV(0, 0, port, "."))
        resp.msg.ar = [address, srv]
        return resp
