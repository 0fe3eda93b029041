"""`file DBFILE [ZONES...] { reload DURATION }` (CoreDNS plugin/file/setup.go)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from kdns.corefile.tree import Directive
from kdns.errors import ConfigError
from kdns.plugins.file.zone import Zone
from kdns.plugins.file.zonefile import ZoneFileError, parse_zone

# CoreDNS checks the file for a new SOA serial every minute.
DEFAULT_RELOAD = 60.0


@dataclass(frozen=True)
class Config:
    path: str
    # Empty: the zones of the server block, learnt in attach() (CoreDNS: c.ServerBlockKeys).
    zones: tuple[str, ...] = ()
    reload: float = DEFAULT_RELOAD
    # The zones as read at config time when ZONES were given, so the file is not read twice.
    loaded: tuple[Zone, ...] = field(default=(), compare=False, repr=False)


def load(path: str, origin: str) -> Zone:
    """The zone in path read with origin: OSError when it cannot be read, ZoneFileError naming
    file and line when it is bad."""
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            text = f.read()
        except UnicodeDecodeError as e:
            raise ZoneFileError(f"not UTF-8 text: {e}", path, 1) from None
    return Zone(origin, parse_zone(text, origin, path), path)


def _reason(e: Exception) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


def as_config_error(e: ZoneFileError) -> ConfigError:
    return ConfigError(e.message, e.file, e.line, "file")


def parse(d: Directive) -> Config:
    args = d.expect_args(1)
    # Relative to the working directory at load time, as CoreDNS without `root`; fixed now so
    # the reload poll reads the same file whatever the directory later is.
    path = os.path.abspath(args[0])
    zones = d.zones(1)
    reload = DEFAULT_RELOAD
    for opt in d.options():
        opt.no_block()
        if opt.name.text == "reload":
            (text,) = opt.expect_args(1, 1)
            reload = opt.duration(0)
            if reload < 0:
                raise opt.error(f"invalid duration for reload '{text}'", opt.args[0])
        else:
            raise opt.unknown_option()
    loaded: list[Zone] = []
    try:
        if zones:
            loaded = [load(path, zone) for zone in zones]
        else:
            # The origin comes with the server block; check the file's syntax now all the same,
            # so a broken zone file fails at config time with its line.
            with open(path, encoding="utf-8") as f:
                parse_zone(f.read(), ".", path)
    except ZoneFileError as e:
        raise as_config_error(e) from None
    except (OSError, UnicodeDecodeError) as e:
        raise d.error(f"cannot read zone file '{path}': {_reason(e)}", d.args[0]) from None
    return Config(path=path, zones=zones, reload=reload, loaded=tuple(loaded))
