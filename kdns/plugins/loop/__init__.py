"""loop: detect a forwarding loop at start (CoreDNS plugin/loop)."""

from kdns.plugins import PluginSpec
from kdns.plugins.loop.config import parse
from kdns.plugins.loop.handler import Handler

PLUGIN = PluginSpec(name="loop", parse=parse, handler=Handler)
