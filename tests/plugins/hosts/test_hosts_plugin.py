"""hosts: config syntax (CoreDNS hosts/setup_test.go cases) and exact answers from a hosts file."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from kdns.corefile.parser import parse as parse_corefile
from kdns.corefile.tree import Directive
from kdns.errors import ConfigError
from kdns.plugins.hosts.config import Config, parse
from kdns.plugins.hosts.handler import Handler
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import parse_query

HOSTS = """\
# A hosts(5) file with the shapes CoreDNS's tests use.
127.0.0.1       localhost
192.0.2.10      web.example.org  www.example.org   # two names
192.0.2.11      WEB.example.org.
2001:db8::10    web.example.org
2001:db8::53    v6only.example.org
10.0.0.1        other.example.net
notanaddress    bad.example.org
192.0.2.99
"""


def directive(text: str) -> Directive:
    blocks = parse_corefile(". {\n" + text + "\n}\n", "Corefile", known=lambda name: True)
    return blocks[0].directives[0]


def request(name: str, qtype: str = "A") -> Request:
    return parse_query(bytes(DNSRecord.question(name, qtype).pack()))


async def next_plugin(req: Request) -> Response:
    return req.answer(RCODE.REFUSED, plugin="next")


@pytest.fixture
def hosts_file(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.write_text(HOSTS)
    return path


def handler(hosts_file: Path, options: str = "", zones: str = "example.org") -> Handler:
    block = " {\n" + options + "\n}" if options else ""
    return Handler(next_plugin, parse(directive(f"hosts {hosts_file} {zones}{block}")))


def records(resp: Response) -> list[str]:
    return [f"{rr.rname} {rr.ttl} {QTYPE[rr.rtype]} {rr.rdata}" for rr in resp.msg.rr]


# -- config ----------------------------------------------------------------------------------


def test_defaults() -> None:
    assert parse(directive("hosts")) == Config(path="/etc/hosts")


def test_full_syntax(hosts_file: Path) -> None:
    config = parse(
        directive(
            f"hosts {hosts_file} example.org 10.0.0.0/8 {{\n"
            " 10.0.0.5 inline.example.org alias.example.org\n"
            " fd00::5 inline.example.org\n"
            " ttl 60\n no_reverse\n reload 1m30s\n fallthrough in-addr.arpa\n}"
        )
    )
    assert config == Config(
        path=str(hosts_file),
        zones=("example.org.", "10.in-addr.arpa."),
        inline=("10.0.0.5 inline.example.org alias.example.org", "fd00::5 inline.example.org"),
        ttl=60, reverse=False, reload=90.0, fallthrough=("in-addr.arpa.",),
    )
    assert parse(directive("hosts {\n fallthrough\n reload 0\n}")).fallthrough == (".",)
    assert parse(directive("hosts {\n reload 0\n}")).reload == 0


def test_missing_file_is_only_a_warning(tmp_path: Path) -> None:
    assert parse(directive(f"hosts {tmp_path / 'absent'}")).path == str(tmp_path / "absent")


def test_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse(directive("hosts my.hosts")).path == os.path.join(str(tmp_path), "my.hosts")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("hosts {\n ttl\n}", 3, "wrong argument count"),
        ("hosts {\n ttl 0\n}", 3, "ttl must be"),
        ("hosts {\n ttl 65536\n}", 3, "ttl must be"),
        ("hosts {\n ttl ten\n}", 3, "ttl must be"),
        ("hosts {\n reload -1s\n}", 3, "invalid duration"),
        ("hosts {\n reload 1s extra\n}", 3, "wrong argument count"),
        ("hosts {\n reload often\n}", 3, "invalid duration"),
        ("hosts {\n no_reverse yes\n}", 3, "wrong argument count"),
        ("hosts {\n fallthrough\n frobnicate\n}", 4, "frobnicate"),
        # CoreDNS reads inline lines only before fallthrough: after it, even a whole one is refused.
        ("hosts {\n fallthrough\n 10.0.0.1 late.example.org\n}", 4, "unknown property '10.0.0.1'"),
        ("hosts /tmp example.org", 2, "directory"),
        ("hosts /etc/hosts exa..mple.org", 2, "empty label"),
        ("hosts {\n ttl ²\n}", 3, "ttl must be"),
        ("hosts {\n ttl ²\n}", 3, "'²' is not a number"),
        ("hosts {\n ttl --5\n}", 3, "'--5' is not a number"),
        ("hosts {\n ttl -5\n}", 3, "'-5' is out of range: ttl must be an integer from 1 to 65535"),
        ("hosts {\n fallthrough a..b\n}", 3, "empty label"),
        ("hosts /etc/hosts " + "x" * 64, 2, "not a valid label"),
        ("hosts {\n ttl 5 {\n x\n }\n}", 3, "'ttl' takes no block"),
    ],
)
def test_bad_syntax(text: str, line: int, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(directive(text))
    assert (info.value.file, info.value.line) == ("Corefile", line)
    assert needle in str(info.value)
    assert info.value.directive == "hosts"


def test_lines_coredns_skips_are_skipped_with_a_warning_naming_each(caplog: pytest.LogCaptureFixture) -> None:
    # CoreDNS reads every unknown line before `fallthrough` as an inline hosts line and skips
    # those without an address and a name: so does kdns, saying which line to delete.
    with caplog.at_level(logging.WARNING):
        config = parse(directive(
            "hosts {\n 10.0.0.5 inline.example.org\n local-cache\n tll 30\n 10.0.0.6\n fallthrough\n}"
        ))
    assert config == parse(directive("hosts {\n 10.0.0.5 inline.example.org\n fallthrough\n}"))
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("kdns.plugins.hosts", "Corefile:4: inline hosts line 'local-cache' does not begin with an "
         "address: skipped, as CoreDNS skips it; delete it"),
        ("kdns.plugins.hosts", "Corefile:5: inline hosts line 'tll 30' does not begin with an "
         "address: skipped, as CoreDNS skips it; delete it"),
        ("kdns.plugins.hosts", "Corefile:6: inline hosts line '10.0.0.6' names no host: skipped, "
         "as CoreDNS skips it; delete it"),
    ]


# -- answers ---------------------------------------------------------------------------------


async def test_a_and_aaaa(hosts_file: Path) -> None:
    h = handler(hosts_file)
    resp = await h(request("WEB.example.ORG.", "A"))
    assert (resp.rcode, resp.msg.header.aa, resp.plugin) == (RCODE.NOERROR, 1, "hosts")
    # Case-insensitive match; the owner echoes the question's spelling.
    assert records(resp) == ["WEB.example.ORG. 3600 A 192.0.2.10", "WEB.example.ORG. 3600 A 192.0.2.11"]
    assert records(await h(request("web.example.org.", "AAAA"))) == ["web.example.org. 3600 AAAA 2001:db8::10"]
    assert records(await h(request("www.example.org.", "A"))) == ["www.example.org. 3600 A 192.0.2.10"]


async def test_known_name_other_type_is_nodata(hosts_file: Path) -> None:
    h = handler(hosts_file)
    for name, qtype in (("v6only.example.org.", "A"), ("www.example.org.", "AAAA"), ("web.example.org.", "MX")):
        resp = await h(request(name, qtype))
        assert (resp.rcode, resp.msg.header.aa, resp.msg.rr, resp.msg.auth) == (RCODE.NOERROR, 1, [], [])


async def test_unknown_name_servfail_or_fallthrough(hosts_file: Path) -> None:
    assert (await handler(hosts_file)(request("nope.example.org."))).rcode == RCODE.SERVFAIL
    assert (await handler(hosts_file)(request("bad.example.org."))).rcode == RCODE.SERVFAIL
    falls = handler(hosts_file, "fallthrough")
    assert (await falls(request("nope.example.org."))).plugin == "next"
    only_reverse = handler(hosts_file, "fallthrough in-addr.arpa")
    assert (await only_reverse(request("nope.example.org."))).rcode == RCODE.SERVFAIL


async def test_names_outside_the_zones_go_on(hosts_file: Path) -> None:
    h = handler(hosts_file)
    assert (await h(request("other.example.net."))).plugin == "next"
    assert (await h(request("localhost."))).plugin == "next"
    # Zones default to the root, and to the block's zones once attached.
    every = Handler(next_plugin, parse(directive(f"hosts {hosts_file}")))
    assert records(await every(request("other.example.net."))) == ["other.example.net. 3600 A 10.0.0.1"]


async def test_ptr(hosts_file: Path) -> None:
    h = handler(hosts_file)
    resp = await h(request("10.2.0.192.in-addr.arpa.", "PTR"))
    assert records(resp) == [
        "10.2.0.192.in-addr.arpa. 3600 PTR web.example.org.",
        "10.2.0.192.in-addr.arpa. 3600 PTR www.example.org.",
    ]
    assert resp.msg.header.aa == 1
    v6 = "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
    assert records(await h(request(v6, "PTR"))) == [f"{v6} 3600 PTR web.example.org."]
    # other.example.net is outside the zones, so it has no reverse entry either.
    for name in ("1.0.0.10.in-addr.arpa.", "99.2.0.192.in-addr.arpa.", "2.0.192.in-addr.arpa."):
        assert (await h(request(name, "PTR"))).plugin == "next"


async def test_names_no_dns_message_can_carry_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # CoreDNS skips what it cannot use; kept, such a name made every PTR of its address fail.
    path = tmp_path / "hosts"
    long_label = "x" * 64 + ".example.org"
    too_long = ".".join(["a" * 63] * 4) + ".example.org"
    path.write_text(f"192.0.2.10 web.example.org a..b.example.org {long_label} {too_long}\n")
    h = handler(path)
    assert "skipping invalid name 'a..b.example.org'" in caplog.text
    resp = await h(request("10.2.0.192.in-addr.arpa.", "PTR"))
    assert records(resp) == ["10.2.0.192.in-addr.arpa. 3600 PTR web.example.org."]
    assert records(await h(request("web.example.org."))) == ["web.example.org. 3600 A 192.0.2.10"]
    assert h.file.v4 == {"web.example.org.": ["192.0.2.10"]}


async def test_no_reverse_and_ttl(hosts_file: Path) -> None:
    h = handler(hosts_file, " no_reverse\n ttl 60")
    assert (await h(request("10.2.0.192.in-addr.arpa.", "PTR"))).plugin == "next"
    assert records(await h(request("www.example.org."))) == ["www.example.org. 60 A 192.0.2.10"]


async def test_inline_entries_add_to_the_file(hosts_file: Path) -> None:
    h = handler(hosts_file, " 192.0.2.77 web.example.org inline.example.org\n fallthrough")
    assert records(await h(request("inline.example.org."))) == ["inline.example.org. 3600 A 192.0.2.77"]
    assert [str(rr.rdata) for rr in (await h(request("web.example.org."))).msg.rr] == [
        "192.0.2.10", "192.0.2.11", "192.0.2.77",
    ]


async def test_attach_uses_the_block_zones(hosts_file: Path) -> None:
    h = Handler(next_plugin, parse(directive(f"hosts {hosts_file}")))

    class Block:
        zones = ["example.net."]

    h.attach(Block())  # type: ignore[arg-type]
    assert records(await h(request("other.example.net."))) == ["other.example.net. 3600 A 10.0.0.1"]
    assert (await h(request("web.example.org."))).plugin == "next"


async def test_reload_when_the_file_changes(hosts_file: Path) -> None:
    h = handler(hosts_file, " reload 20ms\n 192.0.2.5 kept.example.org")
    await h.start()
    try:
        hosts_file.write_text("192.0.2.200 new.example.org\n")
        for _ in range(100):
            if (await h(request("new.example.org."))).rcode == RCODE.NOERROR:
                break
            await asyncio.sleep(0.02)
        assert records(await h(request("new.example.org."))) == ["new.example.org. 3600 A 192.0.2.200"]
        assert (await h(request("web.example.org."))).rcode == RCODE.SERVFAIL
        # A deleted file: its entries go, the inline ones stay (CoreDNS README).
        hosts_file.unlink()
        for _ in range(100):
            if (await h(request("new.example.org."))).rcode == RCODE.SERVFAIL:
                break
            await asyncio.sleep(0.02)
        assert (await h(request("new.example.org."))).rcode == RCODE.SERVFAIL
        assert records(await h(request("kept.example.org."))) == ["kept.example.org. 3600 A 192.0.2.5"]
    finally:
        await h.stop()


async def test_a_file_missing_at_start_is_read_once_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    h = handler(path)
    assert (await h(request("late.example.org."))).rcode == RCODE.SERVFAIL
    assert not h.refresh()
    path.write_text("192.0.2.9 late.example.org\n")
    assert h.refresh()
    assert not h.refresh()  # unchanged: not read again
    assert records(await h(request("late.example.org."))) == ["late.example.org. 3600 A 192.0.2.9"]


async def test_reload_zero_never_polls(hosts_file: Path) -> None:
    h = handler(hosts_file, " reload 0")
    await h.start()
    assert h.poller.task is None
    await h.stop()
