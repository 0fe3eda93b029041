"""kubernetes: serves the cluster's Services, endpoints and pods (Kubernetes DNS spec 1.1.0)."""

from kdns.plugins import PluginSpec
from kdns.plugins.kubernetes.config import parse
from kdns.plugins.kubernetes.handler import Handler

PLUGIN = PluginSpec(name="kubernetes", parse=parse, handler=Handler)
