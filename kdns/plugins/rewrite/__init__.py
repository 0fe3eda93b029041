"""rewrite: rewrite a query's name, type, class or EDNS options, and map the answer back (CoreDNS plugin/rewrite)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.rewrite.config import parse
from kdns.plugins.rewrite.handler import Handler

# Several rewrite lines in a block are several rules, applied in the order they are written.
PLUGIN = PluginSpec(name="rewrite", parse=parse, handler=Handler, once=False)
