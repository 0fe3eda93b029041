"""`ready [ADDRESS]`; ADDRESS defaults to :8181."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive
from kdns.server.http import address_arg


@dataclass(frozen=True)
class Config:
    address: tuple[str, int] = ("", 8181)


def parse(d: Directive) -> Config:
    d.no_block()
    return Config(address_arg(d, Config.address))
