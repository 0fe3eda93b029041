"""autopath: server-side search path completion (CoreDNS plugin/autopath)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.autopath.config import provider, parse
from kdns.plugins.autopath.handler import Handler
from kdns.types import AutoPather

PLUGIN = PluginSpec(name="autopath", parse=parse, handler=Handler, needs=provider, interface=AutoPather)
