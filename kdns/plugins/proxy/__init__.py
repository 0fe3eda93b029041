"""proxy: CoreDNS's forwarder before 1.5 (plugin/proxy), run as forward with its options mapped."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.forward.config import precedence
from kdns.plugins.forward.handler import Handler
from kdns.plugins.proxy.config import parse

# As CoreDNS 1.4's proxy: several lines in a block, the longest FROM zone first; ranked with the
# block's forward lines, so that writing a proxy line as the forward line it runs as changes nothing.
PLUGIN = PluginSpec(
    name="proxy", parse=parse, handler=Handler, once=False, precedence=precedence, chain_as="forward",
)
