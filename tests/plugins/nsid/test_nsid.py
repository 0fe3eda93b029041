"""nsid: CoreDNS's setup_test.go and nsid_test.go tables, the README example with dig, and the fast
path (a repeat gets NSID exactly when it asks)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import dns.asyncquery
import dns.edns
import dns.message
import pytest
from dnslib import EDNS0, DNSRecord, EDNSOption
from plugins.kubernetes.k8s_cases import FIXTURES

from conftest import kdns_server, plugin_config
from kdns import plugins
from kdns.errors import ConfigError
from kdns.plugins.nsid.config import Config
from kdns.plugins.nsid.handler import Handler
from kdns.plugins.whoami.config import Config as WhoamiConfig
from kdns.plugins.whoami.handler import Handler as Whoami
from kdns.server import wire

README = Path(plugins.__file__).parent / "nsid" / "README.md"
EXAMPLE = re.compile(r"~~~ corefile\n(.*?)~~~", re.S)


# CoreDNS plugin/nsid/setup_test.go TestSetupNsid.
@pytest.mark.parametrize(
    "line, data",
    [("nsid", socket.gethostname()), ('nsid "ps0"', "ps0"), ('nsid "worker1"', "worker1"),
     ('nsid "tf 2"', "tf 2"), ("nsid Use The Force", "Use The Force")],
)
def test_setup_good(line: str, data: str) -> None:
    assert plugin_config("nsid", line).data == data


@pytest.mark.parametrize(
    "lines, line, words",
    [("    nsid\n    nsid", 4, "only be used once"), ("    nsid x {\n      y\n    }", 4, "unknown property 'y'")],
)
def test_setup_bad(lines: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        plugin_config("nsid", lines)
    assert (info.value.file, info.value.line, info.value.directive) == ("Corefile", line, "nsid")
    assert words in info.value.message


def query(*options: EDNSOption, edns: bool = True) -> wire.Request:
    q = DNSRecord.question(".", "A")
    if edns:
        q.add_ar(EDNS0(udp_len=4096, opts=list(options)))
    req = wire.parse_query(bytes(q.pack()))
    req.client = ("127.0.0.1", 40000)
    return req


def nsid_of(out: bytes) -> list[bytes]:
    msg = DNSRecord.parse(out)
    return [opt.data for rr in msg.ar if rr.rtype == 41 for opt in rr.rdata if opt.code == 3]


# CoreDNS plugin/nsid/nsid_test.go TestNsid: whoami behind nsid "NSID", a query asking for it.
async def test_nsid_table() -> None:
    handler = Handler(Whoami(None, WhoamiConfig()), Config("NSID"))  # type: ignore[arg-type]
    req = query(EDNSOption(3, b""))
    resp = await handler(req)
    out, _ = wire.pack(req, resp.msg, resp.edns_options)
    assert nsid_of(out) == [b"NSID"]
    assert DNSRecord.parse(out).ar[0].rtype == 1  # whoami's records are still there


@pytest.mark.parametrize("edns", [True, False], ids=["edns-without-nsid", "no-edns"])
async def test_not_asked_not_given(edns: bool) -> None:
    handler = Handler(Whoami(None, WhoamiConfig()), Config("NSID"))  # type: ignore[arg-type]
    req = query(EDNSOption(10, b"12345678"), edns=edns) if edns else query(edns=False)
    resp = await handler(req)
    out, _ = wire.pack(req, resp.msg, resp.edns_options)
    assert nsid_of(out) == []


async def test_an_nsid_already_in_the_options_is_replaced() -> None:
    async def with_upstream_nsid(req: wire.Request):  # type: ignore[no-untyped-def]
        resp = req.answer()
        resp.edns_options = b"\x00\x03\x00\x02up" + b"\x00\x0a\x00\x08" + b"c" * 8
        return resp

    req = query(EDNSOption(3, b""))
    resp = await Handler(with_upstream_nsid, Config("mine"))(req)
    out, _ = wire.pack(req, resp.msg, resp.edns_options)
    assert nsid_of(out) == [b"mine"]


async def test_readme_example_with_dig() -> None:
    corefile = EXAMPLE.findall(README.read_text())[0].replace("example.org {", "example.org:0 {")
    async with kdns_server(corefile) as server:
        asked = await server.dig("+nsid", "a", "whoami.example.org")
        plain = await server.dig("a", "whoami.example.org")
    assert '; NSID: 55 73 65 20 54 68 65 20 46 6f 72 63 65 ("Use The Force")' in asked
    assert "status: NOERROR" in asked
    assert "NSID" not in plain and "status: NOERROR" in plain


COREFILE = f"""
cluster.local:0 {{
    nsid kdns-0
    kubernetes cluster.local {{
        manifests {FIXTURES}
    }}
}}
"""


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_fast_path_gives_nsid_exactly_to_those_asking(tcp: bool) -> None:
    async with kdns_server(COREFILE) as server:
        send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp

        async def ask(nsid: bool) -> list[bytes]:
            options = [dns.edns.GenericOption(dns.edns.NSID, b"")] if nsid else []
            q = dns.message.make_query("web.demo.svc.cluster.local", "A", use_edns=0, options=options)
            msg = await send(q, server.host, port=server.port, timeout=3)
            assert [rd.address for rd in msg.answer[0]] == ["10.96.0.10"]
            return [opt.to_wire() for opt in msg.options if opt.otype == dns.edns.NSID]

        for nsid in (False, False, True, True, False, True):
            assert await ask(nsid) == ([b"kdns-0"] if nsid else []), nsid
        table = server.app.sockets[("127.0.0.1", 0)].listener.table
        assert len(table.entries) == 2  # one for askers, one for the others
