"""`workers N` (kdns extension): N processes share the listen addresses through SO_REUSEPORT."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kdns.corefile.tree import Directive

MAX_WORKERS = 256


@dataclass(frozen=True)
class Config:
    count: int


def parse(d: Directive) -> Config:
    (text,) = d.expect_args(1, 1)
    d.no_block()
    if text == "auto":
        return Config(len(os.sched_getaffinity(0)))
    return Config(d.integer(0, 1, MAX_WORKERS))
