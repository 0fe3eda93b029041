"""The hosts plugin's own metric families, named and labelled as CoreDNS's plugin/hosts/metrics.go."""

from __future__ import annotations

from kdns.metric_types import Counter, Gauge

entries = Gauge(
    "coredns_hosts_entries", "The combined number of entries in hosts and Corefile.",
)
reload_timestamp = Gauge(
    "coredns_hosts_reload_timestamp_seconds", "The timestamp of the last reload of hosts file.",
)
hits = Counter(
    "coredns_hosts_hits", "The number of requests served from the hosts file",
)
