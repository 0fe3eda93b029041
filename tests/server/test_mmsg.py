"""mmsg.Batch on real loopback sockets: datagrams in, answers out, sources as the socket module has them."""

from __future__ import annotations

import contextlib
import ctypes
import select
import socket
from collections.abc import Iterator

import pytest

from kdns.server import mmsg

pytestmark = pytest.mark.skipif(not mmsg.AVAILABLE, reason="recvmmsg is Linux only")


@contextlib.contextmanager
def pair(family: int, host: str, size: int) -> Iterator[tuple[socket.socket, socket.socket, mmsg.Batch]]:
    """A bound server socket with its Batch, and a client socket, closed again afterwards."""
    with socket.socket(family, socket.SOCK_DGRAM) as server, socket.socket(family, socket.SOCK_DGRAM) as client:
        server.bind((host, 0))
        server.setblocking(False)
        client.bind((host, 0))
        client.settimeout(1)
        batch = mmsg.Batch(server, size)
        try:
            yield server, client, batch
        finally:
            batch.close()


def serve_once(batch: mmsg.Batch, server: socket.socket, answer, miss) -> None:  # type: ignore[no-untyped-def]
    select.select([server], [], [], 1)
    batch.serve(answer, "1", miss)


@pytest.mark.parametrize("family,host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_answers_go_back_and_misses_carry_their_source(family: int, host: str) -> None:
    with pair(family, host, 8) as (server, client, batch):
        for i in range(5):
            client.sendto(b"q%d" % i, server.getsockname())
        missed = []

        def answer(query: bytes, proto: str, fam: str) -> bytes | None:
            assert (proto, fam) == ("udp", "1")
            # Odd queries are misses; even ones get an answer longer than the query.
            return None if int(query[1:]) % 2 else query * 100

        serve_once(batch, server, answer, lambda q, src: missed.append((q, src)))
        assert sorted(client.recv(65535) for _ in range(3)) == [b"q%d" % i * 100 for i in (0, 2, 4)]
        assert [q for q, _ in missed] == [b"q1", b"q3"]
        assert all(src == client.getsockname() for _, src in missed)
        # Nothing else was sent.
        client.settimeout(0.05)
        with pytest.raises(socket.timeout):
            client.recv(65535)


def test_more_waiting_than_one_batch_is_read_by_the_next_call() -> None:
    with pair(socket.AF_INET, "127.0.0.1", 4) as (server, client, batch):
        for i in range(10):
            client.sendto(b"%d" % i, server.getsockname())
        seen: list[bytes] = []

        def answer(query: bytes, proto: str, fam: str) -> bytes | None:
            seen.append(query)
            return query

        for _ in range(3):
            serve_once(batch, server, answer, lambda q, src: None)
        assert seen == [b"%d" % i for i in range(10)]
        assert sorted(client.recv(100) for _ in range(10)) == sorted(seen)


def test_an_answer_the_kernel_refuses_costs_only_itself() -> None:
    with pair(socket.AF_INET, "127.0.0.1", 8) as (server, client, batch):
        for i in range(3):
            client.sendto(b"%d" % i, server.getsockname())

        def answer(query: bytes, proto: str, fam: str) -> bytes | None:
            if query == b"1":
                # Point this answer at port 0 (sockaddr_in: family, then the port): sendmmsg stops
                # there with EINVAL, and the answers after it must still go.
                ctypes.memmove(batch.name_addresses[1] + 2, b"\x00\x00", 2)
            return b"a" + query

        serve_once(batch, server, answer, lambda q, src: None)
        assert sorted(client.recv(100) for _ in range(2)) == [b"a0", b"a2"]
