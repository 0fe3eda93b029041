"""The template plugin's metric families, named and labelled as CoreDNS's plugin/template/metrics.go.

`view` is always "" (kdns has no view plugin). Counted as plain integers keyed by their label values
and turned into families when /metrics is scraped (as kdns/metrics.py does): a prometheus_client
child takes a lock per increment.

Answers the server repeats from its fast path (server/fastpath.py) do not run the plugin, so
`coredns_template_matches_total` counts the answers the template computed; every answer is counted
in `coredns_dns_responses_total{plugin="template"}`.
"""

from __future__ import annotations

from collections.abc import Iterator

from kdns.metric_types import REGISTRY, Collector, CounterMetricFamily

# (server, zone, view, class, type)
matches: dict[tuple[str, str, str, str, str], int] = {}
# (server, zone, view, class, type, section, template)
template_failures: dict[tuple[str, str, str, str, str, str, str], int] = {}
rr_failures: dict[tuple[str, str, str, str, str, str, str], int] = {}

_MATCH_LABELS = ["server", "zone", "view", "class", "type"]
_FAILURE_LABELS = [*_MATCH_LABELS, "section", "template"]


class TemplateCollector(Collector):
    def collect(self) -> Iterator[CounterMetricFamily]:
        families = (
            (matches, "coredns_template_matches", "Counter of template regex matches.", _MATCH_LABELS),
            (
                template_failures, "coredns_template_template_failures", "Counter of go template failures.",
                _FAILURE_LABELS,
            ),
            (rr_failures, "coredns_template_rr_failures", "Counter of mis-templated RRs.", _FAILURE_LABELS),
        )
        for counts, name, text, labels in families:
            family = CounterMetricFamily(name, text, labels=labels)
            for key, value in list(counts.items()):
                family.add_metric(list(key), value)
            yield family


REGISTRY.register(TemplateCollector())
