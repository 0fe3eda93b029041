"""ready: /ready answers 200 once every plugin that reports readiness is ready (CoreDNS plugin/ready)."""

from kdns.plugins import PluginSpec
from kdns.plugins.ready.config import parse
from kdns.plugins.ready.service import Service

PLUGIN = PluginSpec(name="ready", parse=parse, service=Service, service_key=lambda c: ("http", c.address), listens=True)
