"""cache: answer repeats from memory, with TTLs that count down (CoreDNS plugin/cache).

Entries are keyed on (lowercased name, type, class, DO, CD): an answer fetched for a DNSSEC-aware
asker never reaches one that is not, and the reply echoes each asker's own spelling of the name.
Two bounded LRU stores (success, denial) hold entries past their TTL for serve_stale, and drop them
when the stale window ends or the store is full.

The answers made from an item (the miss that stored it, then its hits) go to the server's fast path
(design.md section 3) tagged with the item's Lease: repeats are then served packed, TTLs counting
down, until the TTL runs out; whatever takes an item out of the cache (_drop, an eviction, a
replacement) invalidates its lease in every listener's table. With `prefetch` nothing is leased:
each hit must be seen to count the item's popularity.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Hashable
from typing import Any

from cachetools import LRUCache
from dnslib import RCODE

from kdns.plugins.cache import metrics
from kdns.plugins.cache.config import Config
from kdns.plugins.cache.followed import ChangeSource, Followed
from kdns.zones import in_zones
from kdns.plugins.cache.item import DENIAL, SUCCESS, Item, classify, minimal_ttl
from kdns.request import Request
from kdns.response import Lease, Response
from kdns.types import BlockInfo, Next

log = logging.getLogger(__name__)

Key = tuple[str, int, int, bool, bool]


def common_zones(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> tuple[str, ...]:
    """The zones whose names are in a zone of a and in a zone of b: the deeper of each nested pair."""
    if a is None or b is None:
        return ()
    out = []
    for x in a:
        for y in b:
            if in_zones(y, (x,)):
                out.append(y)
            elif in_zones(x, (y,)):
                out.append(x)
    return tuple(dict.fromkeys(out))


class Store(LRUCache[Key, Item]):
    """An LRU that counts what it evicts for lack of room (coredns_cache_evictions_total)."""

    def __init__(self, capacity: int, evicted: Callable[[Item], None]) -> None:
        super().__init__(maxsize=capacity)
        self.evicted = 0
        self.on_evict = evicted

    def popitem(self) -> tuple[Key, Item]:
        self.evicted += 1
        key, item = super().popitem()
        self.on_evict(item)
        return key, item


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        self.success = Store(config.success_capacity, self._unlease)
        self.denial = Store(config.denial_capacity, self._unlease)
        # The fast path counts down on time.monotonic(): a test's own clock leases nothing.
        self.clock: Callable[[], float] = time.monotonic
        # The server's fast-path tables (server/app.py feeds them): invalidate(tags) on each.
        self.invalidators: list[Callable[[set[Hashable]], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._metrics: dict[str, metrics.ServerMetrics] = {}
        # Set by follow(): the entries an index change of a plugin behind us makes wrong.
        self.followed: Followed | None = None
        self._set_zones(config.zones or (".",))

    def attach(self, info: BlockInfo) -> None:
        if not self.config.zones:
            self._set_zones(tuple(info.zones))

    def follow(self, source: ChangeSource) -> None:
        """Drop the answers each index change of source gives a new meaning (followed.py), when
        the change is applied: a new Service's PTR is not hidden behind a cached NXDOMAIN."""
        if self.followed is None:
            capacity = self.config.success_capacity + self.config.denial_capacity
            self.followed = Followed(lambda key: key in self.success or key in self.denial, capacity)
        self.followed.add_zones(source.zones)
        source.invalidators.append(self._index_changed)

    def _index_changed(self, tags: set[Hashable]) -> None:
        if self.followed is not None:
            for key in self.followed.stale(tags):
                self._drop(key)

    def _set_zones(self, zones: tuple[str, ...]) -> None:
        self.zones = zones
        self.zones_label = ",".join(zones)
        c = self.config
        # `disable success|denial` without zones means the cache's own zones.
        self.no_success = None if c.disable_success is None else (c.disable_success or zones)
        self.no_denial = None if c.disable_denial is None else (c.disable_denial or zones)
        # Nothing below these is ever stored (the kubeadm Corefile's cluster.local), so a query there
        # is a miss without looking up or classifying anything.
        self.uncached = common_zones(self.no_success, self.no_denial)
        self._metrics.clear()

    def metrics_for(self, server: str) -> metrics.ServerMetrics:
        m = self._metrics.get(server)
        if m is None:
            m = self._metrics[server] = metrics.server_metrics(server, self.zones_label)
        return m

    async def __call__(self, req: Request) -> Response:
        name = req.qname_lower
        if not in_zones(name, self.zones):
            return await self.next(req)
        m = self.metrics_for(req.server)
        m.requests += 1
        if self.uncached and in_zones(name, self.uncached):
            # CoreDNS counts these as requests and misses too (getIgnoreTTL finds nothing).
            m.misses += 1
            return await self.next(req)
        now = self.clock()
        key: Key = (name, req.qtype, req.qclass, req.do, req.cd)
        item = self.success.get(key) or self.denial.get(key)
        if item is not None:
            ttl = item.ttl(now)
            if ttl > 0:
                m.hits[item.kind] += 1
                if self.config.prefetch and self._popular(item, now, ttl):
                    self._background(self._refresh(req, item, m, key))
                resp = Response(item.to_msg(req, item.orig_ttl if self.config.keepttl else ttl), plugin="cache")
                lease = self._lease(req, item)
                if lease is not None:
                    resp.tags = (lease,)
                return resp
            self._unlease(item)  # expired: never served by the fast path again
            if self.config.serve_stale and -ttl < self.config.serve_stale:
                m.hits[item.kind] += 1
                return await self._stale(req, item, m, key, now)
            self._drop(key)
        m.misses += 1
        resp = await self.next(req)
        return self._keep(req, resp, m, key, now) or resp

    # Serving stale (RFC 8767): past its TTL an entry may still answer, with TTL 0, for a while.

    async def _stale(self, req: Request, item: Item, m: metrics.ServerMetrics, key: Key, now: float) -> Response:
        if self.config.stale_verify:
            # `verify`: ask first; only a usable answer (RFC 8767 section 4: NOERROR or NXDOMAIN) replaces it.
            resp = await self.next(req)
            if resp.rcode in (RCODE.NOERROR, RCODE.NXDOMAIN):
                return self._keep(req, resp, m, key, self.clock()) or resp
        elif not item.refreshing:
            self._background(self._refresh(req, item, m, key))
        m.served_stale += 1
        return Response(item.to_msg(req, 0), plugin="cache")

    # The fast path (server/fastpath.py).

    def _lease(self, req: Request, item: Item) -> Lease | None:
        """The item's lease, made on its first answer; None when every hit must reach the cache."""
        if item.lease is not None:
            return item.lease
        if not self.invalidators or self.config.prefetch or self.clock is not time.monotonic or req.cd:
            return None
        # AD of a reply to an asker without DO follows the query's AD bit, which is no part of the key.
        if item.ad and not req.do:
            return None
        kind = item.kind

        def served(server: str, n: int) -> None:
            m = self.metrics_for(server)
            m.requests += n
            m.hits[kind] += n

        item.lease = Lease(item.stored, item.orig_ttl, not self.config.keepttl, served)
        return item.lease

    def _unlease(self, item: Item) -> None:
        """Take item's answer off the fast path, wherever it was stored."""
        lease = item.lease
        if lease is not None:
            item.lease = None
            for invalidate in self.invalidators:
                invalidate({lease})

    def _popular(self, item: Item, now: float, ttl: int) -> bool:
        """CoreDNS shouldPrefetch: AMOUNT hits without a gap of DURATION, and PERCENTAGE of TTL left."""
        c = self.config
        if now - item.last_hit > c.prefetch_duration:
            item.hits = 1
        else:
            item.hits += 1
        item.last_hit = now
        threshold = math.ceil(c.prefetch_percentage / 100 * item.orig_ttl)
        return not item.refreshing and item.hits >= c.prefetch and ttl <= threshold

    async def _refresh(self, req: Request, item: Item, m: metrics.ServerMetrics, key: Key) -> None:
        item.refreshing = True
        m.prefetch += 1
        try:
            resp = await self.next(req)
            # A failed refresh must not push a still-servable (stale) answer out for a SERVFAIL.
            if resp.rcode in (RCODE.NOERROR, RCODE.NXDOMAIN):
                self._keep(req, resp, m, key, self.clock(), reply=False)
                fresh = self.success.get(key) or self.denial.get(key)
                if fresh is not None and fresh is not item:
                    fresh.hits, fresh.last_hit = item.hits, item.last_hit
        except Exception:
            log.debug("refreshing %s %s failed", req.qname, req.type_name, exc_info=True)
        finally:
            item.refreshing = False

    # Storing.

    def _keep(
        self, req: Request, resp: Response, m: metrics.ServerMetrics, key: Key, now: float, reply: bool = True,
    ) -> Response | None:
        """Store resp when it may be cached; the reply to send when it was (TTLs capped), else None.

        A response with fast-path tags is passed on untouched and not stored: the server keeps it
        and drops it the moment its source changes (design.md section 3), where a cached copy would
        outlive the change. Asker's names outside the uncached zones can carry tags too (a rewrite
        onto a cluster service).
        """
        if resp.tags is not None:
            return None
        msg = resp.msg
        kind = classify(msg)
        if kind is None:
            return None
        q = msg.questions[0] if msg.questions else None
        # Label tuples first: str() of a DNSLabel is slow, and the labels are nearly always the asker's.
        if q is None or q.qtype != req.qtype or (
            q.qname.label != req.labels and str(q.qname).lower() != req.qname_lower
        ):
            m.drops += 1
            return None
        c = self.config
        if kind == SUCCESS:
            if self.no_success is not None and in_zones(key[0], self.no_success):
                return None
            duration = max(c.success_min_ttl, min(minimal_ttl(msg, kind), c.success_ttl))
        else:
            if self.no_denial is not None and in_zones(key[0], self.no_denial):
                return None
            if kind == DENIAL:
                duration = max(c.denial_min_ttl, min(minimal_ttl(msg, kind), c.denial_ttl))
            else:
                duration = int(c.servfail_ttl)
                kind = DENIAL  # CoreDNS keeps SERVFAIL in the denial store
        if duration <= 0:
            return None
        item = Item(msg, kind, req.labels, duration, now)
        store = self.success if kind == SUCCESS else self.denial
        self._drop(key)
        before = store.evicted
        store[key] = item
        if self.followed is not None:
            self.followed.note(key, kind)
        if store.evicted != before:
            m.evictions[kind] += store.evicted - before
        m.entries[SUCCESS] = len(self.success)
        m.entries[DENIAL] = len(self.denial)
        if not reply:
            return None
        # CoreDNS answers a miss with the capped TTL too, so a client never sees 1799 then 8. The
        # error behind a stored SERVFAIL still goes up to the errors plugin, this once.
        out = Response(item.to_msg(req, duration), plugin=resp.plugin, error=resp.error)
        lease = self._lease(req, item)
        if lease is not None:
            out.tags = (lease,)  # its repeats are the fast path's, as hits' are
        return out

    def _drop(self, key: Key) -> None:
        """Forget key's answer, here and in the fast path."""
        for store in (self.success, self.denial):
            item = store.pop(key, None)
            if item is not None:
                self._unlease(item)

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
