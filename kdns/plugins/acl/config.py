"""`acl [ZONES...] { ACTION [type QTYPE...] [net SOURCE...] [file LOCAL_FILE...] }`, as CoreDNS's setup.go.

ACTION is allow, block, filter or drop. A policy line without `type` matches every type, one
without `net` and `file` every source address (IPv4 and IPv6); `*` in either means all. A single
address stands for itself (/32, or /128 for IPv6). A LOCAL_FILE lists networks one a line, `#`
starting a comment. ZONES default to the server block's zones (filled in by the handler).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from dnslib import QTYPE

from kdns.corefile.tree import Directive, Token

ACTIONS = ("allow", "block", "filter", "drop")
_SECTIONS = ("type", "net", "file")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
EVERY_ADDRESS: tuple[Network, ...] = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


@dataclass(frozen=True)
class Policy:
    action: str
    qtypes: frozenset[int] | None  # None: every type
    networks: tuple[Network, ...]


@dataclass(frozen=True)
class Rule:
    zones: tuple[str, ...]  # empty: the server block's zones
    policies: tuple[Policy, ...]


@dataclass(frozen=True)
class Config:
    rules: tuple[Rule, ...]


def parse(d: Directive) -> Config:
    zones = d.zones()
    policies = tuple(_policy(line) for line in d.options())
    return Config((Rule(zones, policies),))


def _policy(line: Directive) -> Policy:
    action = line.name.text.lower()
    if action not in ACTIONS:
        raise line.error(f"unexpected token '{line.name.text}'; expect one of {', '.join(ACTIONS)}")
    line.no_block()
    sections: dict[str, list[Token]] = {}
    section = ""
    for token in line.args:
        keyword = token.text.lower()
        if keyword in _SECTIONS:
            if section and not sections[section]:
                raise line.error(f"no token specified in '{section}' section", token)
            section = keyword
            sections.setdefault(section, [])
        elif not section:
            raise line.error(f"unexpected token '{token.text}'; expect 'type | net | file'", token)
        else:
            sections[section].append(token)
    if section and not sections[section]:
        raise line.error(f"no token specified in '{section}' section")
    qtypes: set[int] | None = None
    if "type" in sections:
        qtypes = set()
        for token in sections["type"]:
            if token.text == "*":
                qtypes = None
                break
            code = QTYPE.reverse.get(token.text)
            if code is None:
                raise line.error(f"unexpected token '{token.text}'; expect legal QTYPE", token)
            qtypes.add(code)
    networks: list[Network] = []
    for token in sections.get("net", []):
        networks.extend(_networks(line, token.text, token))
    for token in sections.get("file", []):
        for text in _read_networks(line, token):
            networks.extend(_networks(line, text, token))
    if "net" not in sections and "file" not in sections:
        networks = list(EVERY_ADDRESS)
    return Policy(action, None if qtypes is None else frozenset(qtypes), tuple(networks))


def _networks(line: Directive, text: str, token: Token) -> tuple[Network, ...]:
    if text == "*":
        return EVERY_ADDRESS
    if "/" not in text:
        text += "/128" if ":" in text else "/32"
    try:
        # Host bits may be set, as Go's net.ParseCIDR allows ("10.218.10.8/24").
        return (ipaddress.ip_network(text, strict=False),)
    except ValueError:
        raise line.error(f"illegal CIDR notation '{text}'", token) from None


def _read_networks(line: Directive, token: Token) -> list[str]:
    path = os.path.abspath(token.text)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise line.error(f"unable to load networks from local file: {path}: {e}", token) from None
    return [text for raw in lines if (text := raw.split("#", 1)[0].strip())]
