"""any: answer ANY queries minimally, as RFC 8482 allows (CoreDNS plugin/any)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.any.config import parse
from kdns.plugins.any.handler import Handler

PLUGIN = PluginSpec(name="any", parse=parse, handler=Handler)
