"""template: answers written as Go templates of the question, matched by regex (CoreDNS plugin/template)."""

from __future__ import annotations

from kdns.plugins import PluginSpec
from kdns.plugins.template.config import parse
from kdns.plugins.template.handler import Handler

PLUGIN = PluginSpec(name="template", parse=parse, handler=Handler, once=False)
