"""`k8s_external [ZONE...] { apex APEX; ttl TTL; headless; fallthrough [ZONE...] }`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kdns.corefile.tree import Directive

# CoreDNS plugin/k8s_external: TTL 5 s, the name servers live under `dns.<zone>`.
DEFAULT_TTL = 5
MAX_TTL = 3600
DEFAULT_APEX = "dns"
_LABEL = re.compile(r"[a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9_])?")


@dataclass(frozen=True)
class Config:
    # Empty: the zones of the server block (given to the handler by attach()).
    zones: tuple[str, ...] = ()
    apex: str = DEFAULT_APEX
    ttl: int = DEFAULT_TTL
    headless: bool = False
    # None: no fallthrough; ("." ,) for every zone.
    fallthrough: tuple[str, ...] | None = None


def parse(d: Directive) -> Config:
    zones = d.zones()
    apex = DEFAULT_APEX
    ttl = DEFAULT_TTL
    headless = False
    fallthrough: tuple[str, ...] | None = None
    for opt in d.options():
        opt.no_block()
        name = opt.name.text
        if name == "ttl":
            opt.expect_args(1, 1)
            ttl = opt.integer(0, 0, MAX_TTL)
        elif name == "apex":
            (label,) = opt.expect_args(1, 1)
            label = label.lower().rstrip(".")
            if not _LABEL.fullmatch(label):
                raise opt.error(f"apex '{opt.args[0].text}' is not one DNS label", opt.args[0])
            apex = label
        elif name == "headless":
            opt.expect_args(0, 0)
            headless = True
        elif name == "fallthrough":
            fallthrough = opt.zones() or (".",)
        else:
            raise opt.unknown_option()
    return Config(zones=zones, apex=apex, ttl=ttl, headless=headless, fallthrough=fallthrough)


def provider(config: Config) -> str:
    """k8s_external answers from the kubernetes plugin of its block (PluginSpec.needs)."""
    return "kubernetes"
