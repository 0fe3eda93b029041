"""pprof: Python's runtime profiles at CoreDNS's /debug/pprof paths (CoreDNS plugin/pprof)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.pprof.config import parse
from kdns.plugins.pprof.service import Service

PLUGIN = PluginSpec(
    name="pprof", parse=parse, service=Service, service_key=lambda c: ("http", c.address), listens=True
)
