"""Lower the requester's EDNS UDP payload size to SIZE when it advertises more.

As CoreDNS's plugin/bufsize, which changes the request's OPT record in place: every later step sees
the capped size. kdns cuts the answer to it (TC=1 past it, wire.pack via Request.max_size), and
plugins that send the query on (forward) ask with it. Queries without an OPT record are untouched.
The fast path keeps to it too: the server stores no answer larger than SIZE for EDNS askers
(server/mux.py, Block.udp_size_cap), so a repeat is never answered with more.
"""

from __future__ import annotations

from kdns.plugins.bufsize.config import Config
from kdns.request import Request
from kdns.response import Response
from kdns.server import wire
from kdns.types import Next


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        self.size = config.size

    async def __call__(self, req: Request) -> Response:
        edns = req.edns
        if edns is not None and edns.payload > self.size:
            req.edns = edns._replace(payload=self.size)
            req.wire = wire.with_payload(req.wire, req.question_end, self.size)
        return await self.next(req)
