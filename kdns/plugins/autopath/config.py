"""`autopath [ZONE...] RESOLV-CONF`, where RESOLV-CONF is a resolv.conf file or `@PLUGIN`."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive
from kdns.resolvconf import search_domains


@dataclass(frozen=True)
class Config:
    # Empty: the zones of the server block (given to the handler by attach()).
    zones: tuple[str, ...] = ()
    # `@kubernetes`: the plugin of the block that gives each client's search path ("" with a file).
    plugin: str = ""
    # From a file: its search list, then "" (the name itself), as CoreDNS's sentinel.
    search: tuple[str, ...] = ()


def parse(d: Directive) -> Config:
    d.no_block()
    if not d.args:
        raise d.error("no resolv-conf specified")
    last = d.args[-1]
    zones = d.zones(0, len(d.args) - 1)
    if last.text.startswith("@"):
        if len(last.text) == 1:
            raise d.error("no plugin named after '@'", last)
        return Config(zones=zones, plugin=last.text[1:])
    try:
        search = search_domains(last.text)
    except OSError as e:
        raise d.error(f"failed to parse '{last.text}': {e.strerror}", last) from None
    return Config(zones=zones, search=search + ("",))


def provider(config: Config) -> str | None:
    """The plugin whose search paths autopath uses (PluginSpec.needs)."""
    return config.plugin or None
