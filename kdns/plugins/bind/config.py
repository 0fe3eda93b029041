"""`bind ADDRESS|INTERFACE... [{ except ADDRESS... }]`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from kdns.corefile.tree import Directive
from kdns.plugins.bind.interfaces import interface_addresses


@dataclass(frozen=True)
class Config:
    targets: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    def hosts(self) -> list[str]:
        """Addresses to listen on: interfaces expanded, excluded ones removed, order kept."""
        out: list[str] = []
        for target in self.targets:
            for address in [target] if _is_ip(target) else interface_addresses(target):
                if address not in self.excluded and address not in out:
                    out.append(address)
        return out


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse(d: Directive) -> Config:
    targets = d.expect_args(1)
    for token in d.args:
        if not _is_ip(token.text) and not interface_addresses(token.text):
            raise d.error(f"not a valid IP address or interface name: '{token.text}'", token)
    excluded: list[str] = []
    for opt in d.options():
        if opt.name.text != "except":
            raise opt.unknown_option()
        opt.no_block()
        for token in opt.args:
            if not _is_ip(token.text):
                raise opt.error(f"not a valid IP address: '{token.text}'", token)
        excluded.extend(opt.expect_args(1))
    config = Config(tuple(targets), tuple(excluded))
    if not config.hosts():
        raise d.error("no address left to listen on after except")
    return config
