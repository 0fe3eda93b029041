"""acl's decisions: CoreDNS's acl_test.go TestACLServeDNS table, plus filter, drop and rule order."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from dnslib import RCODE, DNSRecord

from kdns.config import config_from_text
from kdns.request import Request
from kdns.response import Response
from kdns.server.chain import build_chain
from kdns.server.wire import parse_query

ALLOWED = "allowed"


async def allowed(req: Request) -> Response:
    return req.answer(plugin=ALLOWED)


def chain(acl_lines: str, zones: list[str]) -> Any:
    """The block's acl handler(s) in front of `allowed`, attached to a block of these zones."""
    keys = " ".join(zones) or "."
    config = config_from_text(f"{keys} {{\n{acl_lines}\n}}\n", "Corefile")
    uses = config.blocks[0].plugins
    head, handlers = build_chain(uses)
    info = SimpleNamespace(zones=config.blocks[0].zones, addresses=[], app=None)
    for handler in handlers:
        handler.attach(info)
    # The last acl handler's next is the end of the chain: point it at `allowed`.
    tail = head
    while tail.next.__class__ is type(head):
        tail = tail.next
    tail.next = allowed
    return head


def request(qname: str, qtype: str, source: str) -> Request:
    req = parse_query(bytes(DNSRecord.question(qname, qtype).pack()))
    req.client = (source, 5353)
    req.server = "dns://127.0.0.1:53"
    return req


