"""What a handler returns: a dnslib message plus what the server needs to account for it."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from dnslib import DNSRecord


@dataclass(slots=True)
class Response:
    msg: DNSRecord
    # The plugin that wrote it (the `plugin` label of coredns_dns_responses_total).
    plugin: str = ""
    # Set only by a plugin whose answer is a pure function of state it watches (the kubernetes
    # index): the server may then keep the packed answer and serve repeats of the question from it
    # (server/fastpath.py) until the plugin invalidates one of these tags. Such a response must be
    # computed without suspending, so no state change can slip between computing and storing it.
    tags: frozenset[Hashable] | None = None
    # The text of an error behind this answer; the errors plugin logs it (CoreDNS logs every error
    # a plugin returns alongside its rcode).
    error: str | None = None

    @property
    def rcode(self) -> int:
        return int(self.msg.header.rcode)

    def copy(self) -> Response:
        """A deep enough copy for a plugin that rewrites sections (loadbalance, cache)."""
        old = self.msg
        h = old.header
        header = type(h)(id=h.id, bitmap=h.bitmap, q=h.q, a=h.a, auth=h.auth, ar=h.ar)
        msg = DNSRecord(
            header, questions=list(old.questions), rr=list(old.rr), auth=list(old.auth), ar=list(old.ar),
        )
        return Response(msg, plugin=self.plugin, tags=self.tags, error=self.error)
