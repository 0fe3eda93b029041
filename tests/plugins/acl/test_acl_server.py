"""acl over real sockets: every README example with clients bound to several loopback addresses
(the README's 192.x networks moved to 127.x), UDP and TCP, IPv6, drop, and the fast path."""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from pathlib import Path

import dns.asyncquery
import dns.edns
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from plugins.kubernetes.k8s_cases import FIXTURES
from prometheus_client import REGISTRY

from conftest import RunningServer, kdns_server
from kdns import plugins

README = Path(plugins.__file__).parent / "acl" / "README.md"
EXAMPLE = re.compile(r"~~~ corefile\n(.*?)~~~", re.S)


def loopback_example(text: str) -> str:
    """A README example made to run on loopback: 192.x networks as 127.x, whoami behind acl."""
    text = text.replace("192.", "127.")
    head, _, _ = text.rstrip().rpartition("}")
    return head + "    whoami\n}\n"


async def outcome(
    server: RunningServer, qname: str, source: str, qtype: str = "A", tcp: bool = False, wait: float = 5.0,
) -> str:
    """allowed (whoami saw this source), REFUSED, filtered (empty NOERROR) or dropped (no reply
    within wait seconds: short where a drop is expected, long enough elsewhere that a slow answer
    on a loaded machine is not taken for one)."""
    q = dns.message.make_query(qname, qtype)
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    try:
        msg = await send(q, server.host, port=server.port, source=source, timeout=wait)
    except dns.exception.Timeout:
        return "dropped"
    rcode = dns.rcode.to_text(msg.rcode())
    if rcode != "NOERROR":
        return rcode
    if not msg.answer and not msg.additional:
        return "filtered"
    (address,) = [rrset for rrset in msg.additional if rrset.rdtype == dns.rdatatype.A]
    assert address[0].address == source
    return "allowed"


# Per README example, in order: (qname, source, qtype, outcome).
EXPECTED = [
    # block type A net 192.168.0.0/16
    [(".", "127.168.5.5", "A", "REFUSED"), (".", "127.168.5.5", "AAAA", "allowed"), (".", "127.0.0.2", "A", "allowed")],
    # filter type A net 192.168.0.0/16
    [(".", "127.168.5.5", "A", "filtered"), (".", "127.168.5.5", "MX", "allowed"), (".", "127.0.0.2", "A", "allowed")],
    # allow net 192.168.1.0/24, block net 192.168.0.0/16
    [(".", "127.168.1.5", "A", "allowed"), (".", "127.168.2.5", "A", "REFUSED"), (".", "127.0.0.2", "A", "allowed")],
    # allow net 192.168.0.0/24 192.168.1.0/24, block
    [(".", "127.168.0.5", "A", "allowed"), (".", "127.168.1.5", "A", "allowed"),
     (".", "127.168.2.5", "A", "REFUSED"), (".", "127.0.0.2", "A", "REFUSED")],
    # example.org, acl a.example.org: block net 192.168.1.0/24
    [("a.example.org", "127.168.1.5", "A", "REFUSED"), ("b.example.org", "127.168.1.5", "A", "allowed"),
     ("a.example.org", "127.0.0.2", "A", "allowed")],
    # drop net 192.0.2.0/24
    [(".", "127.0.2.9", "A", "dropped"), (".", "127.0.0.2", "A", "allowed")],
]


def test_every_readme_example_has_expectations() -> None:
    assert len(EXAMPLE.findall(README.read_text())) == len(EXPECTED)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("index", range(len(EXPECTED)))
async def test_readme_example(index: int, tcp: bool) -> None:
    corefile = loopback_example(EXAMPLE.findall(README.read_text())[index])
    async with kdns_server(corefile.replace(" {", ":0 {", 1)) as server:
        for qname, source, qtype, expected in EXPECTED[index]:
            got = await outcome(server, qname, source, qtype, tcp=tcp, wait=1.0 if expected == "dropped" else 5.0)
            assert got == expected, (corefile, qname, source, qtype)


async def test_readme_example_with_dig() -> None:
    corefile = loopback_example(EXAMPLE.findall(README.read_text())[0]).replace(" {", ":0 {", 1)
    async with kdns_server(corefile) as server:
        blocked = await server.dig("-b", "127.168.5.5", "example.org", "A")
        allowed = await server.dig("-b", "127.0.0.2", "example.org", "A")
    assert "status: REFUSED" in blocked
    assert "status: NOERROR" in allowed and "127.0.0.2" in allowed


