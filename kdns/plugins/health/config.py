"""`health [ADDRESS] { lameduck DURATION }`; ADDRESS defaults to :8080."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive
from kdns.server.http import address_arg


@dataclass(frozen=True)
class Config:
    address: tuple[str, int] = ("", 8080)
    lameduck: float = 0.0


def parse(d: Directive) -> Config:
    address = address_arg(d, Config.address)
    lameduck = 0.0
    for opt in d.options():
        if opt.name.text != "lameduck":
            raise opt.unknown_option()
        opt.no_block()
        opt.expect_args(1, 1)
        lameduck = opt.duration(0)
        if lameduck < 0:
            raise opt.error("lameduck duration must not be negative", opt.args[0])
    return Config(address, lameduck)
