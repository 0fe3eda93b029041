"""log: config syntax (CoreDNS plugin/log/setup_test.go cases) and the exact lines it writes."""

from __future__ import annotations

import logging
import re

import pytest
from conftest import kdns_server
from dnslib import EDNS0, QTYPE, RCODE, RR, SOA, A, DNSRecord

from kdns.corefile.parser import parse as parse_corefile
from kdns.corefile.tree import Directive
from kdns.errors import ConfigError
from kdns.plugins.log.config import COMBINED, COMMON, Config, Rule, parse
from kdns.plugins.log.handler import Handler, compile_format, response_class
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import parse_query

LOGGER = "kdns.plugins.log"
# Go's FormatFloat(secs, 'f', -1, 64) + "s": digits, maybe a fraction, never an exponent.
DURATION = r"\d+(\.\d+)?s"


def directive(text: str) -> Directive:
    blocks = parse_corefile(". {\n" + text + "\n}\n", "Corefile", known=lambda name: True)
    return blocks[0].directives[0]


def request(
    name: str = "example.org.", qtype: str = "A", client: tuple[str, int] = ("10.1.2.3", 40212),
    proto: str = "udp", edns: int | None = None, do: bool = False,
) -> Request:
    q = DNSRecord.question(name, qtype)
    q.header.id = 4242
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns, flags="do" if do else ""))
    req = parse_query(bytes(q.pack()))
    req.client = client
    req.local = ("127.0.0.1", 53)
    req.proto = proto
    return req


def a_answer(req: Request) -> Response:
    resp = req.answer(plugin="file", aa=True)
    resp.msg.add_answer(RR(req.qname, QTYPE.A, ttl=5, rdata=A("192.0.2.1")))
    return resp


async def answer_a(req: Request) -> Response:
    return a_answer(req)


async def answer_nx(req: Request) -> Response:
    resp = req.answer(RCODE.NXDOMAIN, plugin="file", aa=True)
    resp.msg.add_auth(RR("example.org.", QTYPE.SOA, ttl=5, rdata=SOA("ns.example.org.", "h.example.org.", (1, 2, 3, 4, 5))))
    return resp


async def answer_servfail(req: Request) -> Response:
    return req.answer(RCODE.SERVFAIL)


# -- config ----------------------------------------------------------------------------------


def test_bare_log_logs_everything_in_common_format() -> None:
    assert parse(directive("log")) == Config(rules=(Rule(".", COMMON, frozenset({"all"}), 0.0),))


@pytest.mark.parametrize(
    ("text", "names", "fmt", "classes"),
    [
        ("log example.org", ["example.org."], COMMON, {"all"}),
        ("log Example.ORG. example.net {combined}", ["example.org.", "example.net."], COMBINED, {"all"}),
        ("log . {common}", ["."], COMMON, {"all"}),
        ('log . "{proto} Request: {name} {type} {>id}"', ["."], "{proto} Request: {name} {type} {>id}", {"all"}),
        ("log example.org example.net", ["example.org.", "example.net."], COMMON, {"all"}),
        # Names are read as server block keys are: a CIDR stands for its reverse zones.
        ("log 10.0.0.0/23 dns://Example.ORG:53", ["0.0.10.in-addr.arpa.", "1.0.10.in-addr.arpa.", "example.org."],
         COMMON, {"all"}),
        ("log {\n class denial error\n}", ["."], COMMON, {"denial", "error"}),
        ("log . {\n class denial\n class success\n}", ["."], COMMON, {"denial", "success"}),
    ],
)
def test_good_syntax(text: str, names: list[str], fmt: str, classes: set[str]) -> None:
    rules = parse(directive(text)).rules
    assert [r.name for r in rules] == names
    assert {r.format for r in rules} == {fmt}
    assert {r.classes for r in rules} == {frozenset(classes)}


