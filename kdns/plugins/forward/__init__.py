"""forward: proxy queries to upstream resolvers (CoreDNS plugin/forward)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.forward.config import parse, precedence
from kdns.plugins.forward.handler import Handler

# Several forward in one block (CoreDNS 1.13): one chain link each, the longest FROM zone first.
PLUGIN = PluginSpec(name="forward", parse=parse, handler=Handler, once=False, precedence=precedence)
