"""k8s_external: external and load balancer addresses of services in a zone of their own (CoreDNS
plugin/k8s_external)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.k8s_external.config import parse, provider
from kdns.plugins.k8s_external.handler import Handler
from kdns.types import Externaler

PLUGIN = PluginSpec(name="k8s_external", parse=parse, handler=Handler, needs=provider, interface=Externaler)
