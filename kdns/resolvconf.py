"""What kdns reads of a resolv.conf file (resolv.conf(5)): the `nameserver` lines `forward . FILE`
forwards to, and the search list autopath completes names with."""

from __future__ import annotations

import ipaddress

from kdns.corefile.keys import normalize_zone


def _lines(path: str) -> list[list[str]]:
    """The words of each line. Raises OSError when the file cannot be read."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.split() for line in f.read().splitlines()]


def nameservers(path: str) -> list[str]:
    """The nameserver addresses in path, in order; lines that are not an IP address are skipped,
    as glibc skips them. Raises OSError when the file cannot be read."""
    out = []
    for words in _lines(path):
        if len(words) < 2 or words[0] != "nameserver":
            continue
        try:
            out.append(str(ipaddress.ip_address(words[1])))
        except ValueError:
            continue
    return out


def search_domains(path: str) -> tuple[str, ...]:
    """The search list of path, as zones (lowercase, fully qualified), as Go's miekg/dns
    ClientConfigFromFile reads it for CoreDNS: the last `search` or `domain` line wins (`domain`
    gives its one name). Raises OSError when the file cannot be read."""
    search: list[str] = []
    for words in _lines(path):
        if not words:
            continue
        if words[0] == "search":
            search = words[1:]
        elif words[0] == "domain":
            search = words[1:2]
    out: list[str] = []
    for name in search:
        try:
            out.extend(normalize_zone(name))
        except ValueError:
            continue
    return tuple(dict.fromkeys(out))
