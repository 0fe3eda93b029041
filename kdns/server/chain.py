"""Build a server block's chain: handlers wrapped in reverse ORDER, each holding the next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dnslib import RCODE

from kdns.request import Request
from kdns.response import Response


async def no_next_plugin(req: Request) -> Response:
    """The end of every chain: CoreDNS answers SERVFAIL when no plugin wrote a response."""
    resp = req.answer(RCODE.SERVFAIL)
    resp.error = "no next plugin found"
    return resp


def build_chain(uses: Sequence[Any]) -> tuple[Any, list[Any]]:
    """(head, handlers in chain order) from the block's plugin uses, already in ORDER."""
    head: Any = no_next_plugin
    handlers = []
    for use in reversed(uses):
        if use.spec.handler is None:
            continue
        head = use.spec.handler(head, use.config)
        handlers.append(head)
    handlers.reverse()
    return head, handlers
