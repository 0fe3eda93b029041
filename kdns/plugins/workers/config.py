"""`workers N` (kdns extension): N processes share the listen addresses through SO_REUSEPORT."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kdns.corefile.tree import Directive


@dataclass(frozen=True)
class Config:
    count: int


def parse(d: Directive) -> Config:
    (text,) = d.expect_args(1, 1)
    d.no_block()
    if text == "auto":
        return Config(len(os.sched_getaffinity(0)))
    try:
        count = int(text)
    except ValueError:
        raise d.error(f"not a number: '{text}'", d.args[0]) from None
    if not 1 <= count <= 256:
        raise d.error(f"worker count {count} out of range 1-256", d.args[0])
    return Config(count)
