"""`hosts [FILE [ZONES...]] { INLINE; ttl SECONDS; no_reverse; reload DURATION; fallthrough [ZONES...] }`."""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass

from kdns.corefile.keys import parse_key
from kdns.corefile.tree import Directive, Token

log = logging.getLogger(__name__)

DEFAULT_PATH = "/etc/hosts"
# CoreDNS plugin/hosts: one hour TTL, the file polled every 5 seconds.
DEFAULT_TTL = 3600
DEFAULT_RELOAD = 5.0


@dataclass(frozen=True)
class Config:
    path: str = DEFAULT_PATH
    # Empty: the zones of the server block (given to the handler by attach()).
    zones: tuple[str, ...] = ()
    # Inline entries, one hosts(5) line each, served whether or not the file exists.
    inline: tuple[str, ...] = ()
    ttl: int = DEFAULT_TTL
    reverse: bool = True
    reload: float = DEFAULT_RELOAD
    # None: no fallthrough; ("." ,) for every zone.
    fallthrough: tuple[str, ...] | None = None


def zones_of(tokens: list[Token]) -> tuple[str, ...]:
    """Zone arguments normalized as server block keys are (a CIDR becomes its reverse zones)."""
    zones: list[str] = []
    for token in tokens:
        zones.extend(key.zone for key in parse_key(token))
    return tuple(zones)


def parse(d: Directive) -> Config:
    path = DEFAULT_PATH
    zones: tuple[str, ...] = ()
    if d.args:
        # Relative to the working directory at load time (CoreDNS without `root`), fixed now so
        # the reload poll reads the same file whatever the directory later is.
        path = os.path.abspath(d.args[0].text)
        zones = zones_of(d.args[1:])
        if os.path.isdir(path):
            raise d.error(f"hosts file '{path}' is a directory", d.args[0])
        if not os.path.exists(path):
            # As CoreDNS: only a warning; the file is read once it appears.
            log.warning("plugin/hosts: file does not exist: %s", path)
    inline: list[str] = []
    ttl = DEFAULT_TTL
    reverse = True
    reload = DEFAULT_RELOAD
    fallthrough: tuple[str, ...] | None = None
    for opt in d.options():
        name = opt.name.text
        if name == "ttl":
            opt.no_block()
            (text,) = opt.expect_args(1, 1)
            if not text.isdigit() or not 0 < int(text) <= 65535:
                raise opt.error(f"ttl must be a number of seconds from 1 to 65535, got '{text}'", opt.args[0])
            ttl = int(text)
        elif name == "no_reverse":
            opt.no_block()
            opt.expect_args(0, 0)
            reverse = False
        elif name == "reload":
            opt.no_block()
            (text,) = opt.expect_args(1, 1)
            reload = opt.duration(0)
            if reload < 0:
                raise opt.error(f"invalid duration for reload '{text}'", opt.args[0])
        elif name == "fallthrough":
            opt.no_block()
            fallthrough = zones_of(opt.args) or (".",)
        elif _is_ip(name):
            opt.no_block()
            if not opt.args:
                raise opt.error(f"inline hosts entry '{name}' names no host")
            inline.append(" ".join([name, *opt.values]))
        else:
            raise opt.unknown_option()
    return Config(
        path=path, zones=zones, inline=tuple(inline), ttl=ttl, reverse=reverse, reload=reload,
        fallthrough=fallthrough,
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True
