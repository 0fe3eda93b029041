"""Build a server block's chain: handlers wrapped in reverse ORDER, each holding the next."""

from __future__ import annotations

import asyncio
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


async def in_task() -> None:
    """Go on inside an asyncio task, as asyncio.timeout() and current_task() need.

    A UDP query's chain runs inline, outside any task, until it first suspends (server/udp.py); a
    plugin awaits this before it sets a timeout, and the query goes on in the task the server then
    makes for it. Inside a task already (TCP, a sub-query, a later step) it does nothing.
    """
    if asyncio.current_task() is None:
        await asyncio.sleep(0)


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
