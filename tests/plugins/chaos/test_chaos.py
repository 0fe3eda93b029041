"""chaos: CoreDNS's setup_test.go and chaos_test.go tables, and the README examples with dig."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import dns.asyncquery
import dns.message
import dns.rdataclass
import pytest
from dnslib import CLASS, QTYPE, RCODE, DNSRecord

from conftest import kdns_server, plugin_config
from kdns import __version__, plugins
from kdns.errors import ConfigError
from kdns.plugins.chaos.config import Config
from kdns.plugins.chaos.handler import Handler
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import parse_query

README = Path(plugins.__file__).parent / "chaos" / "README.md"
EXAMPLE = re.compile(r"~~~ corefile\n(.*?)~~~", re.S)


# CoreDNS plugin/chaos/setup_test.go TestSetupChaos, and the defaults.
@pytest.mark.parametrize(
    "line, version, authors",
    [
        ("chaos", f"kdns-{__version__}", ("kdns",)),
        ("chaos v2", "v2", ("kdns",)),
        ('chaos v3 "Miek Gieben"', "v3", ("Miek Gieben",)),
        ("chaos v4 b a b", "v4", ("a", "b")),
        ("chaos " + "v" * 300, "v" * 255, ("kdns",)),
    ],
)
def test_setup_good(line: str, version: str, authors: tuple[str, ...]) -> None:
    assert plugin_config("chaos", line) == Config(version, authors)


def test_setup_unknown_property() -> None:
    with pytest.raises(ConfigError) as info:
        plugin_config("chaos", "chaos v2 {\n        unknown\n    }")
    assert (info.value.file, info.value.line, info.value.directive) == ("Corefile", 4, "chaos")
    assert "unknown property 'unknown'" in info.value.message


def request(qname: str, qtype: str = "TXT", qclass: str = "CH") -> Request:
    q = DNSRecord.question(qname, qtype, qclass)
    return parse_query(bytes(q.pack()))


async def next_plugin(req: Request) -> Response:
    return req.answer(RCODE.NOERROR, plugin="next")


# CoreDNS plugin/chaos/chaos_test.go TestChaos, and the other names and classes.
@pytest.mark.parametrize(
    "qname, qtype, qclass, plugin, texts",
    [
        ("version.bind", "TXT", "CH", "chaos", ["CoreDNS-001"]),
        ("authors.bind", "TXT", "CH", "chaos", ["Miek Gieben"]),
        ("authors.bind", "SRV", "CH", "next", []),
        ("version.server", "TXT", "CH", "chaos", ["CoreDNS-001"]),
        ("Version.BIND", "TXT", "CH", "chaos", ["CoreDNS-001"]),
        ("hostname.bind", "TXT", "CH", "chaos", [socket.gethostname()]),
        ("id.server", "TXT", "CH", "chaos", [socket.gethostname()]),
        ("version.bind", "TXT", "IN", "next", []),
        ("example.bind", "TXT", "CH", "next", []),
    ],
)
async def test_chaos_table(qname: str, qtype: str, qclass: str, plugin: str, texts: list[str]) -> None:
    resp = await Handler(next_plugin, Config("CoreDNS-001", ("Miek Gieben",)))(request(qname, qtype, qclass))
    assert resp.plugin == plugin
    assert [b"".join(rr.rdata.data).decode() for rr in resp.msg.rr] == texts
    for rr in resp.msg.rr:
        assert (str(rr.rname), rr.rclass, rr.rtype, rr.ttl) == (qname + ".", CLASS.CH, QTYPE.TXT, 0)


async def test_authors_are_all_there_in_any_order() -> None:
    authors = tuple(f"author{i}" for i in range(8))
    orders = set()
    for _ in range(20):
        resp = await Handler(next_plugin, Config("v", authors))(request("authors.bind"))
        got = [b"".join(rr.rdata.data).decode() for rr in resp.msg.rr]
        assert sorted(got) == list(authors)
        orders.add(tuple(got))
    assert len(orders) > 1


NAMES = ["version.bind", "version.server", "authors.bind", "hostname.bind", "id.server"]


@pytest.mark.parametrize("index", [0, 1])
async def test_readme_examples_with_dig(index: int) -> None:
    corefile = EXAMPLE.findall(README.read_text())[index]
    # Every key on a free port: the Corefile's keys name none.
    head, brace, body = corefile.partition("{")
    head = " ".join(f"{key}:0" for key in head.split())
    async with kdns_server(f"{head} {brace}{body}") as server:
        for name in NAMES:
            out = await server.dig("CH", "TXT", name, "+noall", "+answer")
            lines = [line.split(None, 4) for line in out.splitlines() if line and not line.startswith(";")]
            assert lines, name
            for owner, ttl, klass, rtype, _ in lines:
                assert (owner, ttl, klass, rtype) == (name + ".", "0", "CH", "TXT")
            texts = [line[4] for line in lines]
            if name.startswith("version"):
                assert texts == ['"CoreDNS-001"']
            elif name == "authors.bind":
                assert texts == ['"info@coredns.io"']
            else:
                assert texts == [f'"{socket.gethostname()}"']


async def test_openshift_block_answers_hostname_bind_over_udp_and_tcp() -> None:
    # OpenShift's dns-operator writes `hostname.bind:5353 { chaos }` next to its main block.
    async with kdns_server("hostname.bind:0 {\n    chaos\n}\n") as server:
        for tcp in (False, True):
            q = dns.message.make_query("hostname.bind", "TXT", rdclass=dns.rdataclass.CH)
            send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
            msg = await send(q, server.host, port=server.port, timeout=3)
            assert [rd.strings for rd in msg.answer[0]] == [(socket.gethostname().encode(),)]
