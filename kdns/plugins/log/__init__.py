"""log: one line per query in CoreDNS's log format (CoreDNS plugin/log)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.log.config import parse
from kdns.plugins.log.handler import Handler

PLUGIN = PluginSpec(name="log", parse=parse, handler=Handler)
