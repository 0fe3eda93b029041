"""nsid: the server's identifier in replies to queries that ask for it (RFC 5001; CoreDNS plugin/nsid)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.nsid.config import parse
from kdns.plugins.nsid.handler import Handler

PLUGIN = PluginSpec(name="nsid", parse=parse, handler=Handler)
