"""loadbalance [round_robin] { limit_answers N }: CoreDNS's syntax (plugin/loadbalance/setup.go)."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive


@dataclass(frozen=True)
class Config:
    # Keep only the first N answer records after shuffling (0: all).
    limit_answers: int = 0


def parse(d: Directive) -> Config:
    args = d.values
    if args and args[0] == "weighted":
        raise d.error("policy 'weighted' (weight files) is not supported by kdns", d.args[0])
    if args and args[0] != "round_robin":
        raise d.error(f"unknown policy: '{args[0]}'", d.args[0])
    d.expect_args(0, 1)
    limit = 0
    for opt in d.options():
        opt.no_block()
        if opt.name.text == "limit_answers":
            opt.expect_args(1, 1)
            limit = opt.integer(0)
            if limit <= 0:
                raise opt.error(f"limit_answers must be greater than zero: {limit}", opt.args[0])
        elif opt.name.text == "reload":
            raise opt.error("'reload' applies to the weighted policy, which kdns does not support")
        else:
            raise opt.unknown_option()
    return Config(limit_answers=limit)
