"""hosts: answer A, AAAA and PTR from an /etc/hosts style file and inline lines (CoreDNS plugin/hosts)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.hosts.config import parse
from kdns.plugins.hosts.handler import Handler

PLUGIN = PluginSpec(name="hosts", parse=parse, handler=Handler)
