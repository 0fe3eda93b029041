"""`prometheus [ADDRESS]`; ADDRESS defaults to localhost:9153."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive
from kdns.server.http import split_address


@dataclass(frozen=True)
class Config:
    address: tuple[str, int] = ("localhost", 9153)


def parse(d: Directive) -> Config:
    args = d.expect_args(0, 1)
    d.no_block()
    if not args:
        return Config()
    try:
        return Config(split_address(args[0], 9153))
    except ValueError as e:
        raise d.error(f"invalid address '{args[0]}': {e}", d.args[0]) from None
