"""`reload [INTERVAL] [JITTER]`: defaults 30s and 15s; INTERVAL at least 2s, JITTER at most INTERVAL/2."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive


@dataclass(frozen=True)
class Config:
    interval: float = 30.0
    jitter: float = 15.0


def parse(d: Directive) -> Config:
    args = d.expect_args(0, 2)
    d.no_block()
    values = [d.duration(i) for i in range(len(args))]
    interval = values[0] if args else 30.0
    jitter = values[1] if len(args) > 1 else interval / 2
    if interval < 2:
        raise d.error(f"interval value must be greater or equal to 2s, got {args[0]}", d.args[0])
    if jitter < 1 and len(args) > 1:
        raise d.error(f"jitter value must be greater or equal to 1s, got {args[1]}", d.args[1])
    if jitter > interval / 2:
        raise d.error(f"jitter value must be smaller or equal to {interval / 2:g}s", d.args[-1])
    return Config(interval, jitter)
