"""debug: tracebacks for plugin failures and debug-level log lines (CoreDNS plugin/debug)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.debug.config import parse
from kdns.plugins.debug.service import Service

# One process-wide log level, however many blocks say `debug`.
PLUGIN = PluginSpec(name="debug", parse=parse, service=Service, service_key=lambda c: "debug")
