"""Answer every query with the client's address and port in the additional section.

As CoreDNS's plugin/whoami: AA set, empty answer, an A or AAAA with the client's IP and
`_<proto>.<qname> SRV 0 0 <port> .`, all with TTL 0. It is the end of its chain.
"""

from __future__ import annotations

import ipaddress

from dnslib import CLASS, AAAA, SRV, A, DNSLabel, QTYPE, RR

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
        ip = ipaddress.ip_address(host.split("%", 1)[0])
        # Go's net.IP.To4 (CoreDNS's state.Family) sees an IPv4-mapped IPv6 address as IPv4.
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.version == 6:
            address = RR(owner, QTYPE.AAAA, CLASS.IN, 0, AAAA(str(ip)))
        else:
            address = RR(owner, QTYPE.A, CLASS.IN, 0, A(str(ip)))
        resp.msg.ar = [address]
        proto_label = b"_" + req.proto.encode()
        # `_udp.<qname>` must still be a name (RFC 1035 2.3.4: 255 bytes); for the longest
        # questions the SRV record is left out rather than answering with a broken name.
        if sum(len(label) + 1 for label in req.labels) + len(proto_label) + 2 <= 255:
            srv_owner = DNSLabel([proto_label] + list(req.labels))
            resp.msg.ar.append(RR(srv_owner, QTYPE.SRV, CLASS.IN, 0, SRV(0, 0, port, ".")))
        return resp
