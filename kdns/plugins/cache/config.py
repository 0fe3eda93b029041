"""cache [TTL] [ZONES...] { options }: CoreDNS's syntax (plugin/cache/setup.go), read into a Config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kdns.corefile.tree import Directive

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


def _zone(text: str) -> str:
    name = text.lower()
    if name.startswith("dns://"):
        name = name[6:]
    return name if name.endswith(".") else name + "."


def parse(d: Directive) -> Config:
    args = d.values
    opts: dict[str, Any] = {}
    if args and args[0].lstrip("-").isdigit():
        ttl = int(args[0])
        if ttl <= 0:
            raise d.error(f"cache TTL can not be zero or negative: {ttl}", d.args[0])
        opts["success_ttl"] = opts["denial_ttl"] = ttl
        args = args[1:]
    opts["zones"] = tuple(_zone(z) for z in args)

    for opt in d.options():
        name = opt.name.text
        opt.no_block()
        if name in ("success", "denial"):
            values = opt.expect_args(1, 3)
            opts[f"{name}_capacity"] = _int(opt, 0, minimum=1)
            if len(values) > 1:
                ttl = _int(opt, 1, minimum=0)
                if ttl <= 0:
                    raise opt.error(f"cache TTL can not be zero or negative: {ttl}", opt.args[1])
                opts[f"{name}_ttl"] = ttl
            if len(values) > 2:
                opts[f"{name}_min_ttl"] = _int(opt, 2, minimum=0)
        elif name == "prefetch":
            values = opt.expect_args(1, 3)
            opts["prefetch"] = _int(opt, 0, minimum=0)
            if len(values) > 1:
                opts["prefetch_duration"] = _duration(opt, 1)
            if len(values) > 2:
                pct = values[2]
                if not pct.endswith("%"):
                    raise opt.error(
                        f"last character of percentage should be `%`, but is: '{pct[-1]}'", opt.args[2]
                    )
                try:
                    num = int(pct[:-1])
                except ValueError:
                    raise opt.error(f"invalid percentage '{pct}'", opt.args[2]) from None
                if not 10 <= num <= 90:
                    raise opt.error(f"percentage should fall in range [10, 90]: {num}", opt.args[2])
                opts["prefetch_percentage"] = num
        elif name == "serve_stale":
            values = opt.expect_args(0, 2)
            opts["serve_stale"] = _duration(opt, 0) if values else 3600.0
            if opts["serve_stale"] < 0:
                raise opt.error("invalid negative duration for serve_stale", opt.args[0])
            if len(values) > 1:
                mode = values[1].lower()
                if mode not in ("immediate", "verify"):
                    raise opt.error(f"invalid value for serve_stale refresh mode: {mode}", opt.args[1])
                opts["stale_verify"] = mode == "verify"
        elif name == "servfail":
            opt.expect_args(1, 1)
            value = _duration(opt, 0)
            if value < 0:
                raise opt.error("invalid negative duration for servfail", opt.args[0])
            if value > MAX_SERVFAIL:
                raise opt.error("caching SERVFAIL responses over 5 minutes is not permitted", opt.args[0])
            opts["servfail_ttl"] = value
        elif name == "disable":
            values = opt.expect_args(1)
            if values[0] not in ("success", "denial"):
                raise opt.error(f"cache type for disable must be success or denial: '{values[0]}'", opt.args[0])
            opts[f"disable_{values[0]}"] = tuple(_zone(z) for z in values[1:])
        elif name == "keepttl":
            opt.expect_args(0, 0)
            opts["keepttl"] = True
        else:
            raise opt.unknown_option()
    return Config(**opts)


def _int(opt: Directive, i: int, minimum: int) -> int:
    text = opt.values[i]
    try:
        n = int(text)
    except ValueError:
        raise opt.error(f"'{text}' is not a number", opt.args[i]) from None
    if n < minimum:
        raise opt.error(f"'{text}' can not be less than {minimum}", opt.args[i])
    return n


def _duration(opt: Directive, i: int) -> float:
    return opt.duration(i)
