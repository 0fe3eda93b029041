"""prometheus_client's metric types and registry, for every plugin's metrics (one import place).

Imported without prometheus_client's __init__ (see standins.py): that imports its exposition too,
http.server and urllib.request with it. Only the prometheus plugin's /metrics needs exposition; it
imports it at the first scrape, and with it the package's own __init__, which registers the
process and platform collectors on the same REGISTRY.
"""

from __future__ import annotations

from kdns.standins import package_stand_ins

with package_stand_ins("prometheus_client"):
    from prometheus_client.metrics import Counter, Gauge, Histogram
    from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
    from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

__all__ = [
    "REGISTRY",
    "Collector",
    "CollectorRegistry",
    "Counter",
    "CounterMetricFamily",
    "Gauge",
    "GaugeMetricFamily",
    "Histogram",
    "HistogramMetricFamily",
]
