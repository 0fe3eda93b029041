"""forward: send the query to upstream resolvers and hand their answer back (CoreDNS plugin/forward)."""

from __future__ import annotations

import asyncio
import logging
import random
import time

from dnslib import RCODE, DNSLabel, DNSRecord

from kdns.message import Question
from kdns.plugins.forward import metrics
from kdns.plugins.forward.config import Config
from kdns.plugins.forward.upstream import Proxy, UpstreamError
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import parse_answer
from kdns.types import Next
from kdns.zones import in_zone, in_zones

log = logging.getLogger(__name__)
# CoreDNS's ErrNoHealthy, returned when no upstream was even tried (plugin/forward/forward.go).
NO_HEALTHY = "no healthy proxies"


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        # One TLS client context for the line's tls:// upstreams, as CoreDNS shares one tls.Config:
        # building one reads the CA store (tens of milliseconds with the system's).
        context = config.tls.context() if any(u.tls for u in config.upstreams) else None
        self.proxies = [Proxy(u, config, context) for u in config.upstreams]
        self.inflight = 0
        self._turn = 0

    def matches(self, name: str) -> bool:
        """CoreDNS forward.match: under FROM, and not under an `except` zone (FROM itself always is)."""
        config = self.config
        if not in_zone(name, config.from_zone):
            return False
        if name == config.from_zone:
            return True
        return not in_zones(name, config.except_zones)

    async def __call__(self, req: Request) -> Response:
        if not self.matches(req.qname_lower):
            return await self.next(req)
        limit = self.config.max_concurrent
        if limit and self.inflight >= limit:
            # Not a health failure (CoreDNS README, max_concurrent): the upstreams are fine, we are busy.
            metrics.max_concurrent_rejects.inc()
            return _failure(req, RCODE.REFUSED, f"concurrent queries exceeded maximum {limit}")
        self.inflight += 1
        try:
            return await self._forward(req)
        finally:
            self.inflight -= 1

    def ordered(self) -> list[Proxy]:
        """The upstreams in the order this query tries them (CoreDNS plugin/forward/policy.go)."""
        proxies = self.proxies
        if len(proxies) == 1:
            return list(proxies)
        policy = self.config.policy
        if policy == "sequential":
            return list(proxies)
        if policy == "round_robin":
            turn = self._turn % len(proxies)
            self._turn = turn + 1
            return proxies[turn:] + proxies[:turn]
        shuffled = list(proxies)
        random.shuffle(shuffled)
        return shuffled

    async def _forward(self, req: Request) -> Response:
        config = self.config
        tcp = config.force_tcp or (req.proto == "tcp" and not config.prefer_udp)
        candidates = [p for p in self.ordered() if not p.down()]
        if not candidates:
            # CoreDNS: with every upstream down, health checking itself is presumed broken.
            metrics.healthcheck_broken.inc()
            if config.failfast_all_unhealthy:
                return _failure(req, RCODE.SERVFAIL, NO_HEALTHY)
            candidates = [random.choice(self.proxies)]
        deadline = time.monotonic() + config.timeouts.total
        attempts = 0
        last: DNSRecord | None = None
        error = NO_HEALTHY
        for i, proxy in enumerate(candidates):
            budget = deadline - time.monotonic()
            if budget <= 0:
                break
            if config.max_connect_attempts and attempts >= config.max_connect_attempts:
                break
            attempts += 1
            try:
                data = await proxy.exchange(req.wire, req.labels, req.qtype, req.qclass, tcp, budget)
            except UpstreamError as e:
                error = f"upstream {proxy.label}: {e}"
                log.debug("%s: %s", req.qname, error)
                proxy.kick_health_check()
                continue
            try:
                msg = parse_answer(data) or DNSRecord.parse(data)
            except Exception as e:  # dnslib raises several types on records it cannot read
                error = f"upstream {proxy.label}: unreadable answer: {e}"
                log.debug("%s: %s", req.qname, error)
                continue
            msg.header.id = req.id
            # The client's own spelling of the question (RFC 1035 7.3 / 0x20), whatever upstream echoed.
            msg.questions = [Question(DNSLabel(req.labels), req.qtype, req.qclass)]
            last = msg
            if msg.header.rcode in config.failover_rcodes and i + 1 < len(candidates):
                continue
            return Response(msg, plugin="forward")
        if last is not None:
            # `failover`: every upstream answered with a failover rcode; the last answer stands.
            return Response(last, plugin="forward")
        # As CoreDNS: the last upstream's error, for the errors plugin to log.
        return _failure(req, RCODE.SERVFAIL, error)

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.proxies))


def _failure(req: Request, rcode: int, error: str) -> Response:
    resp = req.answer(rcode, plugin="forward")
    resp.error = error
    return resp
