"""whoami: tell the client its own address, port and transport (CoreDNS plugin/whoami)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.whoami.config import parse
from kdns.plugins.whoami.handler import Handler

PLUGIN = PluginSpec(name="whoami", parse=parse, handler=Handler)
