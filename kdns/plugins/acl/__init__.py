"""acl: allow, block, filter or drop queries by client address and type (CoreDNS plugin/acl)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.acl.config import parse
from kdns.plugins.acl.handler import Handler

# Several `acl` lines in one block are one list of rules, checked in Corefile order (Handler).
PLUGIN = PluginSpec(name="acl", parse=parse, handler=Handler, once=False)
