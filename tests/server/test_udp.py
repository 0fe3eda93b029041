"""UDP over real sockets, read in batches (recvmmsg/sendmmsg) and one datagram at a time.

Both ways must answer the same: fast-path hits and slow-path misses mixed in one burst, each
reply to the socket that asked, over IPv4 and IPv6.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from conftest import REPO, kdns_server
from upstreams import FakeUpstream
from kdns.server import mmsg, mmsg_ctypes, udp
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

@pytest.fixture(
    params=[
        pytest.param("compiled", marks=pytest.mark.skipif(mmsg.CompiledBatch is None, reason="_mmsg was not built")),
        pytest.param("ctypes", marks=pytest.mark.skipif(not mmsg_ctypes.AVAILABLE, reason="recvmmsg is Linux only")),
        "one-at-a-time",
    ]
)
def settings(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ServerSettings:
    """Each way a UDP socket is read: batched in C or through ctypes, or one datagram at a time."""
    if request.param == "ctypes":
        monkeypatch.setattr(mmsg, "CompiledBatch", None)
    return ServerSettings(udp_batch=0) if request.param == "one-at-a-time" else ServerSettings()


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


@pytest.mark.skipif(not mmsg_ctypes.AVAILABLE, reason="recvmmsg is Linux only")
async def test_misses_beyond_max_inflight_in_one_batch_are_refused() -> None:
    # Only a miss whose chain suspends (here: forward, to a slow upstream) is in flight; a batch
    # reads all five before any of them is answered.
    settings = ServerSettings(max_inflight=2)
    async with FakeUpstream(records={(f"w{i}.example.", "A"): [f"w{i}.example. 60 IN A 192.0.2.{i}"] for i in range(5)}) as upstream:
        upstream.behaviour.delay = 0.2
        corefile = f".:0 {{\n    bind 127.0.0.1\n    forward . {upstream.address}\n}}\n"
        async with kdns_server(corefile, settings=settings) as server:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                # Sent before kdns's loop runs again: all five are read in one go.
                queries = [question(f"w{i}.example", "A", i) for i in range(5)]
                replies = await burst(sock, ("127.0.0.1", server.port), queries)
    rcodes = sorted(reply.header.rcode for reply in replies.values())
    assert rcodes == [RCODE.NOERROR] * 2 + [RCODE.REFUSED] * 3


async def test_misses_answered_without_suspending_are_never_in_flight(settings: ServerSettings) -> None:
    # whoami answers as soon as it is asked: its misses run inline, and the overload limit never
    # turns them away, however many arrive at once.
    settings = ServerSettings(max_inflight=1, udp_batch=settings.udp_batch)
    async with kdns_server(COREFILE.replace("{host}", "127.0.0.1"), settings=settings) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            queries = [question(f"w{i}.example", "A", i) for i in range(20)]
            replies = await burst(sock, ("127.0.0.1", server.port), queries)
    assert sorted(replies) == list(range(20))
    assert all(reply.header.rcode == RCODE.NOERROR and reply.ar for reply in replies.values())


# The slow path runs inline until the chain first suspends; a task goes on from there (UdpServer.miss).

_depth: contextvars.ContextVar[int] = contextvars.ContextVar("depth", default=0)


class _Chain:
    """A stand-in Listener whose chain answers at once, or suspends until `gate` opens."""

    def __init__(self) -> None:
        self.inflight = 0
        self.gate: asyncio.Future[bytes] | None = None
        self.seen_depths: list[int] = []

    async def handle(self, data: bytes, proto: str, client: tuple[str, int], family: str) -> bytes | None:
        self.seen_depths.append(_depth.get())
        _depth.set(_depth.get() + 1)  # a context variable set by the chain must stay its own
        if data == b"wait":
            assert self.gate is not None
            try:
                return await self.gate
            except asyncio.CancelledError:
                return None
            except ValueError as e:
                return str(e).encode()
        return b"at once:" + data


class _Sent(udp.UdpServer):
    def __init__(self, chain: _Chain) -> None:
        super().__init__(chain, "1", ServerSettings(max_inflight=10))  # type: ignore[arg-type]
        self.sent: list[bytes] = []

    def send(self, out: bytes, addr: Any) -> None:
        self.sent.append(out)


async def test_a_chain_that_does_not_suspend_is_answered_inline() -> None:
    chain = _Chain()
    server = _Sent(chain)
    assert server.miss(b"q1", ("127.0.0.1", 1)) == b"at once:q1"
    assert server.miss(b"q2", ("127.0.0.1", 1)) == b"at once:q2"
    assert chain.inflight == 0 and not server.tasks
    assert chain.seen_depths == [0, 0]


async def test_a_chain_that_suspends_goes_on_as_a_task() -> None:
    chain = _Chain()
    chain.gate = asyncio.get_running_loop().create_future()
    server = _Sent(chain)
    assert server.miss(b"wait", ("127.0.0.1", 1)) is None
    assert chain.inflight == 1 and len(server.tasks) == 1
    # What the suspended chain set is not seen by the next query.
    assert server.miss(b"q", ("127.0.0.1", 1)) == b"at once:q"
    assert chain.seen_depths == [0, 0]
    chain.gate.set_result(b"later")
    await asyncio.gather(*server.tasks)
    assert server.sent == [b"later"]
    assert chain.inflight == 0 and not server.tasks


async def test_an_error_reaches_the_suspended_chain() -> None:
    chain = _Chain()
    chain.gate = asyncio.get_running_loop().create_future()
    server = _Sent(chain)
    server.miss(b"wait", ("127.0.0.1", 1))
    chain.gate.set_exception(ValueError("upstream failed"))
    await asyncio.gather(*server.tasks)
    assert server.sent == [b"upstream failed"]


async def test_cancelling_the_task_cancels_the_suspended_chain() -> None:
    chain = _Chain()
    chain.gate = asyncio.get_running_loop().create_future()
    server = _Sent(chain)
    server.miss(b"wait", ("127.0.0.1", 1))
    (task,) = server.tasks
    await asyncio.sleep(0)  # the task has started: it waits where the chain waits
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # The chain saw the cancellation where it waited (and answered nothing), and was uncounted.
    assert chain.gate.cancelled()
    assert server.sent == [] and chain.inflight == 0


@pytest.mark.parametrize("options", ["", "{ force_tcp }"])
async def test_a_chain_that_sets_a_timeout_before_it_first_waits_is_answered(
    settings: ServerSettings, options: str
) -> None:
    # forward's exchange sets asyncio.timeout() at once over TCP, which needs a current task:
    # the inline first step must hand over to the query's task before it (chain.in_task).
    records = {("w.example.", "A"): ["w.example. 60 IN A 192.0.2.7"]}
    async with FakeUpstream(records=records) as upstream:
        corefile = f".:0 {{\n    bind 127.0.0.1\n    forward . {upstream.address} {options}\n}}\n"
        async with kdns_server(corefile, settings=settings) as server:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                replies = await burst(sock, ("127.0.0.1", server.port), [question("w.example", "A", 7)])
        assert [q.proto for q in upstream.client_queries()] == ["tcp" if options else "udp"]
    reply = replies[7]
    assert reply.header.rcode == RCODE.NOERROR
    assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.7"]


@pytest.mark.skipif(not mmsg_ctypes.AVAILABLE, reason="recvmmsg is Linux only")
async def test_serving_without_the_compiled_loop_is_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(mmsg, "CompiledBatch", None)
    udp._say_not_compiled.cache_clear()
    corefile = ".:0 {\n    bind 127.0.0.1 ::1\n    whoami\n}\n"
    async with kdns_server(corefile):
        pass
    said = [r for r in caplog.records if "_mmsg was not built" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "WARNING"
