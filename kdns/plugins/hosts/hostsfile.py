"""hosts(5) text -> the maps a lookup needs: name -> addresses per family, address -> names."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

from dnslib import DNSLabel

from kdns.zones import in_zones

log = logging.getLogger(__name__)


@dataclass
class HostsMap:
    # Keys are lowercase fully qualified names; values keep file order.
    v4: dict[str, list[str]] = field(default_factory=dict)
    v6: dict[str, list[str]] = field(default_factory=dict)
    # Key: the address in canonical text (ipaddress's compressed form), IPv6 zone index dropped.
    names: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(map(len, self.v4.values())) + sum(map(len, self.v6.values())) + sum(
            map(len, self.names.values())
        )


def parse_hosts(text: str, zones: tuple[str, ...], reverse: bool) -> HostsMap:
    """Entries of a hosts file, keeping only names inside zones (as CoreDNS does).

    Like CoreDNS (a copy of Go's net/hosts.go): '#' starts a comment, a line needs an address and
    at least one name, lines whose first field is not an IP address are skipped. So are names no
    DNS message can carry (see valid_name).
    """
    hosts = HostsMap()
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            addr = ipaddress.ip_address(fields[0].split("%", 1)[0])
        except ValueError:
            continue
        # An IPv4-mapped IPv6 address is an IPv4 address to Go's net.IP.To4, so it is to us.
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        text_addr = str(addr)
        table = hosts.v4 if addr.version == 4 else hosts.v6
        for raw in fields[1:]:
            name = raw.lower()
            if not name.endswith("."):
                name += "."
            if not in_zones(name, zones):
                continue
            if not valid_name(name):
                log.warning("skipping invalid name '%s' of %s", raw, text_addr)
                continue
            table.setdefault(name, []).append(text_addr)
            if reverse:
                hosts.names.setdefault(text_addr, []).append(name)
    return hosts


def valid_name(name: str) -> bool:
    """name (fully qualified) fits in a DNS message: no empty label, labels of at most 63 octets,
    at most 255 octets in all (RFC 1035 section 2.3.4). The PTR answer would fail to encode otherwise,
    and no query can ask for such a name anyway."""
    try:
        # The same encoding (IDNA, \DDD escapes) the PTR record will use.
        label = DNSLabel(name)
    except ValueError:  # UnicodeError: an empty label or one over 63 octets
        return False
    # len() counts the dotted text without the final dot; the wire form is two octets longer.
    return len(label) <= 253


def address_of_reverse(name: str) -> str | None:
    """The address a reverse name stands for ("4.3.2.1.in-addr.arpa." -> "1.2.3.4"), else None."""
    if name.endswith(".in-addr.arpa."):
        labels = name[: -len(".in-addr.arpa.")].split(".")
        if len(labels) != 4:
            return None
        text = ".".join(reversed(labels))
    elif name.endswith(".ip6.arpa."):
        nibbles = name[: -len(".ip6.arpa.")].split(".")
        if len(nibbles) != 32 or any(len(n) != 1 for n in nibbles):
            return None
        digits = "".join(reversed(nibbles))
        text = ":".join(digits[i : i + 4] for i in range(0, 32, 4))
    else:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
