"""The plugin registry and the one place the chain order lives.

A plugin is a package kdns/plugins/<name>/ whose __init__ defines PLUGIN, a PluginSpec:
  parse(directive) -> frozen config dataclass          (config.py; raises ConfigError)
  handler: Handler(next, config)                      (handler.py; a link of the chain), or None
  service: Service(config, app)                       (lifecycle only: start()/stop()), or None
A handler may also define start()/stop() (run with the app) and ready() -> bool (read by `ready`).

A plugin never looks another one up in the chain. One that works with another plugin of its server
block (autopath @kubernetes, k8s_external) names it through PluginSpec.needs and the interface it
must implement (kdns/types.py); the config check refuses a named plugin without that interface, and
the app hands the provider's handler to handler.connect(provider) before anything starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

# CoreDNS's plugin.cfg order, restricted to what kdns has. A Corefile's line order never matters:
# a server block's chain is always built in this order.
ORDER: tuple[str, ...] = (
    "reload",
    "workers",
    "nsid",
    "bufsize",
    "bind",
    "debug",
    "ready",
    "health",
    "pprof",
    "prometheus",
    "errors",
    "log",
    "acl",
    "any",
    "chaos",
    "loadbalance",
    "cache",
    "rewrite",
    "autopath",
    "template",
    "hosts",
    "k8s_external",
    "kubernetes",
    "file",
    "loop",
    "forward",
    "proxy",
    "whoami",
)


@dataclass(frozen=True)
class PluginSpec:
    name: str
    parse: Callable[[Any], Any]
    handler: Callable[..., Any] | None = None
    service: Callable[..., Any] | None = None
    # Several server blocks naming the same key (e.g. prometheus :9153) share one service.
    service_key: Callable[[Any], Hashable] | None = None
    # Plugins that may appear only once per server block (CoreDNS rejects a second one).
    once: bool = True
    # With once=False, the uses of a block are tried in ascending order of this key of their config,
    # ties in Corefile order (forward: the longest FROM zone first).
    precedence: Callable[[Any], int] | None = None
    # Ranked in the chain together with this plugin's uses, as one of them (proxy runs as forward).
    chain_as: str | None = None
    # The service listens on a port of its own (health, ready, prometheus): with `workers`, only the
    # first process runs it.
    listens: bool = False
    # needs(config): the plugin of the same server block this one works with, or None; it must
    # implement `interface` (a runtime-checkable Protocol of kdns/types.py). See the module docstring.
    needs: Callable[[Any], str | None] | None = None
    interface: type | None = None


_registry: dict[str, PluginSpec] = {}


def get(name: str) -> PluginSpec | None:
    """The plugin called name, imported on first use; None when kdns has no such plugin."""
    if name not in ORDER:
        return None
    spec = _registry.get(name)
    if spec is None:
        try:
            module = importlib.import_module(f"kdns.plugins.{name}")
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith(f"kdns.plugins.{name}"):
                return None
            raise
        spec = getattr(module, "PLUGIN", None)
        if spec is None:  # a plugin folder without a plugin in it (an empty namespace package)
            return None
        _registry[name] = spec
    return spec


def available() -> list[str]:
    """The plugins this build has, in chain order (for `kdns -plugins`)."""
    return [name for name in ORDER if get(name) is not None]
