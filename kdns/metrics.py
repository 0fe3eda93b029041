"""CoreDNS's server metric families, counted in place and exported at scrape time.

prometheus_client's labelled Counter/Histogram take a lock and a label lookup per observation; on the
query path that costs more than answering. Here each server block keeps plain dicts of integers and
bucket lists, and one custom Collector turns them into CoreDNS's families (names and label sets as
CoreDNS 1.11+: server, zone, view, ...) when /metrics is scraped.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from kdns import PYTHON_VERSION, __version__
from kdns.metric_types import REGISTRY, Collector, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

# CoreDNS: prometheus.ExponentialBuckets(0.00025, 2, 16) for request durations.
DURATION_BUCKETS = tuple(0.00025 * 2**i for i in range(16))
# CoreDNS plugin/metrics/vars: sizes in bytes.
SIZE_BUCKETS = (0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000)
# CoreDNS names only the common types; the rest are "other" (plugin/metrics/vars/report.go).
MONITORED_TYPES = frozenset(
    ("A", "AAAA", "NS", "PTR", "SOA", "MX", "TXT", "SRV", "CNAME", "DS", "DNSKEY", "ANY",
     "HTTPS", "SVCB", "NSEC", "NSEC3", "IXFR", "AXFR", "CAA", "NAPTR", "HINFO")
)
RCODE_NAMES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 16: "BADVERS",
}


class Histogram:
    """Bucket counts plus sum, observed without locks (one event loop per process)."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def observe_many(self, value: float, count: int) -> None:
        self.counts[bisect_left(self.bounds, value)] += count
        self.total += value * count

    def family_samples(self) -> tuple[list[tuple[str, float]], float]:
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.bounds, self.counts):
            running += count
            buckets.append((_fmt(bound), running))
        running += self.counts[-1]
        buckets.append(("+Inf", running))
        return buckets, self.total


def _fmt(bound: float) -> str:
    return repr(float(bound))


class BlockMetrics:
    """Counters of one (server, zone) pair; kept across reloads, as CoreDNS's global vectors are."""

    def __init__(self, server: str, zone: str) -> None:
        self.server = server
        self.zone = zone
        self.requests: dict[tuple[str, str, str], int] = {}
        self.responses: dict[tuple[str, str], int] = {}
        self.durations: dict[str, Histogram] = {}
        self.request_sizes: dict[str, Histogram] = {}
        self.response_sizes: dict[str, Histogram] = {}

    def record(
        self, proto: str, family: str, qtype: str, rcode: str, plugin: str,
        request_size: int, response_size: int, duration: float,
    ) -> None:
        self.count(proto, family, qtype, rcode, plugin, request_size, response_size)
        self.durations_of(qtype).observe(duration)

    def count(
        self, proto: str, family: str, qtype: str, rcode: str, plugin: str,
        request_size: int, response_size: int, n: int = 1,
    ) -> None:
        """n requests alike in all but their duration (fast-path hits are folded in this way)."""
        key = (proto, family, qtype if qtype in MONITORED_TYPES else "other")
        self.requests[key] = self.requests.get(key, 0) + n
        rkey = (rcode, plugin)
        self.responses[rkey] = self.responses.get(rkey, 0) + n
        _histogram(self.request_sizes, proto, SIZE_BUCKETS).observe_many(request_size, n)
        if response_size:
            _histogram(self.response_sizes, proto, SIZE_BUCKETS).observe_many(response_size, n)

    def durations_of(self, qtype: str) -> Histogram:
        return _histogram(self.durations, qtype if qtype in MONITORED_TYPES else "other", DURATION_BUCKETS)


def _histogram(table: dict[str, Histogram], key: str, bounds: tuple[float, ...]) -> Histogram:
    hist = table.get(key)
    if hist is None:
        hist = table[key] = Histogram(bounds)
    return hist


class DnsCollector(Collector):
    def __init__(self) -> None:
        self.blocks: dict[tuple[str, str], BlockMetrics] = {}
        # Fast-path tables count hits on their entries; they are folded in here at scrape time.
        self.tables: weakref.WeakSet[Any] = weakref.WeakSet()
        self.panics = 0
        self.enabled: set[tuple[str, str, str]] = set()

    def block(self, server: str, zone: str) -> BlockMetrics:
        key = (server, zone)
        metrics = self.blocks.get(key)
        if metrics is None:
            metrics = self.blocks[key] = BlockMetrics(server, zone)
        return metrics

    def set_enabled(self, entries: set[tuple[str, str, str]]) -> None:
        """(server, zone, plugin name) of the running config; replaced on reload."""
        self.enabled = entries

    def flush_tables(self) -> None:
        """Fold the fast-path tables' counts into the metrics (theirs, and the cache's)."""
        for table in list(self.tables):
            table.flush_metrics()

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        self.flush_tables()
        requests = CounterMetricFamily(
            "coredns_dns_requests", "Counter of DNS requests made per zone, protocol and family.",
            labels=["server", "zone", "view", "proto", "family", "type"],
        )
        responses = CounterMetricFamily(
            "coredns_dns_responses", "Counter of response status codes.",
            labels=["server", "zone", "view", "rcode", "plugin"],
        )
        durations = HistogramMetricFamily(
            "coredns_dns_request_duration_seconds",
            "Histogram of the time (in seconds) each request took per zone.",
            labels=["server", "zone", "view", "type"],
        )
        req_sizes = HistogramMetricFamily(
            "coredns_dns_request_size_bytes", "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
            labels=["server", "zone", "view", "proto"],
        )
        resp_sizes = HistogramMetricFamily(
            "coredns_dns_response_size_bytes", "Size of the returned response in bytes.",
            labels=["server", "zone", "view", "proto"],
        )
        for m in list(self.blocks.values()):
            for (proto, family, qtype), n in m.requests.items():
                requests.add_metric([m.server, m.zone, "", proto, family, qtype], n)
            for (rcode, plugin), n in m.responses.items():
                responses.add_metric([m.server, m.zone, "", rcode, plugin], n)
            for qtype, hist in m.durations.items():
                buckets, total = hist.family_samples()
                durations.add_metric([m.server, m.zone, "", qtype], buckets, total)
            for proto, hist in m.request_sizes.items():
                buckets, total = hist.family_samples()
                req_sizes.add_metric([m.server, m.zone, "", proto], buckets, total)
            for proto, hist in m.response_sizes.items():
                buckets, total = hist.family_samples()
                resp_sizes.add_metric([m.server, m.zone, "", proto], buckets, total)
        yield requests
        yield responses
        yield durations
        yield req_sizes
        yield resp_sizes
        panics = CounterMetricFamily("coredns_panics", "A metrics that counts the number of panics.")
        panics.add_metric([], self.panics)
        yield panics
        info = GaugeMetricFamily(
            "coredns_build_info", "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.",
            labels=["version", "revision", "goversion"],
        )
        info.add_metric([__version__, "kdns", f"python{PYTHON_VERSION}"], 1)
        yield info
        enabled = GaugeMetricFamily(
            "coredns_plugin_enabled", "A metric that indicates whether a plugin is enabled on per server and zone basis.",
            labels=["server", "zone", "view", "name"],
        )
        for server, zone, name in sorted(self.enabled):
            enabled.add_metric([server, zone, "", name], 1)
        yield enabled


DNS = DnsCollector()
REGISTRY.register(DNS)
