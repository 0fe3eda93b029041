"""file: serve zones from RFC 1035 master files (CoreDNS plugin/file)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.file.config import parse
from kdns.plugins.file.handler import Handler

PLUGIN = PluginSpec(name="file", parse=parse, handler=Handler, once=False)
