"""`prometheus [ADDRESS]`; ADDRESS defaults to localhost:9153."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive
from kdns.server.http import address_arg


@dataclass(frozen=True)
class Config:
    address: tuple[str, int] = ("localhost", 9153)


def parse(d: Directive) -> Config:
    d.no_block()
    return Config(address_arg(d, Config.address))
