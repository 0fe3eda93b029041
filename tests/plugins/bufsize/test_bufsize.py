"""bufsize: CoreDNS's setup_test.go and bufsize_test.go tables, and its README examples over real
sockets (the outgoing query's size, truncation by the capped size), fast path included."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import dns.asyncquery
import dns.flags
import dns.message
import dns.rdatatype
import pytest
from dnslib import EDNS0, DNSRecord

from conftest import kdns_server, plugin_config
from kdns import plugins
from kdns.errors import ConfigError
from kdns.plugins.bufsize.config import Config
from kdns.plugins.bufsize.handler import Handler
from kdns.request import Request
from kdns.response import Response
from kdns.server import wire
from upstreams import FakeUpstream

README = Path(plugins.__file__).parent / "bufsize" / "README.md"
EXAMPLE = re.compile(r"~~~ corefile\n(.*?)~~~", re.S)


# CoreDNS plugin/bufsize/setup_test.go TestSetupBufsize.
@pytest.mark.parametrize("line, size", [("bufsize", 1232), ('bufsize "1220"', 1220), ("bufsize 512", 512), ("bufsize 4096", 4096)])
def test_setup_good(line: str, size: int) -> None:
    assert plugin_config("bufsize", line).size == size


@pytest.mark.parametrize(
    "line, words",
    [
        ('bufsize "5000"', "out of range"),
        ('bufsize "512 512"', "not a number"),
        ('bufsize "511"', "out of range"),
        ('bufsize "abc123"', "not a number"),
        ("bufsize 512 1024", "wrong argument count"),
        ("bufsize 512 {\n x\n }", "takes no block"),
    ],
)
def test_setup_bad(line: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        plugin_config("bufsize", line)
    assert (info.value.file, info.value.line, info.value.directive) == ("Corefile", 3, "bufsize")
    assert words in info.value.message


def query(payload: int | None) -> Request:
    q = DNSRecord.question(".", "A")
    if payload is not None:
        q.add_ar(EDNS0(udp_len=payload))
    return wire.parse_query(bytes(q.pack()))


async def seen(req: Request) -> Response:
    """The next plugin: answers with the payload size the request now carries, in its wire too."""
    resp = req.answer()
    resp.error = repr((None if req.edns is None else req.edns.payload, wire.parse_query(req.wire).edns))
    return resp


# CoreDNS plugin/bufsize/bufsize_test.go TestBufsize (maximum 1024).
@pytest.mark.parametrize(
    "asked, expected", [(1024 + 128, 1024), (1024 - 128, 1024 - 128), (None, None)],
    ids=["limit response buffer size", "do not increase response buffer size", "buffer size should not be set"],
)
async def test_bufsize_table(asked: int | None, expected: int | None) -> None:
    req = query(asked)
    await Handler(seen, Config(1024))(req)
    assert (None if req.edns is None else req.edns.payload) == expected
    on_wire = wire.parse_query(req.wire).edns
    assert (None if on_wire is None else on_wire.payload) == expected


def example(index: int) -> str:
    return EXAMPLE.findall(README.read_text())[index]


async def test_readme_forward_example_asks_upstream_with_the_capped_size() -> None:
    asked: list[int | None] = []

    def record(q: DNSRecord) -> None:
        opt = [rr for rr in q.ar if rr.rtype == 41]
        asked.append(opt[0].rclass if opt else None)

    records = {("big.example.", "A"): ["big.example. 60 IN A 192.0.2.1"]}
    async with FakeUpstream(records=records, respond=record) as upstream:  # type: ignore[arg-type]
        corefile = example(0).replace(". {", ".:0 {", 1).replace("172.31.0.10", upstream.address)
        async with kdns_server(corefile) as server:
            msg = await server.query("big.example", "A", use_edns=0, payload=4096)
            small = await server.query("big.example", "A", use_edns=0, payload=700)
    assert msg.answer and small.answer
    assert 512 in asked and 4096 not in asked
    assert 700 not in asked  # 700 > 512 too: capped


ZONE = "\n".join(
    ["$ORIGIN example.org.", "@ 3600 IN SOA ns1 hostmaster 1 7200 1800 1209600 300", "@ 3600 IN NS ns1",
     "ns1 3600 IN A 192.0.2.53"]
    + [f"many 3600 IN A 192.0.2.{i}" for i in range(1, 61)]
) + "\n"


@pytest.mark.parametrize("tcp_first", [False, True], ids=["udp", "tcp-then-udp"])
async def test_readme_authoritative_example_truncates_at_the_capped_size(tcp_first: bool) -> None:
    corefile = example(1).replace(". {", ".:0 {", 1).replace("file db.example.org", "file db.example.org example.org")
    async with kdns_server(corefile, **{"db.example.org": ZONE}) as server:
        if tcp_first:
            full = await server.query("many.example.org", "A", tcp=True, use_edns=0, payload=4096)
            assert len(full.answer[0]) == 60
        for _ in range(2):
            cut = await server.query("many.example.org", "A", use_edns=0, payload=4096)
            assert cut.flags & dns.flags.TC and len(cut.to_wire()) <= 512
        roomy = await server.query("many.example.org", "A", use_edns=0, payload=4096, tcp=True)
        assert len(roomy.answer[0]) == 60


def _headless(count: int) -> str:
    endpoints = "\n".join(
        f"  - addresses: [10.244.1.{i}]\n    conditions: {{ready: true}}" for i in range(1, count + 1)
    )
    return textwrap.dedent("""\
        apiVersion: v1
        kind: Namespace
        metadata: {name: demo}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: many, namespace: demo}
        spec:
          clusterIP: None
          ports: [{name: http, port: 80, protocol: TCP}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: many-1
          namespace: demo
          labels: {kubernetes.io/service-name: many}
        addressType: IPv4
        ports: [{name: http, port: 80, protocol: TCP}]
        endpoints:
        """) + endpoints + "\n"


async def test_fast_path_answers_follow_the_capped_size(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(_headless(60))
    corefile = f"""
        cluster.local:0 {{
            bufsize 512
            kubernetes cluster.local {{
                manifests {tmp_path}
            }}
        }}
    """
    async with kdns_server(corefile) as server:
        name = "many.demo.svc.cluster.local"
        # A TCP answer of all 60 addresses must not be kept for UDP askers advertising 4096.
        full = await server.query(name, "A", tcp=True, use_edns=0, payload=4096)
        assert len(full.answer[0]) == 60
        for _ in range(3):
            cut = await server.query(name, "A", use_edns=0, payload=4096)
            assert cut.flags & dns.flags.TC and len(cut.to_wire()) <= 512
        # An answer that fits (NODATA) is stored and served from the table as usual.
        for _ in range(2):
            nodata = await server.query(name, "AAAA", use_edns=0, payload=4096)
            assert nodata.rcode() == 0 and not nodata.answer
        table = server.app.sockets[("127.0.0.1", 0)].listener.table
        assert len(table.entries) == 1
