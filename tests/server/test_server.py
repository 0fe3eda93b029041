"""The server over real sockets: routing, REFUSED, truncation, TCP framing and pipelining, EDNS,
bad packets, and the HTTP endpoints, with dig and dnspython as clients."""

from __future__ import annotations

import asyncio
import socket
import struct

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from conftest import REPO, kdns_server
from kdns.server.settings import ServerSettings

ZONE_COREFILE = f"""
example.org:0 {{
    file {REPO / "zones" / "db.example.org"}
    health 127.0.0.1:0
    ready 127.0.0.1:0
    prometheus 127.0.0.1:0
}}
.:0 {{
    whoami
}}
"""


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except ConnectionError:
        pass


async def udp_exchange(host: str, port: int, payload: bytes, timeout: float = 1.0) -> bytes | None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        await loop.sock_sendto(sock, payload, (host, port))
        try:
            return await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout)
        except asyncio.TimeoutError:
            return None


async def test_longest_zone_wins_and_other_names_go_to_the_root_block() -> None:
    async with kdns_server(ZONE_COREFILE) as server:
        out = await server.dig("www.example.org", "A", "+norec")
        assert "status: NOERROR" in out and "flags: qr aa" in out
        reply = await server.query("www.example.net", "A")
        # The root block has whoami: it answers with our own address in the additional section.
        assert any(rr.rdtype == dns.rdatatype.A for rr in reply.additional)


async def test_no_matching_zone_is_refused() -> None:
    async with kdns_server("example.org:0 {\n whoami\n}\n") as server:
        out = await server.dig("www.example.net", "A")
        assert "status: REFUSED" in out
        reply = await server.query("sub.EXAMPLE.org", "A")
        assert reply.rcode() == dns.rcode.NOERROR


async def test_truncated_without_edns_and_whole_over_tcp() -> None:
    async with kdns_server(ZONE_COREFILE) as server:
        out = await server.dig("big.example.org", "A", "+noedns", "+ignore")
        assert " tc" in out.split("flags:")[1].split(";")[0]
        small = await server.query("big.example.org", "A")
        assert small.flags & dns.flags.TC
        assert len(small.to_wire()) <= 512
        whole = await server.query("big.example.org", "A", tcp=True)
        assert not whole.flags & dns.flags.TC
        assert len(whole.answer[0]) == 40
        tcp_out = await server.dig("big.example.org", "A", "+tcp")
        assert tcp_out.count("\tA\t") >= 40


async def test_small_edns_size_cuts_and_large_one_does_not() -> None:
    async with kdns_server(ZONE_COREFILE) as server:
        small = await server.query("big.example.org", "A", use_edns=0, payload=600)
        assert small.flags & dns.flags.TC and len(small.to_wire()) <= 600
        assert small.edns == 0  # the OPT record stays in a cut answer
        large = await server.query("big.example.org", "A", use_edns=0, payload=4096)
        assert not large.flags & dns.flags.TC and len(large.answer[0]) == 40


async def test_badvers_for_edns_version_one() -> None:
    async with kdns_server(ZONE_COREFILE) as server:
        reply = await server.query("www.example.org", "A", use_edns=1)
        assert reply.rcode() == dns.rcode.BADVERS


async def test_pipelined_queries_on_one_tcp_connection() -> None:
    async with kdns_server(ZONE_COREFILE) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        names = ["www.example.org", "example.org", "nope.example.org", "mail.example.org", "big.example.org"]
        ids = {}
        for i, name in enumerate(names):
            q = dns.message.make_query(name, "A")
            q.id = 1000 + i
            ids[q.id] = name
            wire = q.to_wire()
            writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        seen = {}
        for _ in names:
            size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 3))[0]
            msg = dns.message.from_wire(await reader.readexactly(size))
            seen[msg.id] = msg
        await close(writer)
        assert set(seen) == set(ids)
        for id, msg in seen.items():
            assert msg.question[0].name.to_text().rstrip(".") == ids[id]
        assert seen[1002].rcode() == dns.rcode.NXDOMAIN


async def test_bad_packets_get_formerr_notimp_or_nothing() -> None:
    async with kdns_server(ZONE_COREFILE) as server:
        # Shorter than a header: dropped.
        assert await udp_exchange(server.host, server.port, b"\x12\x34\x01", 0.3) is None
        # A response: dropped (answering it could start a loop between two servers).
        response = dns.message.make_response(dns.message.make_query("example.org", "A")).to_wire()
        assert await udp_exchange(server.host, server.port, response, 0.3) is None
        # Two questions: FORMERR.
        header = struct.pack("!HHHHHH", 77, 0x0100, 2, 0, 0, 0)
        q = b"\x07example\x03org\x00\x00\x01\x00\x01"
        out = await udp_exchange(server.host, server.port, header + q + q)
        assert out is not None
        msg = dns.message.from_wire(out, question_only=True)
        assert msg.id == 77 and msg.rcode() == dns.rcode.FORMERR
        # A name running past the end: FORMERR.
        out = await udp_exchange(server.host, server.port, struct.pack("!HHHHHH", 78, 0, 1, 0, 0, 0) + b"\x07exa")
        assert out is not None and dns.message.from_wire(out).rcode() == dns.rcode.FORMERR
        # NOTIFY (opcode 4): NOTIMP.
        notify = bytearray(dns.message.make_query("example.org", "SOA").to_wire())
        notify[2] = (notify[2] & 0x87) | (4 << 3)
        out = await udp_exchange(server.host, server.port, bytes(notify))
        assert out is not None and dns.message.from_wire(out).rcode() == dns.rcode.NOTIMP
        # And the server still answers.
        assert (await server.query("www.example.org")).rcode() == dns.rcode.NOERROR


