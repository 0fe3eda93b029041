"""health: /health answers 200 OK while the process runs (CoreDNS plugin/health)."""

from kdns.plugins import PluginSpec
from kdns.plugins.health.config import parse
from kdns.plugins.health.service import Service

PLUGIN = PluginSpec(name="health", parse=parse, service=Service, service_key=lambda c: ("http", c.address), listens=True)
