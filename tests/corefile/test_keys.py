"""Server block keys: scheme, zone, port, and reverse zones from CIDRs (CoreDNS cidr.Split/Reverse)."""

from __future__ import annotations

import pytest

from kdns.corefile.keys import parse_key
from kdns.corefile.tree import Token
from kdns.errors import ConfigError


def keys(text: str) -> list[tuple[str, str, int | None]]:
    return [(k.scheme, k.zone, k.port) for k in parse_key(Token(text, "Corefile", 7))]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (".", [("dns", ".", None)]),
        (".:53", [("dns", ".", 53)]),
        (":1053", [("dns", ".", 1053)]),
        ("dns://.:53", [("dns", ".", 53)]),
        ("DNS://Example.ORG", [("dns", "example.org.", None)]),
        ("example.org", [("dns", "example.org.", None)]),
        ("example.org.", [("dns", "example.org.", None)]),
        ("cluster.local:1053", [("dns", "cluster.local.", 1053)]),
        ("in-addr.arpa:0", [("dns", "in-addr.arpa.", 0)]),
        ("_tcp.example.org:65535", [("dns", "_tcp.example.org.", 65535)]),
        # RFC 2317 classless delegation names are zone names, not CIDRs.
        ("0/26.2.0.192.in-addr.arpa", [("dns", "0/26.2.0.192.in-addr.arpa.", None)]),
        # CIDRs on an octet boundary: one reverse zone.
        ("10.0.0.0/24", [("dns", "0.0.10.in-addr.arpa.", None)]),
        ("10.0.0.0/8:1053", [("dns", "10.in-addr.arpa.", 1053)]),
        ("dns://192.168.0.0/16", [("dns", "168.192.in-addr.arpa.", None)]),
        ("10.1.2.3/32", [("dns", "3.2.1.10.in-addr.arpa.", None)]),
        ("0.0.0.0/0", [("dns", "in-addr.arpa.", None)]),
        # Host bits are masked off, as net.ParseCIDR does.
        ("10.0.0.77/24", [("dns", "0.0.10.in-addr.arpa.", None)]),
        # Off the octet boundary: split into the next boundary's networks.
        ("10.0.0.0/23", [("dns", "0.0.10.in-addr.arpa.", None), ("dns", "1.0.10.in-addr.arpa.", None)]),
        (
            "172.16.0.0/14:53",
            [("dns", f"{n}.172.in-addr.arpa.", 53) for n in (16, 17, 18, 19)],
        ),
        ("10.0.0.0/31", [("dns", "0.0.0.10.in-addr.arpa.", None), ("dns", "1.0.0.10.in-addr.arpa.", None)]),
        # IPv6: nibble boundaries.
        ("fd00::/64", [("dns", "0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", None)]),
        ("FD00::/8:1053", [("dns", "d.f.ip6.arpa.", 1053)]),
        ("2001:db8::/32", [("dns", "8.b.d.0.1.0.0.2.ip6.arpa.", None)]),
        ("::/0", [("dns", "ip6.arpa.", None)]),
        (
            "fd00::/7",
            [("dns", "c.f.ip6.arpa.", None), ("dns", "d.f.ip6.arpa.", None)],
        ),
        (
            "2001:db8::/34",
            [("dns", f"{n}.8.b.d.0.1.0.0.2.ip6.arpa.", None) for n in "0123"],
        ),
    ],
)
def test_keys(key: str, expected: list[tuple[str, str, int | None]]) -> None:
    assert keys(key) == expected


def test_non_octet_boundary_27_gives_32_zones() -> None:
    # corefile(5): "This also works on a non octet boundary: 10.0.0.0/27".
    zones = [zone for _, zone, _ in keys("10.0.0.0/27")]
    assert zones == [f"{n}.0.0.10.in-addr.arpa." for n in range(32)]


def test_key_keeps_token() -> None:
    token = Token("example.org:1053", "conf/Corefile", 3)
    (key,) = parse_key(token)
    assert key.token is token


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("tls://.:853", "not supported by kdns"),
        ("grpc://.", "not supported by kdns"),
        ("https://example.org", "not supported by kdns"),
        ("quic://.", "not supported by kdns"),
        ("udp://.", "unknown scheme 'udp://'"),
        (".:70000", "port 70000 out of range"),
        # More digits than int() converts by default (4,300): an error, not a ValueError traceback.
        (".:" + "9" * 5000, "out of range"),
        (".:", "expecting a port"),
        (".:dns", "bad port 'dns'"),
        ("example.org:-1", "bad port '-1'"),
        ("exa$mple.org", "'exa$mple' is not a valid label"),
        ("a..b", "empty label"),
        ("..", "empty label"),
        ("b\u00fccher.de", "not a valid label"),
        ("x" * 64 + ".org", "not a valid label"),
        (".".join(["a" * 60] * 5), "longer than 255"),
        ("10.0.0.0/33", "not a valid CIDR"),
        ("10.0/16", "not a valid CIDR"),
        ("fd00::/129", "not a valid CIDR"),
        ("fd00::1", "not a valid label"),
    ],
)
def test_bad_keys(key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_key(Token(key, "conf/Corefile", 12))
    assert (e.value.file, e.value.line) == ("conf/Corefile", 12)
    assert fragment in e.value.message
    assert key in e.value.message
