"""A Corefile made ready to run: each server block's keys and its parsed plugins, in chain order.

The plugins of a block are ordered by kdns.plugins.ORDER (CoreDNS's plugin.cfg), never by the order
of the lines in the Corefile. Checks done here, as CoreDNS does them at start-up:
- a plugin that may be used once per server block (PluginSpec.once) given twice is an error;
- the same zone on the same port (and listen address) in two places is an error
  ("cannot serve dns://example.org.:53 - it is already defined", core/dnsserver/register.go);
- a Corefile with no server blocks is an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kdns import plugins
from kdns.corefile import parser
from kdns.corefile.tree import Directive, ServerBlock, ServerKey
from kdns.errors import ConfigError
from kdns.plugins import PluginSpec


@dataclass(frozen=True)
class PluginUse:
    """One plugin of a server block: its spec, its parsed config and the line it came from."""

    name: str
    spec: PluginSpec
    config: Any
    directive: Directive


@dataclass(frozen=True)
class BlockConfig:
    keys: list[ServerKey]  # every port filled in (-dns.port for keys that name none)
    plugins: tuple[PluginUse, ...]  # in chain order (kdns.plugins.ORDER)
    file: str
    line: int

    @property
    def zones(self) -> list[str]:
        return [key.zone for key in self.keys]


@dataclass(frozen=True)
class Config:
    blocks: list[BlockConfig]
    files: list[str]  # the Corefile and every file it imports: what reload watches


def load_config(path: str, default_port: int = 53, errors: list[ConfigError] | None = None) -> Config:
    """Read, parse and check the Corefile at path; ConfigError names file and line.

    errors (kdns -validate): a plugin line that does not parse is added to it and left out, so that
    one run finds every such line; a Config loaded with errors is never to be served.
    """
    return _build(parser.load_parsed(path), default_port, errors)


def config_from_text(
    text: str, filename: str = "Corefile", default_port: int = 53, errors: list[ConfigError] | None = None,
) -> Config:
    """Like load_config, for a Corefile given as text (imports are relative to filename)."""
    return _build(parser.parse_text(text, filename), default_port, errors)


def _build(parsed: parser.Parsed, default_port: int, errors: list[ConfigError] | None) -> Config:
    if not parsed.blocks:
        file = parsed.files[0] if parsed.files else ""
        raise ConfigError("no server blocks in the Corefile", file, 1 if file else 0)
    blocks = [_block(b, default_port, errors) for b in parsed.blocks]
    if not errors:
        # With lines left out (a `bind` among them), an overlap found now could be a false one.
        _check_overlap(blocks)
    return Config(blocks, parsed.files)


def _block(block: ServerBlock, default_port: int, errors: list[ConfigError] | None) -> BlockConfig:
    keys = [
        key if key.port is not None else dataclasses.replace(key, port=default_port)
        for key in block.keys
    ]
    seen: dict[str, Directive] = {}
    uses: list[PluginUse] = []
    for directive in block.directives:
        try:
            uses.append(_use(directive, seen))
        except ConfigError as e:
            if errors is None:
                raise
            errors.append(e)
    # sorted() is stable: a plugin given on several lines keeps its lines in Corefile order, unless
    # it ranks them (PluginSpec.precedence).
    uses.sort(key=_chain_position)
    _check_needs(uses)
    return BlockConfig(keys, tuple(uses), block.file, block.line)


def _use(directive: Directive, seen: dict[str, Directive]) -> PluginUse:
    name = directive.name.text
    spec = plugins.get(name)
    assert spec is not None  # the parser has refused directives kdns has no plugin for
    if spec.once and name in seen:
        first = seen[name]
        same_file = first.file == directive.file
        at = f"line {first.line}" if same_file else f"{first.file}:{first.line}"
        raise directive.error(f"this plugin can only be used once per server block (first at {at})")
    seen[name] = directive
    return PluginUse(name, spec, spec.parse(directive), directive)


def _chain_position(use: PluginUse) -> tuple[int, int]:
    rank = use.spec.precedence
    return plugins.ORDER.index(use.spec.chain_as or use.name), rank(use.config) if rank else 0


def provider_of(use: PluginUse, uses: Sequence[PluginUse]) -> PluginUse | None:
    """The plugin of the block that use works with (PluginSpec.needs), when there is one."""
    wanted = use.spec.needs(use.config) if use.spec.needs is not None else None
    return next((u for u in uses if u.name == wanted and u.spec.handler is not None), None)


def _check_needs(uses: list[PluginUse]) -> None:
    """As CoreDNS at start-up: a named plugin that is absent leaves the plugin idle (a warning
    here); one without the interface is an error (`hosts does not implement the AutoPather
    interface`)."""
    for use in uses:
        if use.spec.needs is None:
            continue
        wanted = use.spec.needs(use.config)
        if wanted is None:
            continue
        provider = provider_of(use, uses)
        if provider is None:
            use.directive.warn(f"no '{wanted}' plugin in this server block: {use.name} passes every query on")
            continue
        interface = use.spec.interface
        if interface is not None and not issubclass(provider.spec.handler, interface):  # type: ignore[arg-type]
            raise use.directive.error(f"{wanted} does not implement the {interface.__name__} interface")


def _listen_hosts(block: BlockConfig) -> list[str]:
    """The addresses a block binds to ("" = every address), for the overlap check."""
    hosts: list[str] = []
    for use in block.plugins:
        if use.name != "bind":
            continue
        for host in use.config.hosts():
            if host not in hosts:
                hosts.append(host)
    return hosts or [""]


def _check_overlap(blocks: list[BlockConfig]) -> None:
    """CoreDNS's zoneOverlap.registerAndCheck: one server per (zone, port, address).

    An unbound key (no `bind`) overlaps every bound key of the same zone and port.
    """
    registered: set[tuple[str, str, int | None, str]] = set()
    unbound: dict[tuple[str, str, int | None], tuple[str, str, int | None, str]] = {}
    for block in blocks:
        hosts = _listen_hosts(block)
        for key in block.keys:
            for host in hosts:
                addr = (key.scheme, key.zone, key.port, host)
                where = _addr_str(addr)
                if addr in registered:
                    raise _key_error(key, f"cannot serve {where} - it is already defined")
                plain = (key.scheme, key.zone, key.port)
                other = unbound.get(plain)
                if other is not None and (host == "" or (*plain, "") in registered):
                    clash = other if host == "" else (*plain, "")
                    raise _key_error(
                        key, f"cannot serve {where} - zone overlap listener capacity with "
                        f"{_addr_str(clash)}"
                    )
                registered.add(addr)
                unbound[plain] = addr


def _key_error(key: ServerKey, message: str) -> ConfigError:
    return ConfigError(message, key.token.file, key.token.line)


def _addr_str(addr: tuple[str, str, int | None, str]) -> str:
    scheme, zone, port, host = addr
    text = f"{scheme}://{zone}:{port}"
    return f"{text} on {host}" if host else text
