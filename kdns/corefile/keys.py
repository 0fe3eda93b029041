"""Server block keys: `[dns://]ZONE[:PORT]`, where ZONE may be a CIDR standing for reverse zones.

Follows CoreDNS's plugin.SplitHostPort and plugin/pkg/cidr: the port is whatever follows the last
colon when it is a number; a CIDR (`10.0.0.0/24`, `fd00::/64`) becomes the reverse zones that cover
it, split on octet (IPv4) or nibble (IPv6) boundaries, so `10.0.0.0/23` is two zones
(`0.0.10.in-addr.arpa.`, `1.0.10.in-addr.arpa.`) and `10.0.0.0/27` is 32 (`0.0.0.10...` to
`31.0.0.10...`), exactly the names CoreDNS answers for.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from kdns.corefile.tokens import Token, to_integer
from kdns.errors import ConfigError

SCHEME = "dns"
# Transports CoreDNS has and kdns does not (DNS over TLS, gRPC, HTTPS, QUIC).
UNSUPPORTED_SCHEMES = frozenset({"tls", "grpc", "https", "https3", "quic"})

# A label of a zone name: letters, digits, '-', '_' and, for RFC 2317 classless reverse zones
# such as 0/26.2.0.192.in-addr.arpa, '/'.
_LABEL = re.compile(r"[a-z0-9_/-]{1,63}")
# What a CIDR looks like; such a key must then parse as one ("10.0/16" is an error, not a zone).
_CIDR_SHAPE = re.compile(r"[0-9a-f:.]+/[0-9]+")


@dataclass(frozen=True, slots=True)
class ServerKey:
    """One address of a server block: `dns://example.org:1053` -> ("dns", "example.org.", 1053)."""

    scheme: str
    zone: str  # lowercased, fully qualified ("." for the root)
    port: int | None  # None: the -dns.port default
    token: Token


_Fail = Callable[[str], ConfigError]


def parse_key(token: Token, what: str = "server block key") -> list[ServerKey]:
    """The ServerKeys of one key token (several when a CIDR spans several reverse zones).

    what: the token's role in an error ("zone" when a plugin's argument is read this way).
    """
    text = token.text

    def fail(why: str) -> ConfigError:
        return ConfigError(f"invalid {what} '{text}': {why}", token.file, token.line)

    rest = text
    scheme = SCHEME
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
        scheme = scheme.lower()
        if scheme in UNSUPPORTED_SCHEMES:
            raise ConfigError(
                f"scheme '{scheme}://' of '{text}' is not supported by kdns (only dns://)",
                token.file,
                token.line,
            )
        if scheme != SCHEME:
            raise fail(f"unknown scheme '{scheme}://'")

    host, port = _split_port(rest, fail)
    try:
        zones = normalize_zone(host)
    except ValueError as e:
        raise fail(str(e)) from None
    return [ServerKey(scheme, zone, port, token) for zone in zones]


def normalize_zone(text: str) -> list[str]:
    """A zone name lowercased and fully qualified, or a CIDR's reverse zones; ValueError saying why."""
    host = text.lower()
    if "/" in host and _CIDR_SHAPE.fullmatch(host):
        try:
            network = ipaddress.ip_network(host, strict=False)
        except ValueError:
            raise ValueError("not a valid CIDR") from None
        return reverse_zones(network)
    return [_normalize_name(host)]


def _split_port(rest: str, fail: _Fail) -> tuple[str, int | None]:
    colon = rest.rfind(":")
    if colon == -1:
        return rest, None
    digits = rest[colon + 1 :]
    if not digits:
        raise fail("expecting a port after the last colon")
    if digits.isascii() and digits.isdigit():
        port = to_integer(digits)  # None past 18 digits, which int() would take thousands of
        if port is None or port > 65535:
            raise fail(f"port {digits} out of range (0-65535)")
        return rest[:colon], port
    if "/" in digits:
        return rest, None  # an IPv6 CIDR without a port: fd00::/64
    raise fail(f"bad port '{digits}'")


def _normalize_name(host: str) -> str:
    # ":53" (no zone) means the root zone, as it does in Caddy.
    if host in ("", "."):
        return "."
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    # A leading dot (".svc") passes CoreDNS's check (miekg/dns IsDomainName counts an empty first
    # label) and stays in the zone: see unreachable().
    for label in labels[1:] if len(labels) > 1 and not labels[0] else labels:
        if not label:
            raise ValueError("empty label in zone name")
        if not _LABEL.fullmatch(label):
            raise ValueError(f"'{label}' is not a valid label of a zone name")
    # Wire length: a length byte per label, the label bytes, the root byte (RFC 1035 section 3.1).
    if sum(len(label) + 1 for label in labels) + 1 > 255:
        raise ValueError("zone name longer than 255 octets")
    return name + "."


def unreachable(zone: str) -> bool:
    """A zone written with a leading dot (".svc." from `.svc`), as CoreDNS keeps it: its first label
    is empty, which no name in a query has (a DNS name ends at its first empty label), so nothing
    is ever served in it, in CoreDNS as in kdns."""
    return zone.startswith(".") and zone != "."


def unreachable_warning(text: str) -> str:
    """The load-time warning for a zone written `text` that unreachable() holds for."""
    return (
        f"zone '{text}' begins with a dot: no query name falls in it (CoreDNS reads it so too), "
        "so it serves nothing; delete it"
    )


def reverse_zones(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """The reverse zones that together are exactly network (CoreDNS cidr.Split + cidr.Reverse)."""
    digit_bits = 8 if network.version == 4 else 4
    prefix = -(-network.prefixlen // digit_bits) * digit_bits  # round up to a label boundary
    zones = []
    for subnet in network.subnets(new_prefix=prefix):
        # reverse_pointer names the network address; keep only the labels the prefix fixes.
        labels = subnet.network_address.reverse_pointer.split(".")
        host_labels = (network.max_prefixlen - prefix) // digit_bits
        zones.append(".".join(labels[host_labels:]) + ".")
    return zones
