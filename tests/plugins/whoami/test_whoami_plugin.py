"""whoami: no arguments; answers every query with the client's address and port (CoreDNS whoami_test.go)."""

from __future__ import annotations

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from kdns.corefile.parser import parse as parse_corefile
from kdns.corefile.tree import Directive
from kdns.errors import ConfigError
from kdns.plugins.whoami.config import Config, parse
from kdns.plugins.whoami.handler import Handler
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import parse_query


def directive(text: str) -> Directive:
    blocks = parse_corefile(". {\n" + text + "\n}\n", "Corefile", known=lambda name: True)
    return blocks[0].directives[0]


def request(name: str, qtype: str, client: tuple[str, int], proto: str) -> Request:
    req = parse_query(bytes(DNSRecord.question(name, qtype).pack()))
    req.client = client
    req.proto = proto
    return req


async def never(req: Request) -> Response:
    raise AssertionError("whoami must not call the next plugin")


def test_syntax() -> None:
    assert parse(directive("whoami")) == Config()
    with pytest.raises(ConfigError) as info:
        parse(directive("whoami example.org"))
    assert (info.value.file, info.value.line) == ("Corefile", 2)
    with pytest.raises(ConfigError):
        parse(directive("whoami {\n x\n}"))


async def test_ipv4_over_udp() -> None:
    resp = await Handler(never, Config())(request("Example.ORG.", "A", ("10.240.0.1", 40212), "udp"))
    msg = DNSRecord.parse(resp.msg.pack())
    assert resp.plugin == "whoami"
    assert (msg.header.rcode, msg.header.aa, msg.rr) == (RCODE.NOERROR, 1, [])
    assert [rr.toZone() for rr in msg.ar] == [
        "Example.ORG.            0       IN      A       10.240.0.1",
        "_udp.Example.ORG.       0       IN      SRV     0 0 40212 .",
    ]


async def test_ipv6_over_tcp_any_type() -> None:
    resp = await Handler(never, Config())(request("example.org.", "MX", ("2001:db8::7", 53001), "tcp"))
    got = [(str(rr.rname), QTYPE[rr.rtype], rr.ttl, str(rr.rdata)) for rr in resp.msg.ar]
    assert got == [
        ("example.org.", "AAAA", 0, "2001:db8::7"),
        ("_tcp.example.org.", "SRV", 0, "0 0 53001 ."),
    ]


async def test_root_name() -> None:
    resp = await Handler(never, Config())(request(".", "A", ("127.0.0.1", 1), "udp"))
    assert [str(rr.rname) for rr in resp.msg.ar] == [".", "_udp."]


async def test_ipv4_mapped_client_gets_an_a_record() -> None:
    resp = await Handler(never, Config())(request("example.org.", "A", ("::ffff:192.0.2.9", 5), "udp"))
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in resp.msg.ar][0] == ("A", "192.0.2.9")


async def test_longest_question_gets_no_srv_rather_than_a_broken_name() -> None:
    from dnslib import DNSRecord

    from kdns.plugins.whoami.config import Config
    from kdns.plugins.whoami.handler import Handler
    from kdns.server import wire

    name = ".".join(["a" * 62] * 4)  # 4 x 63 + 1 = 253 bytes: `_udp.` on top is too long
    req = wire.parse_query(bytes(DNSRecord.question(name, "A").pack()))
    req.client = ("127.0.0.1", 5300)
    resp = await Handler(None, Config())(req)  # type: ignore[arg-type]
    out, _ = wire.pack(req, resp.msg)
    msg = DNSRecord.parse(out)
    assert [rr.rtype for rr in msg.ar] == [1]
