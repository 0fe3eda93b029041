"""Add the NSID option (RFC 5001) to the reply of a query whose OPT record carries one.

As CoreDNS's plugin/nsid: the option's data is DATA's bytes (dig shows them in hex and as text);
an NSID option already in the reply is replaced; queries that do not ask get no NSID. Replies to
queries without an OPT record have none to carry it.

The reply's other parts stay as the chain made them, fast-path tags included: the server keeps
answers to queries asking for NSID apart from the others (server/fastpath.py folds NSID into the
key), so a repeat gets the option exactly when it asks for it.
"""

from __future__ import annotations

import dataclasses

from kdns.plugins.nsid.config import Config
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import NSID, join_options, split_options
from kdns.types import Next


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        data = config.data.encode()[:65535]
        self.option = join_options([(NSID, data)])

    async def __call__(self, req: Request) -> Response:
        resp = await self.next(req)
        if req.edns is None or not req.edns.has_option(NSID):
            return resp
        # The message is not changed, only the options the server writes into its OPT record.
        return dataclasses.replace(resp, edns_options=_without_nsid(resp.edns_options) + self.option)


def _without_nsid(options: bytes) -> bytes:
    return join_options((code, data) for code, data in split_options(options) if code != NSID)
