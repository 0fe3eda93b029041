"""What a handler returns: a dnslib message plus what the server needs to account for it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass

from dnslib import DNSRecord

from kdns.message import Header, Message


class Lease:
    """The fast-path tag of an answer the cache holds (design.md section 3, server/fastpath.py).

    The fast path serves the packed answer while its TTL has whole seconds left, every record's TTL
    patched to them (counting: False for `keepttl`, whose TTLs stay as packed), to askers without
    CD, as the cache's answers (the response that made the entry is counted as it came, say a forward
    miss), and tells served(server, n) at scrape time how many it gave (the cache's metrics). The
    cache invalidates the lease (as a tag) the moment it drops the answer.
    """

    __slots__ = ("born", "ttl", "counting", "served")
    plugin = "cache"  # whose answers they are, for the metrics

    def __init__(self, born: float, ttl: int, counting: bool, served: Callable[[str, int], None]) -> None:
        self.born = born  # time.monotonic() when the TTL was ttl
        self.ttl = ttl
        self.counting = counting
        self.served = served

    def left(self, now: float) -> int:
        """Whole seconds left at time.monotonic() now (as the cache counts them); 0 or less: expired."""
        return self.ttl - int(now - self.born)


@dataclass(slots=True)
class Response:
    msg: DNSRecord
    # The plugin that wrote it (the `plugin` label of coredns_dns_responses_total).
    plugin: str = ""
    # Set only by a plugin whose answer is a pure function of state it watches (the kubernetes
    # index): the server may then keep the packed answer and serve repeats of the question from it
    # (server/fastpath.py) until the plugin invalidates one of these tags. Such a response must be
    # computed without suspending, so no state change can slip between computing and storing it.
    # The cache's answers carry one tag only, a Lease: they are served with their TTLs counting down.
    tags: Collection[Hashable] | None = None
    # The text of an error behind this answer; the errors plugin logs it (CoreDNS logs every error
    # a plugin returns alongside its rcode).
    error: str | None = None
    # EDNS options (wire form: code, length, data) for the reply's OPT record, when the query had
    # one (nsid: RFC 5001). The server writes its own OPT record; a plugin adds options here.
    edns_options: bytes = b""
    # True: no reply is sent at all (acl's drop); a TCP connection stays open.
    silent: bool = False

    @property
    def rcode(self) -> int:
        return int(self.msg.header.rcode)

    def copy(self) -> Response:
        """A deep enough copy for a plugin that rewrites sections (loadbalance, cache)."""
        old = self.msg
        h = old.header
        # kdns.message's classes whatever the original was: no dnslib per-field validation.
        msg = Message(
            Header(h.id, h.bitmap, h.q, h.a, h.auth, h.ar),
            list(old.questions), list(old.rr), list(old.auth), list(old.ar),
        )
        return Response(
            msg, plugin=self.plugin, tags=self.tags, error=self.error, edns_options=self.edns_options,
            silent=self.silent,
        )
