"""CH TXT for version.bind, version.server, authors.bind, hostname.bind and id.server.

As CoreDNS's plugin/chaos: only class CHAOS and type TXT are answered, and only for those five
names; everything else goes on down the chain. Records have TTL 0 and the question's spelling;
authors.bind lists the authors in a new random order each time. hostname.bind and id.server give
the host's name (`localhost` when it has none).
"""

from __future__ import annotations

import random
import socket

from dnslib import CLASS, QTYPE, RR, TXT, DNSLabel

from kdns.plugins.chaos.config import Config, trim
from kdns.request import Request
from kdns.response import Response
from kdns.types import Next

_VERSION_NAMES = frozenset(("version.bind.", "version.server."))
_HOSTNAME_NAMES = frozenset(("hostname.bind.", "id.server."))
_AUTHORS_NAME = "authors.bind."


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config

    async def __call__(self, req: Request) -> Response:
        if req.qclass != CLASS.CH or req.qtype != QTYPE.TXT:
            return await self.next(req)
        name = req.qname_lower
        if name in _VERSION_NAMES:
            texts = [self.config.version]
        elif name in _HOSTNAME_NAMES:
            texts = [trim(socket.gethostname() or "localhost")]
        elif name == _AUTHORS_NAME:
            texts = random.sample(self.config.authors, len(self.config.authors))
        else:
            return await self.next(req)
        resp = req.answer(plugin="chaos")
        owner = DNSLabel(list(req.labels))
        resp.msg.rr = [RR(owner, QTYPE.TXT, CLASS.CH, 0, TXT(text.encode())) for text in texts]
        return resp
