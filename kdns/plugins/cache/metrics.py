"""The cache plugin's metric families, named and labelled as CoreDNS 1.11+ (plugin/cache/metrics.go).

`view` is always "" (kdns has no view plugin). Children are looked up once per server label and
kept, so a cache hit costs two counter increments.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SUCCESS, DENIAL = "success", "denial"

entries = Gauge(
    "coredns_cache_entries", "The number of elements in the cache.", ["server", "type", "zones", "view"],
)
requests = Counter(
    "coredns_cache_requests_total", "The count of cache requests.", ["server", "zones", "view"],
)
hits = Counter(
    "coredns_cache_hits_total", "The count of cache hits.", ["server", "type", "zones", "view"],
)
misses = Counter(
    "coredns_cache_misses_total",
    "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
    ["server", "zones", "view"],
)
prefetch = Counter(
    "coredns_cache_prefetch_total", "The number of times the cache has prefetched a cached item.",
    ["server", "zones", "view"],
)
drops = Counter(
    "coredns_cache_drops_total",
    "The number responses that are not cached, because the reply is malformed.",
    ["server", "zones", "view"],
)
served_stale = Counter(
    "coredns_cache_served_stale_total", "The number of requests served from stale cache entries.",
    ["server", "zones", "view"],
)
evictions = Counter(
    "coredns_cache_evictions_total", "The count of cache evictions.", ["server", "type", "zones", "view"],
)


class ServerMetrics:
    """The children for one server label of one cache."""

    __slots__ = (
        "requests", "hits", "misses", "prefetch", "drops", "served_stale", "evictions", "entries",
    )

    def __init__(self, server: str, zones: str, view: str = "") -> None:
        self.requests = requests.labels(server, zones, view)
        self.misses = misses.labels(server, zones, view)
        self.prefetch = prefetch.labels(server, zones, view)
        self.drops = drops.labels(server, zones, view)
        self.served_stale = served_stale.labels(server, zones, view)
        self.hits = {t: hits.labels(server, t, zones, view) for t in (SUCCESS, DENIAL)}
        self.evictions = {t: evictions.labels(server, t, zones, view) for t in (SUCCESS, DENIAL)}
        self.entries = {t: entries.labels(server, t, zones, view) for t in (SUCCESS, DENIAL)}
