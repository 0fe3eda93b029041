"""bufsize: cap the EDNS UDP payload size a requester advertises (CoreDNS plugin/bufsize)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.bufsize.config import parse
from kdns.plugins.bufsize.handler import Handler

PLUGIN = PluginSpec(name="bufsize", parse=parse, handler=Handler)
