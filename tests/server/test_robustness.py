"""At least 10,000 random and mutated packets over UDP and TCP: the server never dies, never logs a
traceback, every answer it sends parses, and a good query is still answered afterwards."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct

import dns.message
import dns.rcode
import pytest

from conftest import REPO, kdns_server

COREFILE = f"""
example.org:0 {{
    file {REPO / "zones" / "db.example.org"}
}}
.:0 {{
    whoami
}}
"""

SEEDS = [
    dns.message.make_query(name, rdtype, use_edns=edns).to_wire()
    for name, rdtype, edns in [
        ("www.example.org", "A", False),
        ("big.example.org", "A", 0),
        ("a.b.wild.example.org", "TXT", 0),
        ("sub.example.org", "NS", False),
        ("example.org", "SOA", 0),
        ("x.example.net", "AAAA", False),
    ]
]


def mutate(rng: random.Random) -> bytes:
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 80))
    base = bytearray(rng.choice(SEEDS))
    if kind == 1:  # bit flips
        for _ in range(rng.randrange(1, 6)):
            i = rng.randrange(len(base))
            base[i] ^= 1 << rng.randrange(8)
    elif kind == 2:  # truncation
        base = base[: rng.randrange(len(base))]
    elif kind == 3:  # huge section counts
        struct.pack_into("!HHHH", base, 4, *(rng.choice([0, 1, 2, 0xFFFF]) for _ in range(4)))
    elif kind == 4:  # compression pointer loops and forward pointers in the question
        base[12:14] = bytes([0xC0, rng.choice([12, 13, 40, 255])])
    elif kind == 5:  # oversize labels and names
        base[12:12] = bytes([63]) + b"a" * 63 * rng.randrange(1, 6)
    elif kind == 6:  # bogus EDNS: wrong rdlen, odd options
        base += b"\x00\x00\x29\x10\x00\x00\x00\x00\x00" + struct.pack("!H", rng.randrange(0, 40)) + rng.randbytes(rng.randrange(0, 12))
        struct.pack_into("!H", base, 10, 1 + rng.randrange(2))
    else:  # random tail
        base += rng.randbytes(rng.randrange(1, 40))
    return bytes(base)


def check_answer(data: bytes) -> None:
    """Every answer must parse as DNS (a malformed reply would be a bug of ours)."""
    dns.message.from_wire(data, ignore_trailing=False, question_only=len(data) == 12)


async def test_ten_thousand_bad_packets_over_udp_and_tcp(caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(20261122)
    caplog.set_level(logging.WARNING)
    async with kdns_server(COREFILE) as server:
        loop = asyncio.get_running_loop()
        answers = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            for _ in range(60):
                for _ in range(120):
                    await loop.sock_sendto(sock, mutate(rng), (server.host, server.port))
                while True:
                    try:
                        data = await asyncio.wait_for(loop.sock_recv(sock, 65535), 0.05)
                    except asyncio.TimeoutError:
                        break
                    check_answer(data)
                    answers += 1
        assert answers > 1000  # most mutated packets are still answerable (FORMERR at least)

        sent_tcp = 0
        while sent_tcp < 3000:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            for _ in range(100):
                packet = mutate(rng)
                writer.write(struct.pack("!H", len(packet)) + packet)
                sent_tcp += 1
            if rng.random() < 0.3:
                writer.write(rng.randbytes(rng.randrange(1, 3)))  # a frame length, never its data
            buffer = b""
            try:
                await writer.drain()
                while True:
                    chunk = await asyncio.wait_for(reader.read(65535), 0.3)
                    if not chunk:
                        break
                    buffer += chunk
            except (asyncio.TimeoutError, ConnectionError):
                # The server closes a connection after a packet it will not answer (RFC 7766 s8).
                pass
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
            while len(buffer) >= 2:
                size = struct.unpack("!H", buffer[:2])[0]
                if len(buffer) < 2 + size:
                    break
                check_answer(buffer[2 : 2 + size])
                buffer = buffer[2 + size :]

        good = await server.query("www.example.org", "A")
        assert good.rcode() == dns.rcode.NOERROR and good.answer
        good = await server.query("www.example.org", "A", tcp=True)
        assert good.rcode() == dns.rcode.NOERROR and good.answer
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, tracebacks[0].getMessage()
