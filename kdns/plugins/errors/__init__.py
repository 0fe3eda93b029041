"""errors: log the errors the rest of the chain raises, answer SERVFAIL (CoreDNS plugin/errors)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.errors.config import parse
from kdns.plugins.errors.handler import Handler

PLUGIN = PluginSpec(name="errors", parse=parse, handler=Handler)