def test_min_duration() -> None:
    assert parse(directive("log {\n minDuration 1s\n}")).rules[0].min_duration == 1.0
    assert parse(directive("log {\n minDuration\n}")).rules[0].min_duration == 0.1


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("log {\n class\n}", 3, "wrong argument count"),
        ("log {\n class abc\n}", 3, "invalid Class: abc"),
        ("log {\n unknown\n}", 3, "unknown"),
        ("log {\n minDuration 1s 2s\n}", 3, "wrong argument count"),
        ("log {\n minDuration soon\n}", 3, "Illegal duration"),
        ("log a..b", 2, "empty label"),
        ("log example.org " + "x" * 64 + " {common}", 2, "not a valid label"),
        ("log {\n class all {\n x\n }\n}", 3, "'class' takes no block"),
    ],
)
def test_bad_syntax(text: str, line: int, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(directive(text))
    assert (info.value.file, info.value.line) == ("Corefile", line)
    assert needle in str(info.value)


# -- lines -----------------------------------------------------------------------------------


async def test_common_format_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    req = request()
    await Handler(answer_a, parse(directive("log")))(req)
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    # Request: 12 header + 13 name + 4 = 29 bytes. Response: + 2 (pointer) + 10 + 4 rdata = 45.
    assert re.fullmatch(
        r'10\.1\.2\.3:40212 - 4242 "A IN example\.org\. udp 29 false 512" NOERROR qr,aa,rd,ra 45 '
        + DURATION,
        record.getMessage(),
    ), record.getMessage()


async def test_ipv6_tcp_edns_do_and_lowercased_name(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    req = request("WWW.Example.org.", "AAAA", client=("::1", 5300), proto="tcp", edns=1232, do=True)
    await Handler(answer_servfail, parse(directive("log")))(req)
    line = caplog.records[0].getMessage()
    # OPT in the query: 11 more bytes (33 + 11 = 44 for the 4-label-bytes-longer name).
    assert re.fullmatch(
        r'\[::1\]:5300 - 4242 "AAAA IN www\.example\.org\. tcp 44 true 65535" SERVFAIL qr,rd,ra 44 ' + DURATION,
        line,
    ), line


async def test_udp_bufsize_is_the_edns_size(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    await Handler(answer_a, parse(directive("log")))(request(edns=4096))
    assert '"A IN example.org. udp 40 false 4096"' in caplog.records[0].getMessage()


async def test_combined_and_custom_formats(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    await Handler(answer_a, parse(directive("log . {combined}")))(request())
    assert caplog.records[0].getMessage().endswith(' "0"')
    await Handler(answer_a, parse(directive('log . "{proto} Request: {name} {type} {>id} {local} {/meta} {what}"')))(
        request()
    )
    assert caplog.records[1].getMessage() == "udp Request: example.org. A 4242 127.0.0.1 - {what}"


def test_format_parsing_keeps_unknown_braces() -> None:
    parts = compile_format("{ {name} } A } {x}{type}")
    texts = [p if isinstance(p, str) else "<field>" for p in parts]
    assert texts == ["{ ", "<field>", " }", " A }", " {x}", "<field>"]


async def test_names_and_classes_select_what_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    denials = Handler(answer_nx, parse(directive("log example.org {\n class denial\n}")))
    await denials(request("a.example.org."))
    await denials(request("a.example.net."))  # not under example.org
    errors_only = Handler(answer_nx, parse(directive("log . {\n class error\n}")))
    await errors_only(request("b.example.org."))  # a denial: not logged
    assert len(caplog.records) == 1
    assert '"A IN a.example.org. udp 31 false 512" NXDOMAIN qr,aa,rd,ra' in caplog.records[0].getMessage()


async def test_first_matching_rule_decides(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    config = Config(rules=(Rule("example.org.", "first {name}"), Rule(".", "second {name}")))
    handler = Handler(answer_a, config)
    await handler(request("x.example.org."))
    await handler(request("x.example.net."))
    assert [r.getMessage() for r in caplog.records] == ["first x.example.org.", "second x.example.net."]


async def test_exception_is_logged_as_servfail_and_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)

    async def broken(req: Request) -> Response:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await Handler(broken, parse(directive('log . "{rcode}"')))(request())
    assert [r.getMessage() for r in caplog.records] == ["SERVFAIL"]


async def test_response_class() -> None:
    req = request()
    assert response_class(req, a_answer(req)) == "success"
    assert response_class(req, await answer_nx(req)) == "denial"
    assert response_class(req, await answer_servfail(req)) == "error"
    nodata = req.answer()
    nodata.msg.add_auth(RR("example.org.", QTYPE.SOA, rdata=SOA("a.", "b.", (1, 2, 3, 4, 5))))
    assert response_class(req, nodata) == "denial"
    cname_only = req.answer()
    cname_only.msg.add_answer(*DNSRecord.question("x.", "A").replyZone("example.org. 5 IN CNAME x.").rr)
    assert response_class(req, cname_only) == "denial"  # CoreDNS: an address query without one
    assert response_class(req, req.answer(RCODE.REFUSED)) == "error"
    assert response_class(req, req.answer(RCODE.NXDOMAIN)) == "error"  # no SOA: OtherError


async def test_no_line_without_info_enabled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    resp = await Handler(answer_a, parse(directive("log")))(request())
    assert resp.rcode == RCODE.NOERROR
    assert caplog.records == []


async def test_local_is_the_address_the_query_came_in_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with kdns_server('.:0 {\n log . "{local} {remote}"\n whoami\n}\n') as server:
        await server.query("example.org", "A")
    (line,) = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert line == "127.0.0.1 127.0.0.1"
