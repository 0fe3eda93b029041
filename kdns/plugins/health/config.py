"""`health [ADDRESS] { lameduck DURATION }`; ADDRESS defaults to :8080."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.duration import parse_duration
from kdns.corefile.tree import Directive
from kdns.server.http import split_address


@dataclass(frozen=True)
class Config:
    address: tuple[str, int] = ("", 8080)
    lameduck: float = 0.0


def parse(d: Directive) -> Config:
    args = d.expect_args(0, 1)
    address = ("", 8080)
    if args:
        try:
            address = split_address(args[0], 8080)
        except ValueError as e:
            raise d.error(f"invalid address '{args[0]}': {e}", d.args[0]) from None
    lameduck = 0.0
    for opt in d.options():
        if opt.name.text != "lameduck":
            raise opt.unknown_option()
        (value,) = opt.expect_args(1, 1)
        try:
            lameduck = parse_duration(value)
        except ValueError as e:
            raise opt.error(f"invalid lameduck duration '{value}': {e}", opt.args[0]) from None
        if lameduck < 0:
            raise opt.error("lameduck duration must not be negative", opt.args[0])
    return Config(address, lameduck)
