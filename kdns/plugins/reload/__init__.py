"""reload: re-read the Corefile when it changes (CoreDNS plugin/reload)."""

from kdns.plugins import PluginSpec
from kdns.plugins.reload.config import parse
from kdns.plugins.reload.service import Service

PLUGIN = PluginSpec(name="reload", parse=parse, service=Service, service_key=lambda c: "reload")
