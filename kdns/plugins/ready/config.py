"""`ready [ADDRESS]`; ADDRESS defaults to :8181."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive
from kdns.server.http import split_address


@dataclass(frozen=True)
class Config:
    address: tuple[str, int] = ("", 8181)


def parse(d: Directive) -> Config:
    args = d.expect_args(0, 1)
    d.no_block()
    if not args:
        return Config()
    try:
        return Config(split_address(args[0], 8181))
    except ValueError as e:
        raise d.error(f"invalid address '{args[0]}': {e}", d.args[0]) from None