async def test_idle_and_stalled_tcp_connections_are_closed() -> None:
    quick = ServerSettings(tcp_idle_timeout=0.5, tcp_read_timeout=0.3)
    async with kdns_server(ZONE_COREFILE, settings=quick) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the server when idle
        await close(writer)
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"\x00\x30\x12")  # a frame begun, never finished
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 3) == b""
        await close(writer)


async def test_connection_cap() -> None:
    async with kdns_server(ZONE_COREFILE, settings=ServerSettings(tcp_max_connections=5)) as server:
        conns = [await asyncio.open_connection(server.host, server.port) for _ in range(5)]
        reader, writer = await asyncio.open_connection(server.host, server.port)
        assert await asyncio.wait_for(reader.read(), 3) == b""  # the sixth is closed at once
        await close(writer)
        # UDP goes on regardless.
        assert (await server.query("www.example.org")).rcode() == dns.rcode.NOERROR
        for _, w in conns:
            await close(w)


async def test_health_ready_and_metrics_endpoints() -> None:
    async with kdns_server(ZONE_COREFILE) as server:
        assert await server.http("health", "/health") == (200, "OK")
        assert await server.http("ready", "/ready") == (200, "OK")
        server_label = f'server="dns://127.0.0.1:{server.port}"'

        async def scrape() -> list[str]:
            status, body = await server.http("prometheus", "/metrics")
            assert status == 200
            return body.splitlines()

        def sample(lines: list[str], family: str, /, **labels: str) -> float:
            for line in lines:
                if line.startswith(family + "{") and server_label in line and all(
                    f'{k}="{v}"' in line for k, v in labels.items()
                ):
                    return float(line.rsplit(" ", 1)[1])
            return 0.0

        # Counts are kept per (server, zone) for the process's life, as CoreDNS's are: an earlier
        # test's server that had this port counted under the same labels. Compare before and after.
        before = await scrape()
        await server.query("www.example.org", "A")
        await server.query("www.example.org", "AAAA", tcp=True)
        await server.query("nope.example.org", "A")
        lines = await scrape()

        def added(family: str, /, **labels: str) -> float:
            value = sample(lines, family, **labels)
            assert value, f"no {family} {labels} in /metrics"
            return value - sample(before, family, **labels)

        assert added("coredns_dns_requests_total", zone="example.org.", proto="udp", family="1", type="A", view="") == 2
        assert added("coredns_dns_requests_total", zone="example.org.", proto="tcp", type="AAAA") == 1
        assert added("coredns_dns_responses_total", zone="example.org.", rcode="NXDOMAIN", plugin="file") == 1
        assert added("coredns_dns_request_duration_seconds_count", zone="example.org.", type="A") == 2
        assert added("coredns_dns_request_size_bytes_count", zone="example.org.", proto="udp") == 2
        assert added("coredns_dns_response_size_bytes_count", zone="example.org.", proto="tcp") == 1
        assert sample(lines, "coredns_plugin_enabled", zone="example.org.", name="file") == 1
        assert any(line.startswith("coredns_build_info{") for line in lines)
        assert any(line.startswith("coredns_panics_total ") for line in lines)


async def test_zone_transfers_are_refused() -> None:
    async with kdns_server(ZONE_COREFILE) as server:
        for rdtype in ("AXFR", "IXFR"):
            reply = await server.query("example.org", rdtype, tcp=True)
            assert reply.rcode() == dns.rcode.REFUSED and not reply.answer


async def test_an_answer_that_cannot_be_packed_is_servfail_and_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    from dnslib import QTYPE, RR, A, DNSLabel

    from kdns.server.mux import Block

    async with kdns_server(ZONE_COREFILE) as server:
        # A plugin answering with an owner name over 255 bytes (what whoami once did).
        async def broken(req):  # type: ignore[no-untyped-def]
            resp = req.answer()
            resp.msg.add_answer(RR(DNSLabel(["x" * 63] * 5), QTYPE.A, rdata=A("10.0.0.1")))
            return resp

        (sockets,) = server.app.sockets.values()
        listener = sockets.listener
        block = listener.blocks_by_zone["."]
        assert isinstance(block, Block)
        block.head = broken
        reply = await server.query("anything.example.net", "A")
        assert reply.rcode() == dns.rcode.SERVFAIL
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and not errors[0].exc_info
        assert (await server.query("www.example.org")).rcode() == dns.rcode.NOERROR


async def test_a_block_on_two_addresses_counts_each_under_its_own_server() -> None:
    corefile = f"""
    example.org:0 {{
        bind 127.0.0.1 127.0.0.2
        file {REPO / "zones" / "db.example.org"}
        prometheus 127.0.0.1:0
    }}
    """
    async with kdns_server(corefile) as server:
        (host_a, port_a), (host_b, port_b) = server.app.addresses()
        for host, port, times in ((host_a, port_a, 1), (host_b, port_b, 2)):
            for _ in range(times):
                q = dns.message.make_query("www.example.org", "A")
                await dns.asyncquery.udp(q, host, port=port, timeout=3)
        _, body = await server.http("prometheus", "/metrics")
        counts = {
            line.split('server="', 1)[1].split('"', 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith("coredns_dns_requests_total{") and 'zone="example.org."' in line
        }
        # Other tests' servers stay in the process-wide registry: look at this one's two only.
        want = {f"dns://{host_a}:{port_a}": 1, f"dns://{host_b}:{port_b}": 2}
        assert {k: v for k, v in counts.items() if k in want} == want