# (name, config, block zones, qname, source, qtype, expected): acl_test.go's rows; NOERROR from the
# next plugin is written "allowed", CoreDNS's test.NextHandler(RcodeSuccess).
TABLE = [
    ("Blacklist 1 BLOCKED", "acl example.org {\n block type A net 192.168.0.0/16\n}", [],
     "www.example.org.", "192.168.0.2", "A", "REFUSED"),
    ("Blacklist 1 ALLOWED", "acl example.org {\n block type A net 192.168.0.0/16\n}", [],
     "www.example.org.", "192.167.0.2", "A", ALLOWED),
    ("Blacklist 2 BLOCKED", "acl example.org {\n block type * net 192.168.0.0/16\n}", [],
     "www.example.org.", "192.168.0.2", "AAAA", "REFUSED"),
    ("Blacklist 3 BLOCKED", "acl example.org {\n block type A\n}", [],
     "www.example.org.", "10.1.0.2", "A", "REFUSED"),
    ("Blacklist 3 ALLOWED", "acl example.org {\n block type A\n}", [],
     "www.example.org.", "10.1.0.2", "AAAA", ALLOWED),
    ("Blacklist 4 Single IP BLOCKED", "acl example.org {\n block type A net 192.168.1.2\n}", [],
     "www.example.org.", "192.168.1.2", "A", "REFUSED"),
    ("Blacklist 4 Single IP ALLOWED", "acl example.org {\n block type A net 192.168.1.2\n}", [],
     "www.example.org.", "192.168.1.3", "A", ALLOWED),
    ("Whitelist 1 ALLOWED", "acl example.org {\n allow net 192.168.0.0/16\n block\n}", [],
     "www.example.org.", "192.168.0.2", "A", ALLOWED),
    ("Whitelist 1 REFUSED", "acl example.org {\n allow type * net 192.168.0.0/16\n block\n}", [],
     "www.example.org.", "10.1.0.2", "A", "REFUSED"),
    ("Fine-Grained 1 REFUSED", "acl a.example.org {\n block type * net 192.168.1.0/24\n}", ["example.org"],
     "a.example.org.", "192.168.1.2", "A", "REFUSED"),
    ("Fine-Grained 1 ALLOWED", "acl a.example.org {\n block net 192.168.1.0/24\n}", ["example.org"],
     "www.example.org.", "192.168.1.2", "A", ALLOWED),
    ("Fine-Grained 2 REFUSED", "acl {\n block net 192.168.1.0/24\n}", ["example.org"],
     "a.example.org.", "192.168.1.2", "A", "REFUSED"),
    ("Fine-Grained 2 ALLOWED", "acl {\n block net 192.168.1.0/24\n}", ["example.org"],
     "a.example.com.", "192.168.1.2", "A", ALLOWED),
    ("Fine-Grained 3 REFUSED",
     "acl a.example.org {\n block net 192.168.1.0/24\n}\nacl b.example.org {\n block type * net 192.168.2.0/24\n}",
     ["example.org"], "b.example.org.", "192.168.2.2", "A", "REFUSED"),
    ("Fine-Grained 3 ALLOWED",
     "acl a.example.org {\n block net 192.168.1.0/24\n}\nacl b.example.org {\n block net 192.168.2.0/24\n}",
     ["example.org"], "b.example.org.", "192.168.1.2", "A", ALLOWED),
    ("Blacklist 1 BLOCKED IPv6", "acl example.org {\n block type A net 2001:db8:abcd:0012::0/64\n}", [],
     "www.example.org.", "2001:db8:abcd:0012::1230", "A", "REFUSED"),
    ("Blacklist 1 ALLOWED IPv6", "acl example.org {\n block type A net 2001:db8:abcd:0012::0/64\n}", [],
     "www.example.org.", "2001:db8:abcd:0013::0", "A", ALLOWED),
    ("Blacklist 2 BLOCKED IPv6", "acl example.org {\n block type A\n}", [],
     "www.example.org.", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "A", "REFUSED"),
    ("Blacklist 3 Single IP BLOCKED IPv6",
     "acl example.org {\n block type A net 2001:0db8:85a3:0000:0000:8a2e:0370:7334\n}", [],
     "www.example.org.", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "A", "REFUSED"),
    ("Blacklist 3 Single IP ALLOWED IPv6",
     "acl example.org {\n block type A net 2001:0db8:85a3:0000:0000:8a2e:0370:7334\n}", [],
     "www.example.org.", "2001:0db8:85a3:0000:0000:8a2e:0370:7335", "A", ALLOWED),
    ("Fine-Grained 1 REFUSED IPv6", "acl a.example.org {\n block type * net 2001:db8:abcd:0012::0/64\n}",
     ["example.org"], "a.example.org.", "2001:db8:abcd:0012:2019::0", "A", "REFUSED"),
    ("Fine-Grained 1 ALLOWED IPv6", "acl a.example.org {\n block net 2001:db8:abcd:0012::0/64\n}",
     ["example.org"], "www.example.org.", "2001:db8:abcd:0012:2019::0", "A", ALLOWED),
    # Beyond the Go table: filter, drop, an IPv4-mapped client, and an allow in an earlier acl
    # line ending the checking (CoreDNS reads all a block's acl lines as one list of rules).
    ("filter", "acl {\n filter type A net 192.168.0.0/16\n}", [],
     "www.example.org.", "192.168.3.4", "A", "NOERROR"),
    ("filter other type", "acl {\n filter type A net 192.168.0.0/16\n}", [],
     "www.example.org.", "192.168.3.4", "MX", ALLOWED),
    ("drop", "acl {\n drop net 192.0.2.0/24\n}", [], "x.example.org.", "192.0.2.9", "A", "dropped"),
    ("mapped client", "acl {\n block net 192.0.2.0/24\n}", [], "x.example.org.", "::ffff:192.0.2.9", "A", "REFUSED"),
    ("allow in an earlier line",
     "acl a.example.org {\n allow net 10.0.0.0/8\n}\nacl {\n block\n}", ["example.org"],
     "a.example.org.", "10.1.2.3", "A", ALLOWED),
    ("block in a later line", "acl a.example.org {\n allow net 10.0.0.0/8\n}\nacl {\n block\n}",
     ["example.org"], "b.example.org.", "10.1.2.3", "A", "REFUSED"),
]


@pytest.mark.parametrize("name, config, zones, qname, source, qtype, expected", TABLE, ids=[t[0] for t in TABLE])
async def test_acl_table(
    name: str, config: str, zones: list[str], qname: str, source: str, qtype: str, expected: str
) -> None:
    resp = await chain(config, zones)(request(qname, qtype, source))
    if resp.plugin == ALLOWED:
        got = ALLOWED
    elif resp.silent:
        got = "dropped"
    else:
        got = RCODE.get(resp.rcode)
        assert resp.plugin == "acl" and not resp.msg.rr and not resp.msg.auth
    assert got == expected


async def test_server_internal_query_is_not_checked() -> None:
    # Block.resolve (ExternalName chasing) runs through the chain without a client address.
    req = request("x.example.org.", "A", "")
    resp = await chain("acl {\n block\n}", [])(req)
    assert resp.plugin == ALLOWED


async def test_unparsable_client_is_blocked() -> None:
    resp = await chain("acl {\n allow\n}", [])(request("x.example.org.", "A", "not-an-address"))
    assert resp.rcode == RCODE.REFUSED
