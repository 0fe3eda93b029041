"""autopath's metric family, named and labelled as CoreDNS's plugin/autopath/metrics.go."""

from __future__ import annotations

from kdns.metric_types import Counter

success = Counter(
    "coredns_autopath_success_total", "Counter of requests that did autopath.", ["server"],
)
