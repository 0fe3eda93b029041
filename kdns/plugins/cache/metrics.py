"""The cache plugin's metric families, named and labelled as CoreDNS 1.11+ (plugin/cache/metrics.go).

`view` is always "" (kdns has no view plugin). Every query in the cache's zones bumps two counters,
so they are plain integers on one ServerMetrics per (server, zones) label pair, turned into the
families when /metrics is scraped (as kdns/metrics.py does for the server's families): a
prometheus_client child takes a lock and two checks per increment.
"""

from __future__ import annotations

from collections.abc import Iterator

from kdns.metric_types import REGISTRY, Collector, CounterMetricFamily, GaugeMetricFamily
from kdns.metrics import DNS

SUCCESS, DENIAL = "success", "denial"
TYPES = (SUCCESS, DENIAL)


class ServerMetrics:
    """The counts for one server label of one cache; kept across reloads, as CoreDNS's vectors are."""

    __slots__ = (
        "server", "zones", "requests", "hits", "misses", "prefetch", "drops", "served_stale", "evictions",
        "entries",
    )

    def __init__(self, server: str, zones: str) -> None:
        self.server = server
        self.zones = zones
        self.requests = 0
        self.misses = 0
        self.prefetch = 0
        self.drops = 0
        self.served_stale = 0
        self.hits = dict.fromkeys(TYPES, 0)
        self.evictions = dict.fromkeys(TYPES, 0)
        self.entries = dict.fromkeys(TYPES, 0)


_servers: dict[tuple[str, str], ServerMetrics] = {}


def server_metrics(server: str, zones: str) -> ServerMetrics:
    """The counts for (server, zones), made on first use."""
    m = _servers.get((server, zones))
    if m is None:
        m = _servers[(server, zones)] = ServerMetrics(server, zones)
    return m


# (ServerMetrics attribute, family, help), as CoreDNS registers them.
_COUNTERS = (
    ("requests", "coredns_cache_requests", "The count of cache requests."),
    (
        "misses", "coredns_cache_misses",
        "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
    ),
    ("prefetch", "coredns_cache_prefetch", "The number of times the cache has prefetched a cached item."),
    ("drops", "coredns_cache_drops", "The number responses that are not cached, because the reply is malformed."),
    ("served_stale", "coredns_cache_served_stale", "The number of requests served from stale cache entries."),
)
# The same, counted per cache type (success, denial).
_TYPED_COUNTERS = (
    ("hits", "coredns_cache_hits", "The count of cache hits."),
    ("evictions", "coredns_cache_evictions", "The count of cache evictions."),
)
_LABELS = ["server", "zones", "view"]
_TYPED_LABELS = ["server", "type", "zones", "view"]


class CacheCollector(Collector):
    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        # Hits the fast path served are counted on its entries until then (Lease.served).
        DNS.flush_tables()
        entries = GaugeMetricFamily("coredns_cache_entries", "The number of elements in the cache.", labels=_TYPED_LABELS)
        counters = {attr: CounterMetricFamily(name, text, labels=_LABELS) for attr, name, text in _COUNTERS}
        typed = {attr: CounterMetricFamily(name, text, labels=_TYPED_LABELS) for attr, name, text in _TYPED_COUNTERS}
        for m in list(_servers.values()):
            for attr, family in counters.items():
                family.add_metric([m.server, m.zones, ""], getattr(m, attr))
            for kind in TYPES:
                labels = [m.server, kind, m.zones, ""]
                entries.add_metric(labels, m.entries[kind])
                for attr, family in typed.items():
                    family.add_metric(labels, getattr(m, attr)[kind])
        yield entries
        yield from counters.values()
        yield from typed.values()


REGISTRY.register(CacheCollector())
