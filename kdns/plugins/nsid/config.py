"""`nsid [DATA]`: DATA is the arguments joined by spaces (CoreDNS's setup.go), default the host name."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from kdns.corefile.tree import Directive


@dataclass(frozen=True)
class Config:
    data: str


def parse(d: Directive) -> Config:
    if d.block:
        raise d.block[0].unknown_option()
    if d.args:
        return Config(" ".join(d.values))
    return Config(socket.gethostname() or "localhost")
