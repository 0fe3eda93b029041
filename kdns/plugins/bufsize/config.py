"""`bufsize [SIZE]`: SIZE from 512 to 4096, default 1232 (CoreDNS's setup.go)."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive

DEFAULT_SIZE = 1232  # the 2020 DNS flag day size: no fragmentation on nearly every network
MIN_SIZE, MAX_SIZE = 512, 4096


@dataclass(frozen=True)
class Config:
    size: int = DEFAULT_SIZE


def parse(d: Directive) -> Config:
    d.no_block()
    if not d.expect_args(0, 1):
        return Config()
    return Config(d.integer(0, MIN_SIZE, MAX_SIZE))
