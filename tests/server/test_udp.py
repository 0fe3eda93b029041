"""UDP over real sockets, read in batches (recvmmsg/sendmmsg) and one datagram at a time.

Both ways must answer the same: fast-path hits and slow-path misses mixed in one burst, each
reply to the socket that asked, over IPv4 and IPv6.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from conftest import REPO, kdns_server
from kdns.server import mmsg
from kdns.server.settings import ServerSettings

COREFILE = f"""
cluster.local:0 {{
    bind {{host}}
    kubernetes cluster.local {{
        manifests {REPO / "demo"}
    }}
}}
.:0 {{
    bind {{host}}
    whoami
}}
"""

MODES = [
    pytest.param(
        ServerSettings(), id="batched",
        marks=pytest.mark.skipif(not mmsg.AVAILABLE, reason="recvmmsg is Linux only"),
    ),
    pytest.param(ServerSettings(udp_batch=0), id="one-at-a-time"),
]


def question(name: str, qtype: str, qid: int) -> bytes:
    q = DNSRecord.question(name, qtype)
    q.header.id = qid
    return bytes(q.pack())


async def burst(sock: socket.socket, server: tuple[str, int], queries: list[bytes]) -> dict[int, DNSRecord]:
    """Send every query back to back, then collect replies by ID until all came or 2 s passed."""
    loop = asyncio.get_running_loop()
    for q in queries:
        sock.sendto(q, server)
    replies: dict[int, DNSRecord] = {}
    async with asyncio.timeout(2):
        while len(replies) < len(queries):
            reply = DNSRecord.parse(await loop.sock_recv(sock, 65535))
            assert reply.header.id not in replies, "one query, one reply"
            replies[reply.header.id] = reply
    return replies


@pytest.mark.parametrize("settings", MODES)
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_a_burst_of_hits_and_misses_is_answered_whole(settings: ServerSettings, host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    async with kdns_server(COREFILE.replace("{host}", host), settings=settings) as server:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.bind((host, 0))
            client_port = sock.getsockname()[1]
            address = (host, server.port)
            # First pass: every cluster name is a miss; the second pass repeats them (fast-path
            # hits) with whoami questions (never stored) interleaved, so one batch mixes both.
            names = ["web.demo.svc.cluster.local", "db.demo.svc.cluster.local", "nope.demo.svc.cluster.local"]
            first = await burst(sock, address, [question(n, "A", i) for i, n in enumerate(names)])
            assert len(first) == len(names)
            queries, expected = [], {}
            for i in range(300):
                if i % 3 == 2:
                    queries.append(question(f"who{i}.example", "A", 1000 + i))
                    expected[1000 + i] = None
                else:
                    name = names[i % 3]
                    queries.append(question(name.upper() if i % 2 else name, "A", 1000 + i))
                    expected[1000 + i] = first[names.index(name)]
            replies = await burst(sock, address, queries)
    for qid, reply in replies.items():
        want = expected[qid]
        sent = DNSRecord.parse(queries[qid - 1000])
        assert reply.q.qname == sent.q.qname and str(reply.q.qname) == str(sent.q.qname)  # 0x20 echoed
        if want is None:
            # whoami (slow path): the address and port it saw are this socket's.
            records = {QTYPE[rr.rtype]: rr for rr in reply.ar}
            seen = records["AAAA" if family == socket.AF_INET6 else "A"]
            assert str(seen.rdata) == host
            assert int(records["SRV"].rdata.port) == client_port
        else:
            assert reply.header.rcode == want.header.rcode
            assert sorted(str(rr.rdata) for rr in reply.rr) == sorted(str(rr.rdata) for rr in want.rr)


@pytest.mark.skipif(not mmsg.AVAILABLE, reason="recvmmsg is Linux only")
async def test_misses_beyond_max_inflight_in_one_batch_are_refused() -> None:
    # One at a time, each miss's task runs before the next datagram is read; a batch reads them all first.
    settings = ServerSettings(max_inflight=2)
    async with kdns_server(COREFILE.replace("{host}", "127.0.0.1"), settings=settings) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            # Sent before kdns's loop runs again: all five are read in one go, before any answer task starts.
            queries = [question(f"w{i}.example", "A", i) for i in range(5)]
            replies = await burst(sock, ("127.0.0.1", server.port), queries)
    rcodes = sorted(reply.header.rcode for reply in replies.values())
    assert rcodes == [RCODE.NOERROR] * 2 + [RCODE.REFUSED] * 3
