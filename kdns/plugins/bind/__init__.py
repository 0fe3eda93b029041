"""bind: the addresses a server block listens on (CoreDNS plugin/bind)."""

from kdns.plugins import PluginSpec
from kdns.plugins.bind.config import parse

PLUGIN = PluginSpec(name="bind", parse=parse)
