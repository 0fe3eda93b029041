"""`hosts [FILE [ZONES...]] { INLINE; ttl SECONDS; no_reverse; reload DURATION; fallthrough [ZONES...] }`."""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass

from kdns.corefile.tree import Directive

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


def parse(d: Directive) -> Config:
    path = DEFAULT_PATH
    zones: tuple[str, ...] = ()
    if d.args:
        # Relative to the working directory at load time (CoreDNS without `root`), fixed now so
        # the reload poll reads the same file whatever the directory later is.
        path = os.path.abspath(d.args[0].text)
        zones = d.zones(1)
        if os.path.isdir(path):
            raise d.error(f"hosts file '{path}' is a directory", d.args[0])
        if not os.path.exists(path):
            # As CoreDNS: only a warning; the file is read once it appears.
            log.warning("file does not exist: %s", path)
    inline: list[str] = []
    ttl = DEFAULT_TTL
    reverse = True
    reload = DEFAULT_RELOAD
    fallthrough: tuple[str, ...] | None = None
    for opt in d.options():
        name = opt.name.text
        if name == "ttl":
            opt.no_block()
            opt.expect_args(1, 1)
            ttl = opt.integer(0, 1, 65535)
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
            fallthrough = opt.zones() or (".",)
        elif fallthrough is not None:
            # CoreDNS (plugin/hosts/setup.go) reads inline lines only before `fallthrough`: after
            # it, any other line is an unknown property, one with an address included.
            raise opt.unknown_option()
        elif _is_ip(name) and opt.args:
            opt.no_block()
            inline.append(" ".join([name, *opt.values]))
        else:
            # CoreDNS takes any other line before `fallthrough` as an inline hosts line, and its
            # hosts-file reader skips one without an address and a name.
            line = " ".join([name, *opt.values])
            why = "names no host" if _is_ip(name) else "does not begin with an address"
            opt.warn(f"inline hosts line '{line}' {why}: skipped, as CoreDNS skips it; delete it")
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
