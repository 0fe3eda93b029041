"""any: ANY gets one HINFO (RFC 8482, CoreDNS plugin/any); everything else goes on."""

from __future__ import annotations

import dns.message
import pytest
from dnslib import RCODE, DNSRecord

from kdns.corefile.parser import parse as parse_corefile
from kdns.corefile.tree import Directive
from kdns.errors import ConfigError
from kdns.plugins.any.config import Config, parse
from kdns.plugins.any.handler import Handler
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import parse_query


def directive(text: str) -> Directive:
    blocks = parse_corefile(". {\n" + text + "\n}\n", "Corefile", known=lambda name: True)
    return blocks[0].directives[0]


def request(name: str, qtype: str) -> Request:
    return parse_query(bytes(DNSRecord.question(name, qtype).pack()))


async def servfail(req: Request) -> Response:
    return req.answer(RCODE.SERVFAIL, plugin="next")


def test_syntax() -> None:
    assert parse(directive("any")) == Config()
    for text, line in (("any x", 2), ("any {\n foo\n}", 3)):
        with pytest.raises(ConfigError) as info:
            parse(directive(text))
        assert (info.value.file, info.value.line) == ("Corefile", line)


async def test_any_gets_hinfo() -> None:
    resp = await Handler(servfail, Config())(request("Example.org.", "ANY"))
    assert resp.plugin == "any"
    # Read back with dnspython, which knows HINFO: checks the rdata wire format too.
    msg = dns.message.from_wire(bytes(resp.msg.pack()))
    assert msg.rcode() == 0
    assert [rrset.to_text() for rrset in msg.answer] == ['Example.org. 8482 IN HINFO "ANY obsoleted" "See RFC 8482"']


async def test_other_types_go_on() -> None:
    resp = await Handler(servfail, Config())(request("example.org.", "A"))
    assert resp.plugin == "next"
