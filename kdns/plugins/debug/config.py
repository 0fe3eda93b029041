"""`debug` takes no arguments and no block."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive


@dataclass(frozen=True)
class Config:
    pass


def parse(d: Directive) -> Config:
    d.expect_args(0, 0)
    if d.block:
        raise d.block[0].unknown_option()
    return Config()
