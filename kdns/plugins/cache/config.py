"""cache [TTL] [ZONES...] { options }: CoreDNS's syntax (plugin/cache/setup.go), read into a Config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kdns.corefile.tree import Directive, to_integer

# CoreDNS plugin/pkg/dnsutil: MaximumDefaulTTL (1h), MinimalDefaultTTL (5s); denial max is half.
MAX_TTL = 3600
MAX_DENIAL_TTL = 1800
MIN_TTL = 5
# CoreDNS: 256 shards of 39 items.
DEFAULT_CAPACITY = 9984
# CoreDNS README: "servfail ... DURATION may not be greater than 5 minutes"; default 5 s.
MAX_SERVFAIL = 300.0


@dataclass(frozen=True)
class Config:
    # Empty: the server block's zones (given to the handler by attach()).
    zones: tuple[str, ...] = ()
    success_capacity: int = DEFAULT_CAPACITY
    success_ttl: int = MAX_TTL
    success_min_ttl: int = MIN_TTL
    denial_capacity: int = DEFAULT_CAPACITY
    denial_ttl: int = MAX_DENIAL_TTL
    denial_min_ttl: int = MIN_TTL
    prefetch: int = 0
    prefetch_duration: float = 60.0
    prefetch_percentage: int = 10
    serve_stale: float = 0.0  # 0: off; else how long past expiry an entry may still be served
    stale_verify: bool = False
    servfail_ttl: float = 5.0
    # None: not disabled; () : disabled for the cache's own zones; else those zones.
    disable_success: tuple[str, ...] | None = None
    disable_denial: tuple[str, ...] | None = None
    keepttl: bool = False


def parse(d: Directive) -> Config:
    opts: dict[str, Any] = {}
    first_zone = 0
    # As CoreDNS: a first argument that reads as a number is the TTL, anything else a zone.
    if d.args and to_integer(d.args[0].text) is not None:
        opts["success_ttl"] = opts["denial_ttl"] = _ttl(d, 0)
        first_zone = 1
    opts["zones"] = d.zones(first_zone)

    for opt in d.options():
        name = opt.name.text
        opt.no_block()
        if name in ("success", "denial"):
            values = opt.expect_args(1, 3)
            opts[f"{name}_capacity"] = opt.integer(0, minimum=1)
            if len(values) > 1:
                opts[f"{name}_ttl"] = _ttl(opt, 1)
            if len(values) > 2:
                opts[f"{name}_min_ttl"] = opt.integer(2, minimum=0)
        elif name == "prefetch":
            values = opt.expect_args(1, 3)
            opts["prefetch"] = opt.integer(0, minimum=0)
            if len(values) > 1:
                opts["prefetch_duration"] = opt.duration(1)
            if len(values) > 2:
                pct = values[2]
                if not pct.endswith("%"):
                    raise opt.error(
                        f"last character of percentage should be `%`, but is: '{pct[-1:]}'", opt.args[2]
                    )
                num = to_integer(pct[:-1])
                if num is None:
                    raise opt.error(f"invalid percentage '{pct}'", opt.args[2])
                if not 10 <= num <= 90:
                    raise opt.error(f"percentage should fall in range [10, 90]: {num}", opt.args[2])
                opts["prefetch_percentage"] = num
        elif name == "serve_stale":
            values = opt.expect_args(0, 2)
            opts["serve_stale"] = opt.duration(0) if values else 3600.0
            if opts["serve_stale"] < 0:
                raise opt.error("invalid negative duration for serve_stale", opt.args[0])
            if len(values) > 1:
                mode = values[1].lower()
                if mode not in ("immediate", "verify"):
                    raise opt.error(f"invalid value for serve_stale refresh mode: {mode}", opt.args[1])
                opts["stale_verify"] = mode == "verify"
        elif name == "servfail":
            opt.expect_args(1, 1)
            value = opt.duration(0)
            if value < 0:
                raise opt.error("invalid negative duration for servfail", opt.args[0])
            if value > MAX_SERVFAIL:
                raise opt.error("caching SERVFAIL responses over 5 minutes is not permitted", opt.args[0])
            opts["servfail_ttl"] = value
        elif name == "disable":
            values = opt.expect_args(1)
            if values[0] not in ("success", "denial"):
                raise opt.error(f"cache type for disable must be success or denial: '{values[0]}'", opt.args[0])
            opts[f"disable_{values[0]}"] = opt.zones(1)
        elif name == "keepttl":
            opt.expect_args(0, 0)
            opts["keepttl"] = True
        else:
            raise opt.unknown_option()
    return Config(**opts)


def _ttl(d: Directive, index: int) -> int:
    ttl = d.integer(index)
    if ttl <= 0:
        # CoreDNS's wording (plugin/cache/setup.go).
        raise d.error(f"cache TTL can not be zero or negative: {ttl}", d.args[index])
    return ttl
