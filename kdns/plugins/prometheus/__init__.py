"""prometheus: /metrics in Prometheus text format (CoreDNS plugin/metrics)."""

from kdns.plugins import PluginSpec
from kdns.plugins.prometheus.config import parse
from kdns.plugins.prometheus.service import Service

PLUGIN = PluginSpec(name="prometheus", parse=parse, service=Service, service_key=lambda c: ("http", c.address), listens=True)
