"""forward: proxy queries to upstream resolvers (CoreDNS plugin/forward)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.forward.config import parse
from kdns.plugins.forward.handler import Handler

PLUGIN = PluginSpec(name="forward", parse=parse, handler=Handler)
