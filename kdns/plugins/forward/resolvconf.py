"""The `nameserver` lines of a resolv.conf file (resolv.conf(5)), which `forward . FILE` forwards to."""

from __future__ import annotations

import ipaddress


def nameservers(path: str) -> list[str]:
    """The nameserver addresses in path, in order; lines that are not an IP address are skipped,
    as glibc skips them. Raises OSError when the file cannot be read."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2 or words[0] != "nameserver":
            continue
        try:
            out.append(str(ipaddress.ip_address(words[1])))
        except ValueError:
            continue
    return out
