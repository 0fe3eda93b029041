"""chaos: answer CH-class TXT queries for the server's version, authors and host name (CoreDNS plugin/chaos)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.chaos.config import parse
from kdns.plugins.chaos.handler import Handler

PLUGIN = PluginSpec(name="chaos", parse=parse, handler=Handler)
