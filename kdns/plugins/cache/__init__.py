"""cache: a front-end cache of answers (CoreDNS plugin/cache)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.cache.config import parse
from kdns.plugins.cache.handler import Handler

PLUGIN = PluginSpec(name="cache", parse=parse, handler=Handler)
