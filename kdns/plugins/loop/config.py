"""`loop` takes no arguments."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.tree import Directive


@dataclass(frozen=True)
class Config:
    # Probes sent before giving up on getting an answer (CoreDNS tries for about 30 s).
    attempts: int = 30
    interval: float = 1.0


def parse(d: Directive) -> Config:
    d.expect_args(0, 0)
    d.no_block()
    return Config()
