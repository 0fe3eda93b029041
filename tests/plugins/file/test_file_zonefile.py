"""file: reading master files (RFC 1035 section 5) and the config errors that name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from dnslib import QTYPE

from kdns.corefile.parser import parse as parse_corefile
from kdns.corefile.tree import Directive
from kdns.errors import ConfigError
from kdns.plugins.file.config import parse
from kdns.plugins.file.zone import Zone
from kdns.plugins.file.zonefile import parse_zone

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "zones" / "db.example.org"

GOOD = """\
$TTL 1h
@   IN SOA ns hostmaster ( 7 ; serial
        2h 30m 2w 300 )
    NS  ns
ns  60 IN A 192.0.2.1
    IN 120 AAAA 2001:db8::1
mx  MX 10 @
_s._tcp SRV 0 5 5060 target
txt TXT "a b" "c\\"d" plain ; comment
$ORIGIN sub.example.org.
deep A 192.0.2.9
"""


def directive(text: str) -> Directive:
    blocks = parse_corefile(". {\n" + text + "\n}\n", "Corefile", known=lambda name: True)
    return blocks[0].directives[0]


def zone_text(zone: Zone) -> list[str]:
    return sorted(
        f"{rr.rname} {rr.ttl} {QTYPE[rr.rtype]} {rr.rdata}"
        for node in zone.nodes.values() for rrs in node.values() for rr in rrs
    )


def test_master_file_syntax() -> None:
    zone = Zone("example.org.", parse_zone(GOOD, "example.org.", "db"), "db")
    assert zone_text(zone) == sorted([
        "example.org. 3600 SOA ns.example.org. hostmaster.example.org. 7 7200 1800 1209600 300",
        "example.org. 3600 NS ns.example.org.",
        "ns.example.org. 60 A 192.0.2.1",
        "ns.example.org. 120 AAAA 2001:db8::1",  # blank owner: the previous one
        "mx.example.org. 3600 MX 10 example.org.",
        "_s._tcp.example.org. 3600 SRV 0 5 5060 target.example.org.",
        'txt.example.org. 3600 TXT "a b","c"d","plain"',
        "deep.sub.example.org. 3600 A 192.0.2.9",
    ])
    (txt,) = zone.nodes[(b"txt", b"example", b"org")][QTYPE.TXT]
    assert txt.rdata.data == [b"a b", b'c"d', b"plain"]  # quotes and escapes undone
    assert zone.serial == 7
    assert zone.negative_soa.ttl == 300  # RFC 2308: min(SOA TTL 3600, MINIMUM 300)


def test_the_shipped_example_zone_loads() -> None:
    zone = Zone("example.org.", parse_zone(EXAMPLE.read_text(), "example.org.", str(EXAMPLE)), str(EXAMPLE))
    assert len(zone.nodes[(b"big", b"example", b"org")][QTYPE.A]) == 40


def test_include(tmp_path: Path) -> None:
    (tmp_path / "part").write_text("inc A 192.0.2.3\n")
    (tmp_path / "db").write_text(GOOD + "$INCLUDE part\nafter A 192.0.2.4\n")
    config = parse(directive(f"file {tmp_path / 'db'} example.org"))
    text = zone_text(config.loaded[0])
    # $INCLUDE does not change the including file's origin (RFC 1035 section 5.1).
    assert "inc.sub.example.org. 3600 A 192.0.2.3" in text
    assert "after.sub.example.org. 3600 A 192.0.2.4" in text


def test_config(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.write_text(GOOD.split("$ORIGIN")[0])  # all names relative: serves any origin
    config = parse(directive(f"file {db} example.org Example.NET {{\n reload 30s\n}}"))
    assert (config.path, config.zones, config.reload) == (str(db), ("example.org.", "example.net."), 30.0)
    assert [str(z.origin_name) for z in config.loaded] == ["example.org.", "example.net."]
    assert parse(directive(f"file {db}")).reload == 60.0
    assert parse(directive(f"file {db} {{\n reload 0\n}}")).reload == 0.0
    # Without zones the origin comes with the server block; nothing is loaded yet.
    assert parse(directive(f"file {db}")).loaded == ()


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("file", 2, "wrong argument count"),
        ("file {db} {{\n reload\n}}", 3, "wrong argument count"),
        ("file {db} {{\n reload soon\n}}", 3, "invalid duration"),
        ("file {db} {{\n transfer to *\n}}", 3, "transfer"),
        ("file {tmp}/absent example.org", 2, "cannot read zone file"),
        ("file {db} exa..mple.org", 2, "empty label"),
    ],
)
def test_bad_directive(tmp_path: Path, text: str, line: int, needle: str) -> None:
    db = tmp_path / "db"
    db.write_text(GOOD)
    with pytest.raises(ConfigError) as info:
        parse(directive(text.format(db=db, tmp=tmp_path)))
    assert (info.value.file, info.value.line) == ("Corefile", line)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("zone", "line", "needle"),
    [
        ("@ SOA ns h 1 2 3 4 5\nok A 192.0.2.1\nbad A 192.0.2.300\n", 3, "invalid IPv4 address '192.0.2.300'"),
        ("@ SOA ns h 1 2 3 4 5\nbad AAAA 192.0.2.1\n", 2, "invalid IPv6 address '192.0.2.1'"),
        ("@ SOA ns h 1 2 3 4 5\n\n\nx BOGUS data\n", 4, "unknown or unsupported record type 'BOGUS'"),
        ("@ SOA ns h 1 2 3 4 5\nx MX mail\n", 2, "MX record needs 2 RDATA fields"),
        ("@ SOA ns h 1 2 3 4 5\nx SRV 1 2 http target\n", 2, "SRV priority, weight and port must be numbers"),
        ("@ SOA ns h ( 1 2 3\n 4 5\nx A 192.0.2.1\n", 1, "'(' without ')'"),
        ("@ SOA ns h 1 2 3 4 5\nx TXT \"open\n", 2, "unterminated quoted string"),
        ("@ SOA ns h 1 2 3 4 5\n$GENERATE 1-2 x A 1.2.3.4\n", 2, "bad control entry"),
        ("@ SOA ns h 1 2 3 4 5\nx A 192.0.2.1\nx CNAME y\n", 3, "CNAME and other data (first at line 2)"),
        ("@ SOA ns h 1 2 3 4 5\nother.example.net. A 192.0.2.1\n", 2, "out of zone data"),
        ("www A 192.0.2.1\n", 1, "no SOA record for origin example.org."),
        ("@ SOA ns h 1 2 3 4 5\n    A 192.0.2.1\n", 2, "x"),
    ],
)
def test_bad_zone_file_names_file_and_line(tmp_path: Path, zone: str, line: int, needle: str) -> None:
    if needle == "x":  # a blank owner right after the SOA is fine: it is the apex
        (tmp_path / "db").write_text(zone)
        parse(directive(f"file {tmp_path / 'db'} example.org"))
        return
    db = tmp_path / "db"
    db.write_text(zone)
    with pytest.raises(ConfigError) as info:
        parse(directive(f"file {db} example.org"))
    assert (info.value.file, info.value.line) == (str(db), line), str(info.value)
    assert needle in str(info.value)


def test_syntax_checked_even_without_zones(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.write_text("@ SOA ns h 1 2 3 4 5\nx A not-an-address\n")
    with pytest.raises(ConfigError) as info:
        parse(directive(f"file {db}"))
    assert (info.value.file, info.value.line) == (str(db), 2)


def test_escaped_dots_and_bytes_in_names_are_read_as_rfc_1035_says() -> None:
    """`\\.` is a dot inside a label and `\\DDD` a byte, in owners and in names inside the data."""
    from kdns.plugins.file.zonefile import parse_zone

    owner, cname, mx, soa = (
        located.rr for located in parse_zone(
            "a\\.b.example. 60 IN A 192.0.2.1\n"
            "x 60 IN CNAME c\\.d\n"
            "y 60 IN MX 10 e\\032f.example.\n"
            "@ 60 IN SOA ns\\.1.example. h\\200.example. 1 2 3 4 5\n",
            "example.", "db.example",
        )
    )
    assert owner.rname.label == (b"a.b", b"example")
    assert cname.rdata.label.label == (b"c.d", b"example")
    assert mx.rdata.label.label == (b"e f", b"example")
    assert (soa.rdata.mname.label, soa.rdata.rname.label) == ((b"ns.1", b"example"), (b"h\xc8", b"example"))


def test_every_class_miekg_dns_reads() -> None:
    from kdns.plugins.file.zonefile import parse_zone

    classes = [parse_zone(f'x. 60 {c} TXT "a"', ".", "db")[0].rr.rclass for c in ("IN", "CS", "ch", "HS", "NONE", "ANY")]
    assert classes == [1, 2, 3, 4, 254, 255]
