"""loadbalance: shuffle A, AAAA and MX records in answers (CoreDNS plugin/loadbalance)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.loadbalance.config import parse
from kdns.plugins.loadbalance.handler import Handler

PLUGIN = PluginSpec(name="loadbalance", parse=parse, handler=Handler)
