"""The file plugin's metric family, as CoreDNS's plugin/file/metrics.go names and labels it."""

from __future__ import annotations

from kdns.metric_types import Gauge

entries = Gauge(
    "coredns_file_entries", "The combined number of entries in zone file and Corefile.", ["dns_name"],
)
