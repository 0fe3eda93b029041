"""`pprof [ADDRESS] { block [RATE] }`: ADDRESS is HOST:PORT (a port is required, as Go's
net.SplitHostPort wants), default localhost:6053; RATE a positive integer, default 1."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive
from kdns.server.http import address_arg


@dataclass(frozen=True)
class Config:
    address: tuple[str, int] = ("localhost", 6053)
    # Go's block profile rate; Python has no such profile, so kdns only checks and keeps it.
    block_rate: int = 0


def parse(d: Directive) -> Config:
    address = address_arg(d, Config.address, port_required=True)
    block_rate = 0
    for opt in d.options():
        if opt.name.text != "block":
            raise opt.unknown_option()
        opt.no_block()
        opt.expect_args(0, 1)
        block_rate = opt.integer(0, minimum=1) if opt.args else 1
    return Config(address, block_rate)