K8S_BLOCKS = f"""
cluster.local:0 {{
    acl {{
        block net 127.0.0.3
    }}
    kubernetes cluster.local {{
        manifests {FIXTURES}
    }}
}}
in-addr.arpa:0 {{
    kubernetes cluster.local in-addr.arpa {{
        manifests {FIXTURES}
    }}
}}
"""


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_repeat_from_a_blocked_client_is_not_served_the_allowed_answer(tcp: bool) -> None:
    async with kdns_server(K8S_BLOCKS) as server:
        send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        q = dns.message.make_query("web.demo.svc.cluster.local", "A")
        for _ in range(3):
            msg = await send(q, server.host, port=server.port, source="127.0.0.2", timeout=3)
            assert [rd.address for rd in msg.answer[0]] == ["10.96.0.10"]
        msg = await send(q, server.host, port=server.port, source="127.0.0.3", timeout=3)
        assert msg.rcode() == dns.rcode.REFUSED and not msg.answer
        # The block without acl on the same port keeps the fast path.
        ptr = dns.message.make_query("10.0.96.10.in-addr.arpa", "PTR")
        for _ in range(2):
            msg = await send(ptr, server.host, port=server.port, source="127.0.0.3", timeout=3)
            assert msg.answer
        table = server.app.sockets[("127.0.0.1", 0)].listener.table
        stored = [key for key in table.entries]
        assert stored and all(b"in-addr" in key for key in stored)


async def test_dropped_query_over_tcp_sends_nothing_and_keeps_the_connection() -> None:
    corefile = ".:0 {\n    acl {\n        drop type A net 127.0.0.4\n    }\n    whoami\n}\n"
    async with kdns_server(corefile) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port, local_addr=("127.0.0.4", 0))
        try:
            for id, qtype in ((1, "A"), (2, "AAAA")):
                q = dns.message.make_query("example.org", qtype, id=id)
                wire = q.to_wire()
                writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
            size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 3))[0]
            reply = dns.message.from_wire(await reader.readexactly(size))
            assert reply.id == 2  # the AAAA answer: nothing was sent for the dropped A query
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.readexactly(2), 0.5)
        finally:
            writer.close()


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6(), reason="no IPv6 loopback")
async def test_ipv6_clients() -> None:
    corefile = ".:0 {\n    bind 127.0.0.1 ::1\n    acl {\n        block net ::1\n    }\n    whoami\n}\n"
    async with kdns_server(corefile) as server:
        ports = dict(server.app.addresses())
        q = dns.message.make_query("example.org", "A")
        msg6 = await dns.asyncquery.udp(q, "::1", port=ports["::1"], timeout=3)
        msg4 = await dns.asyncquery.udp(q, "127.0.0.1", port=ports["127.0.0.1"], timeout=3)
    assert msg6.rcode() == dns.rcode.REFUSED
    assert msg4.rcode() == dns.rcode.NOERROR


async def test_metrics() -> None:
    corefile = (
        "example.org:0 {\n    acl {\n        block net 127.0.0.5\n        filter net 127.0.0.6\n"
        "        drop net 127.0.0.7\n    }\n    whoami\n}\n"
    )
    async with kdns_server(corefile) as server:
        labels = {"server": f"dns://127.0.0.1:{server.port}", "view": ""}

        def value(name: str, **extra: str) -> float:
            return REGISTRY.get_sample_value(f"coredns_acl_{name}_requests_total", {**labels, **extra}) or 0.0

        zone = {"zone": "example.org."}
        before = (value("blocked", **zone), value("filtered", **zone), value("dropped", **zone), value("allowed"))
        for source in ("127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.8"):
            await outcome(server, "www.example.org", source, wait=1.0 if source == "127.0.0.7" else 5.0)
        after = (value("blocked", **zone), value("filtered", **zone), value("dropped", **zone), value("allowed"))
    assert [a - b for a, b in zip(after, before)] == [1, 1, 1, 2]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_blocked_and_filtered_answers_carry_an_extended_dns_error(tcp: bool) -> None:
    # CoreDNS's acl_test.go wantExtendedErrorCode: Blocked for block, Filtered for filter (RFC 8914),
    # in the OPT record of a query that had one; a query without one gets no OPT record at all.
    corefile = (
        ".:0 {\n    acl {\n        block type A net 127.0.0.5\n        filter type AAAA net 127.0.0.5\n"
        "    }\n    whoami\n}\n"
    )
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    async with kdns_server(corefile) as server:
        for qtype, rcode, code in (("A", dns.rcode.REFUSED, dns.edns.EDECode.BLOCKED),
                                   ("AAAA", dns.rcode.NOERROR, dns.edns.EDECode.FILTERED)):
            q = dns.message.make_query("example.org", qtype, use_edns=0)
            msg = await send(q, server.host, port=server.port, source="127.0.0.5", timeout=3)
            assert msg.rcode() == rcode and not msg.answer
            assert [(o.otype, o.code) for o in msg.options] == [(dns.edns.OptionType.EDE, code)]
            plain = dns.message.make_query("example.org", qtype)
            msg = await send(plain, server.host, port=server.port, source="127.0.0.5", timeout=3)
            assert msg.rcode() == rcode and msg.edns < 0
        allowed = dns.message.make_query("example.org", "A", use_edns=0)
        msg = await send(allowed, server.host, port=server.port, source="127.0.0.6", timeout=3)
        assert msg.rcode() == dns.rcode.NOERROR and not msg.options
