"""The forward plugin's metric families, named and labelled as CoreDNS's.

CoreDNS 1.11 moved the per-upstream families of forward into plugin/pkg/proxy
(coredns_proxy_*{proxy_name="forward", ...}) and deprecated coredns_forward_requests_total,
coredns_forward_responses_total, coredns_forward_request_duration_seconds and
coredns_forward_healthcheck_failures_total. kdns exports both sets, so dashboards written for
either CoreDNS generation keep working. Children are looked up once per upstream, not per query.
"""

from __future__ import annotations

from kdns.metric_types import Counter, Histogram

# CoreDNS plugin.TimeBuckets: prometheus.ExponentialBuckets(0.00025, 2, 16).
TIME_BUCKETS = tuple(0.00025 * 2**i for i in range(16))
PROXY_NAME = "forward"

requests = Counter(
    "coredns_forward_requests_total", "Counter of requests made per upstream.", ["to"],
)
responses = Counter(
    "coredns_forward_responses_total", "Counter of responses received per upstream.", ["to", "rcode"],
)
request_duration = Histogram(
    "coredns_forward_request_duration_seconds", "Histogram of the time each request took.",
    ["to", "rcode"], buckets=TIME_BUCKETS,
)
healthcheck_failures = Counter(
    "coredns_forward_healthcheck_failures_total", "Counter of the number of failed healthchecks.", ["to"],
)
healthcheck_broken = Counter(
    "coredns_forward_healthcheck_broken_total",
    "Counter of the number of complete failures of the healthchecks.",
)
max_concurrent_rejects = Counter(
    "coredns_forward_max_concurrent_rejects_total",
    "Counter of the number of queries rejected because the concurrent queries were at maximum.",
)
proxy_request_duration = Histogram(
    "coredns_proxy_request_duration_seconds", "Histogram of the time each request took.",
    ["proxy_name", "to", "rcode"], buckets=TIME_BUCKETS,
)
proxy_healthcheck_failures = Counter(
    "coredns_proxy_healthcheck_failures_total", "Counter of the number of failed healthchecks.",
    ["proxy_name", "to"],
)
conn_cache_hits = Counter(
    "coredns_proxy_conn_cache_hits_total", "Counter of connection cache hits per upstream and protocol.",
    ["proxy_name", "to", "proto"],
)
conn_cache_misses = Counter(
    "coredns_proxy_conn_cache_misses_total",
    "Counter of connection cache misses per upstream and protocol.", ["proxy_name", "to", "proto"],
)


class UpstreamMetrics:
    """The children of one upstream, so the query path does no label lookups."""

    __slots__ = ("to", "requests", "hc_failures", "conn_hits", "conn_misses", "_by_rcode")

    def __init__(self, to: str) -> None:
        self.to = to
        self.requests = requests.labels(to=to)
        self.hc_failures = (
            healthcheck_failures.labels(to=to), proxy_healthcheck_failures.labels(PROXY_NAME, to),
        )
        protos = ("udp", "tcp", "tcp-tls")  # CoreDNS's transport names
        self.conn_hits = {p: conn_cache_hits.labels(PROXY_NAME, to, p) for p in protos}
        self.conn_misses = {p: conn_cache_misses.labels(PROXY_NAME, to, p) for p in protos}
        self._by_rcode: dict[str, tuple[Counter, Histogram, Histogram]] = {}

    def response(self, rcode: str, seconds: float) -> None:
        children = self._by_rcode.get(rcode)
        if children is None:
            children = self._by_rcode[rcode] = (
                responses.labels(to=self.to, rcode=rcode),
                request_duration.labels(to=self.to, rcode=rcode),
                proxy_request_duration.labels(PROXY_NAME, self.to, rcode),
            )
        children[0].inc()
        children[1].observe(seconds)
        children[2].observe(seconds)

    def healthcheck_failed(self) -> None:
        for child in self.hc_failures:
            child.inc()
