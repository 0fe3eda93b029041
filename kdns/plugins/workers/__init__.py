"""workers: SO_REUSEPORT worker processes (kdns extension)."""

from kdns.plugins import PluginSpec
from kdns.plugins.workers.config import parse

PLUGIN = PluginSpec(name="workers", parse=parse)
