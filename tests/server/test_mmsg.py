"""The batched UDP loop on real loopback sockets, both of it: mmsg_ctypes.Batch and the compiled
kdns.server._mmsg.Batch. Datagrams in, answers out, sources as the socket module has them; and the
compiled loop held to the ctypes one (which asks AnswerTable.answer) on any query."""

from __future__ import annotations

import contextlib
import gc
import random
import select
import shutil
import socket
import struct
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dnslib import EDNS0, QTYPE, RR, A, DNSRecord, EDNSOption
from hypothesis import given, settings
from hypothesis import strategies as st

from kdns.metrics import BlockMetrics
from kdns.response import Lease
from kdns.server import entryfields, mmsg, mmsg_ctypes, wire
from kdns.server.sockets import Address
from kdns.server import fastpath
from kdns.server.fastpath import AnswerTable

pytestmark = pytest.mark.skipif(not mmsg_ctypes.AVAILABLE, reason="recvmmsg is Linux only")

compiled = pytest.mark.skipif(mmsg.CompiledBatch is None, reason="kdns.server._mmsg was not built")
IMPLEMENTATIONS = [
    pytest.param(mmsg_ctypes.Batch, id="ctypes"),
    pytest.param(mmsg.CompiledBatch, id="compiled", marks=compiled),
]


def packet(
    name: str, qtype: str = "A", id: int = 1, edns: int | None = None, do: bool = False, nsid: bool = False,
) -> bytes:
    q = DNSRecord.question(name, qtype)
    q.header.id = id
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns, flags="do" if do else "", opts=[EDNSOption(wire.NSID, b"")] if nsid else []))
    return bytes(q.pack())


def store(
    table: AnswerTable, data: bytes, addresses: int = 1, shuffle: bool = False, lease: Lease | None = None,
) -> None:
    """Keep an answer of `addresses` A records to data's question, as the slow path would; with a
    lease, as the cache's answer (TTLs the lease's)."""
    req = wire.parse_query(data)
    msg = req.reply(aa=True)
    for i in range(addresses):
        msg.add_answer(RR(req.qname, QTYPE.A, rdata=A(f"10.0.{i // 250}.{i % 250}"), ttl=lease.ttl if lease else 5))
    out, cut = wire.pack(req, msg)
    assert not cut
    entry = table.store(data, req.question_end, req.edns is not None, req.do, out, (lease,) if lease else {"tag"},
                        BlockMetrics("dns://:53", "cluster.local."), "A", "NOERROR", "kubernetes", shuffle,
                        nsid=req.edns is not None and req.edns.has_option(wire.NSID))
    assert entry is not None


def leased(ttl: int, counting: bool = True) -> Lease:
    """A cache's lease on an answer made a quarter second ago: ttl whole seconds left for a while."""
    return Lease(time.monotonic() - 0.25, ttl, counting, lambda server, n: None)


@contextlib.contextmanager
def pair(impl: Any, family: int, host: str, size: int) -> Iterator[tuple[socket.socket, socket.socket, Any]]:
    """A bound server socket with its Batch, and a client socket, closed again afterwards."""
    with socket.socket(family, socket.SOCK_DGRAM) as server, socket.socket(family, socket.SOCK_DGRAM) as client:
        server.bind((host, 0))
        server.setblocking(False)
        client.bind((host, 0))
        client.settimeout(1)
        batch = impl(server, size)
        try:
            yield server, client, batch
        finally:
            batch.close()


def serve_once(batch: Any, server: socket.socket, table: AnswerTable, miss) -> None:  # type: ignore[no-untyped-def]
    select.select([server], [], [], 1)
    batch.serve(table, "1", miss)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("family,host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_answers_go_back_and_misses_carry_their_source(impl: Any, family: int, host: str) -> None:
    table = AnswerTable()
    for i in (0, 2, 4):
        store(table, packet(f"n{i}.cluster.local"))
    with pair(impl, family, host, 8) as (server, client, batch):
        queries = [packet(f"N{i}.cluster.local", id=100 + i) for i in range(6)]
        for q in queries:
            client.sendto(q, server.getsockname())
        missed = []

        def miss(query: bytes, source: Address) -> bytes | None:
            missed.append((query, source))
            # The slow path answers one miss at once; the others later (or never).
            return b"late" if query == queries[1] else None

        serve_once(batch, server, table, miss)
        replies = [client.recv(65535) for _ in range(4)]
        assert b"late" in replies
        replies.remove(b"late")
        parsed = sorted((DNSRecord.parse(r) for r in replies), key=lambda r: r.header.id)
        assert [r.header.id for r in parsed] == [100, 102, 104]
        assert [str(r.q.qname) for r in parsed] == [f"N{i}.cluster.local." for i in (0, 2, 4)]
        assert all(str(r.rr[0].rdata) == "10.0.0.0" for r in parsed)
        assert [q for q, _ in missed] == [queries[i] for i in (1, 3, 5)]
        assert all(src == client.getsockname() for _, src in missed)
        # Nothing else was sent.
        client.settimeout(0.05)
        with pytest.raises(socket.timeout):
            client.recv(65535)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_more_waiting_than_one_batch_is_read_by_the_next_call(impl: Any) -> None:
    table = AnswerTable()
    store(table, packet("a.cluster.local"))
    with pair(impl, socket.AF_INET, "127.0.0.1", 4) as (server, client, batch):
        for i in range(10):
            client.sendto(packet("a.cluster.local", id=i), server.getsockname())
        for _ in range(3):
            serve_once(batch, server, table, lambda q, src: pytest.fail("no miss expected"))
        assert sorted(DNSRecord.parse(client.recv(512)).header.id for _ in range(10)) == list(range(10))
        # A fourth call finds nothing waiting and sends nothing.
        batch.serve(table, "1", lambda q, src: pytest.fail("nothing is waiting"))


def udp_from_port_zero(payload: bytes, port: int) -> None:
    """Send payload to 127.0.0.1:port from source port 0, which no answer can be sent back to."""
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    except PermissionError:
        pytest.skip("a raw socket needs CAP_NET_RAW")
    with raw:
        # UDP over IPv4 may leave the checksum 0 (RFC 768): none is computed.
        raw.sendto(struct.pack("!HHHH", 0, port, 8 + len(payload), 0) + payload, ("127.0.0.1", 0))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_an_answer_the_kernel_refuses_costs_only_itself(impl: Any) -> None:
    table = AnswerTable()
    store(table, packet("a.cluster.local"))
    with pair(impl, socket.AF_INET, "127.0.0.1", 8) as (server, client, batch):
        port = server.getsockname()[1]
        client.sendto(packet("a.cluster.local", id=1), server.getsockname())
        # The answer to this one stops sendmmsg with EINVAL; the answers after it must still go.
        udp_from_port_zero(packet("a.cluster.local", id=2), port)
        client.sendto(packet("a.cluster.local", id=3), server.getsockname())
        serve_once(batch, server, table, lambda q, src: pytest.fail("no miss expected"))
        assert sorted(DNSRecord.parse(client.recv(512)).header.id for _ in range(2)) == [1, 3]


@pytest.mark.skipif(
    shutil.which("cc") is None or not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists(),
    reason="no C compiler or no Python headers here",
)
def test_the_compiled_loop_is_built_where_a_compiler_is() -> None:
    # setup.py's extension is optional: a broken build would show only as slower UDP and as the
    # compiled cases here skipped.
    assert mmsg.CompiledBatch is not None
    # Its type is named where it lives (tracebacks and reprs name it).
    assert f"{mmsg.CompiledBatch.__module__}.{mmsg.CompiledBatch.__qualname__}" == "kdns.server._mmsg.Batch"


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_a_miss_that_raises_stops_the_batch_but_not_the_answers_before_it(impl: Any) -> None:
    table = AnswerTable()
    store(table, packet("a.cluster.local"))
    with pair(impl, socket.AF_INET, "127.0.0.1", 8) as (server, client, batch):
        for q in (packet("a.cluster.local", id=1), b"boom", packet("a.cluster.local", id=3)):
            client.sendto(q, server.getsockname())

        def miss(query: bytes, source: Address) -> bytes | None:
            raise RuntimeError(query)

        with pytest.raises(RuntimeError, match="boom"):
            serve_once(batch, server, table, miss)
        assert DNSRecord.parse(client.recv(512)).header.id == 1
        # The batch still works: the next call reads what came since (the query read after the
        # failing one is lost, as if dropped on the way; its client asks again).
        client.sendto(packet("a.cluster.local", id=4), server.getsockname())
        serve_once(batch, server, table, miss)
        assert DNSRecord.parse(client.recv(512)).header.id == 4


@compiled
def test_the_compiled_entry_fields_are_the_plain_ones() -> None:
    # fastpath.Entry's base is one or the other, depending on the build: the same attributes.
    def public(cls: type) -> set[str]:
        return {name for name in dir(cls) if not name.startswith("_")}

    assert entryfields.EntryFields is not entryfields.PlainEntryFields
    assert public(entryfields.EntryFields) == public(entryfields.PlainEntryFields) == {
        "size", "heads", "tail", "runs", "countdown", "quick_below", "take_udp",
    }


def test_an_entry_gone_lets_go_of_its_fields() -> None:
    # EntryFields (C) holds its fields itself: its dealloc must release them, as slots would.
    heads, tail = tuple(bytes(10) for _ in range(4)), b"".join([b"ta", b"il"])
    before = sys.getrefcount(heads), sys.getrefcount(tail)
    metrics = BlockMetrics("dns://:53", "cluster.local.")
    entries = [fastpath.Entry(tail, 0, heads, metrics, "A", "NOERROR", "kubernetes", ()) for _ in range(10)]
    assert (sys.getrefcount(heads), sys.getrefcount(tail)) == (before[0] + 10, before[1] + 10)
    del entries
    gc.collect()
    assert (sys.getrefcount(heads), sys.getrefcount(tail)) == before


@compiled
def test_an_entry_gone_lets_go_of_its_countdown_and_its_untaken_counts() -> None:
    table = AnswerTable()
    store(table, packet("a.cluster.local"), lease=leased(30))
    (entry,) = table.entries.values()
    countdown, family = entry.countdown, "".join(["fam", "ily"])
    with pair(mmsg.CompiledBatch, socket.AF_INET, "127.0.0.1", 8) as (server, client, batch):
        client.sendto(packet("a.cluster.local"), server.getsockname())
        select.select([server], [], [], 1)
        batch.serve(table, family, lambda q, src: pytest.fail("no miss expected"))
        client.recv(512)
    before = sys.getrefcount(countdown), sys.getrefcount(family)
    table.entries.clear()
    del entry
    gc.collect()
    assert (sys.getrefcount(countdown), sys.getrefcount(family)) == (before[0] - 1, before[1] - 1)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_every_answer_is_counted_by_family_and_request_size_until_folded(impl: Any) -> None:
    # One question (same entry) asked in two request sizes: with an EDNS cookie and without. The
    # compiled loop tallies the first family and size in C and hands the others to Entry.count.
    table = AnswerTable()
    plain = packet("a.cluster.local", edns=1232)
    store(table, plain)
    cookie = DNSRecord.parse(plain)
    cookie.ar[0].rdata.append(EDNSOption(10, bytes(8)))
    cookied = bytes(cookie.pack())
    (entry,) = table.entries.values()
    with pair(impl, socket.AF_INET, "127.0.0.1", 8) as (server, client, batch):
        for family, queries in (("4", [plain, cookied, plain, cookied, plain]), ("6", [plain])):
            for q in queries:
                client.sendto(q, server.getsockname())
            select.select([server], [], [], 1)
            batch.serve(table, family, lambda q, src: pytest.fail("no miss expected"))
            assert len([client.recv(512) for _ in queries]) == len(queries)
    if impl is mmsg.CompiledBatch:
        assert entry.hits == {("udp", "4", len(cookied)): 2, ("udp", "6", len(plain)): 1}  # the rest is tallied
    counted = {("udp", "4", len(plain)): 3, ("udp", "4", len(cookied)): 2, ("udp", "6", len(plain)): 1}
    assert entry.collect() == counted
    assert entry.collect() == counted  # collecting twice counts nothing twice
    assert entry.quick == 6 and entry.slow == [] and entry.elapsed > 0
    entry.fold_into_metrics()
    assert entry.collect() == {} and entry.quick == 0
    assert entry.metrics.requests == {("udp", "4", "A"): 5, ("udp", "6", "A"): 1}
    sizes = entry.metrics.request_sizes["udp"]
    assert sum(sizes.counts) == 6 and sizes.total == 4 * len(plain) + 2 * len(cookied)
    assert entry.metrics.durations_of("A").counts[0] == 6


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("goes", ["scraped", "invalidated", "replaced", "cleared"])
def test_the_loops_answers_reach_the_metrics_however_the_entry_goes(impl: Any, goes: str) -> None:
    # The compiled loop's counts wait in the entry's struct: every way an entry is folded (a
    # scrape) or leaves the table must fold them too, the cache's count of its answers included.
    table = AnswerTable()
    served: list[int] = []
    lease = Lease(time.monotonic() - 0.25, 30, True, lambda server, n: served.append(n))
    store(table, packet("a.cluster.local"), lease=lease)
    (entry,) = table.entries.values()
    with pair(impl, socket.AF_INET, "127.0.0.1", 8) as (server, client, batch):
        for i in range(3):
            client.sendto(packet("a.cluster.local", id=i), server.getsockname())
        serve_once(batch, server, table, lambda q, src: pytest.fail("no miss expected"))
        assert len([client.recv(512) for _ in range(3)]) == 3
    if goes == "scraped":
        table.flush_metrics()
    elif goes == "invalidated":
        table.invalidate({lease})
    elif goes == "replaced":
        store(table, packet("a.cluster.local"), lease=lease)
    else:
        table.clear()
    assert entry.metrics.requests == {("udp", "1", "A"): 3}
    assert entry.metrics.durations_of("A").counts[0] == 3
    assert served == [3]


@compiled
@pytest.mark.skipif(sys.version_info >= (3, 12), reason="a collection runs between bytecodes, not in an allocation")
def test_counts_taken_again_while_take_udp_makes_its_tuple_are_taken_once() -> None:
    # Making take_udp's tuple may start a garbage collection, and its callbacks and finalizers run
    # Python code: one that takes the same counts first must leave nothing to take twice (nor
    # drop the family label the outer call still uses).
    table = AnswerTable()
    store(table, packet("a.cluster.local"))
    (entry,) = table.entries.values()
    family = "".join(["fam", "ily"])
    with pair(mmsg.CompiledBatch, socket.AF_INET, "127.0.0.1", 8) as (server, client, batch):
        for i in range(3):
            client.sendto(packet("a.cluster.local", id=i), server.getsockname())
        select.select([server], [], [], 1)
        batch.serve(table, family, lambda q, src: pytest.fail("no miss expected"))
    assert sys.getrefcount(family) == 3  # ours, the entry's and getrefcount's: the entry's is left
    del family

    inner: list[Any] = []

    def take_during_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and not inner:
            inner.append(entry.take_udp())

    threshold = gc.get_threshold()
    gc.disable()
    # Only a tuple not taken from the free list (up to 2000 per size) can start a collection.
    held = [(i, i, i, i) for i in range(2500)]
    gc.set_threshold(1)
    gc.callbacks.append(take_during_collection)
    try:
        gc.enable()
        outer = entry.take_udp()
    finally:
        gc.callbacks.remove(take_during_collection)
        gc.set_threshold(*threshold)
        gc.enable()
    assert inner, "no collection ran inside take_udp: the test did not test it"
    taken = [t for t in (*inner, outer) if t is not None]
    assert [(fam, n) for fam, _, n, _ in taken] == [("family", 3)]
    del held


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_an_answer_slower_than_the_first_duration_bucket_is_counted_as_slow(impl: Any) -> None:
    table = AnswerTable()
    store(table, packet("a.cluster.local"))
    (entry,) = table.entries.values()
    entry.quick_below = 0.0  # every answer is slower than that
    with pair(impl, socket.AF_INET, "127.0.0.1", 8) as (server, client, batch):
        for i in range(3):
            client.sendto(packet("a.cluster.local", id=i), server.getsockname())
        serve_once(batch, server, table, lambda q, src: pytest.fail("no miss expected"))
        assert len([client.recv(512) for _ in range(3)]) == 3
    assert sum(entry.collect().values()) == 3
    assert entry.quick == 0 and len(entry.slow) == 3


@compiled
def test_the_compiled_loop_keeps_no_references() -> None:
    # A leaked or stolen reference fails nothing else: count them, before and after.
    table = AnswerTable()
    store(table, packet("a.cluster.local"))
    (entry,) = table.entries.values()
    # Objects of this test's own: a shared constant's count moves with whatever else holds it.
    family, answer = "".join(["fam", "ily"]), b"".join([b"la", b"te"])

    def miss(query: bytes, source: Address) -> bytes:
        return answer

    watched = (table, table.entries, entry, entry.heads, entry.tail, family, miss, answer)
    queries = [packet("a.cluster.local" if i % 2 else "b.cluster.local", id=i) for i in range(8)]  # hits, misses
    with pair(mmsg.CompiledBatch, socket.AF_INET, "127.0.0.1", 8) as (server, client, batch):
        def round_trips(n: int) -> None:
            for _ in range(n):
                for q in queries:
                    client.sendto(q, server.getsockname())
                select.select([server], [], [], 1)
                batch.serve(table, family, miss)
                for _ in queries:
                    client.recv(512)

        round_trips(100)  # what stays made is made (the hits dict's keys, the interpreter's caches)
        before = [sys.getrefcount(o) for o in watched]
        gc.collect()
        blocks = sys.getallocatedblocks()
        round_trips(100)
        gc.collect()
        assert [sys.getrefcount(o) for o in watched] == before
        # Nothing made per datagram outlives it (a query, an address, a count's arguments): a leak
        # of any one of them leaves 400 blocks or more behind.
        assert sys.getallocatedblocks() - blocks < 100


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_a_batch_closed_by_a_miss_finishes_its_serve_and_serves_no_more(impl: Any) -> None:
    # A miss runs Python (the slow path), which may close the listener under the loop: the rest of
    # the batch is left unanswered, and the buffers are freed only once serve() is out of them.
    with pair(impl, socket.AF_INET, "127.0.0.1", 4) as (server, client, batch):
        for i in range(3):
            client.sendto(b"%d" % i, server.getsockname())
        seen = []

        def miss(query: bytes, source: Address) -> bytes:
            seen.append(query)
            batch.close()
            return b"answered"

        serve_once(batch, server, AnswerTable(), miss)
        assert seen == [b"0"]
        with pytest.raises(ValueError, match="closed"):
            batch.serve(AnswerTable(), "1", miss)


# The compiled loop against the ctypes one, on queries made from stored ones by every change a
# client (or an attacker) can make: spelling, flags, EDNS size and options, length, any byte.

STORED = [
    packet("web.demo.svc.cluster.local"),
    packet("web.demo.svc.cluster.local", edns=1232),
    packet("web.demo.svc.cluster.local", edns=1232, do=True),
    packet("web.demo.svc.cluster.local", edns=1232, nsid=True),  # its own entry (the nsid plugin)
    packet("db.demo.svc.cluster.local", "AAAA"),
    packet("big.demo.svc.cluster.local", edns=4096),  # 40 records: more than 512 bytes
    packet("lb.demo.svc.cluster.local"),  # shuffled per answer: answered by Python
    # The cache's answers (leased, below): TTLs patched (none to CD askers), kept as packed
    # (keepttl), expired, and shuffled and patched (answered by Python).
    packet("www.example.org", edns=1232),
    packet("keep.example.org"),
    packet("gone.example.org"),
    packet("lbc.example.org"),
]
# The first label of each: its TTL, whether it counts down, and its age (when the answer was stored).
LEASED = {b"\x03www": (300, True, 10), b"\x04keep": (30, False, 10), b"\x04gone": (30, True, 30),
          b"\x03lbc": (30, True, 5)}


def tables() -> tuple[AnswerTable, AnswerTable]:
    made = []
    for _ in range(2):
        table = AnswerTable()
        for data in STORED:
            big, lb = b"\x03big" in data, b"\x02lb" in data or b"\x03lbc" in data
            ttl, counting, age = LEASED.get(data[12 : 13 + data[12]], (0, False, 0))
            lease = leased(ttl, counting) if ttl else None
            store(table, data, addresses=40 if big else 3 if lb else 1, shuffle=lb, lease=lease)
            for entry in table.entries.values():
                if lease is not None and entry.lease is lease and entry.countdown is not None:
                    entry.countdown = (lease.born - age, ttl, entry.countdown[2])  # stored age s ago
        made.append(table)
    return made[0], made[1]


def test_the_leased_answers_are_answered_patched_kept_and_refused() -> None:
    table = tables()[0]
    ttls = {}
    for name in ("www", "keep", "lbc"):
        out = table.answer(packet(f"{name}.example.org", edns=1232 if name == "www" else None), "udp", "1")
        assert out is not None
        ttls[name] = {rr.ttl for rr in DNSRecord.parse(out).rr}
    assert ttls == {"www": {290}, "keep": {30}, "lbc": {25}}
    assert table.answer(packet("gone.example.org"), "udp", "1") is None
    cd = bytearray(packet("keep.example.org"))
    cd[3] |= 0x10
    assert table.answer(bytes(cd), "udp", "1") is None


# The big answer's size, and sizes around it: the EDNS payload sizes where the limit check turns.
BIG = max(entry.size for entry in tables()[0].entries.values())
PAYLOADS = st.one_of(st.integers(0, 65535), st.integers(BIG - 2, BIG + 2))


@st.composite
def queries(draw: st.DrawFn) -> bytes:
    """Mostly well-formed variations, so hits are common; now and then something broken."""
    def rarely(change: st.SearchStrategy[Any], otherwise: Any) -> Any:
        return draw(st.sampled_from([otherwise, otherwise, otherwise, draw(change)]))

    data = bytearray(draw(st.sampled_from(STORED)))
    data[:2] = draw(st.binary(min_size=2, max_size=2))
    end = data.index(0, 12)
    for i in draw(st.lists(st.integers(12, end - 1), max_size=4)):
        data[i] ^= 0x20  # another spelling (or, off a letter, another name)
    data[2] = rarely(st.integers(0, 255), data[2] ^ draw(st.sampled_from([0, 0x01])))
    data[3] = rarely(st.integers(0, 255), data[3] ^ draw(st.sampled_from([0, 0x10])))
    if data[11] and draw(st.booleans()):
        data[end + 8 : end + 10] = draw(PAYLOADS).to_bytes(2, "big")
    if data[11] and draw(st.booleans()):
        option = draw(st.one_of(st.binary(max_size=12), st.just(b"\x00\x03\x00\x00")))  # NSID, or anything
        data[end + 14 : end + 16] = len(option).to_bytes(2, "big")
        data += option
    for _ in range(rarely(st.integers(1, 2), 0)):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    data = data[: rarely(st.integers(0, len(data)), len(data))]
    return bytes(data + rarely(st.binary(min_size=1, max_size=3), b""))


def replies(impl: Any, table: AnswerTable, batch: list[bytes]) -> list[bytes]:
    """What one serve() call of impl sends back for batch, in order; a miss is answered b"miss"."""
    with pair(impl, socket.AF_INET, "127.0.0.1", 8) as (server, client, loop):
        for data in batch:
            client.sendto(data, server.getsockname())
        random.seed(0)  # a shuffled answer is shuffled the same way by both
        serve_once(loop, server, table, lambda query, source: b"miss" + query)
        return [client.recv(65535) for _ in batch]


@compiled
@settings(max_examples=300, deadline=None)
@given(st.lists(queries(), min_size=1, max_size=8))
def test_the_compiled_loop_answers_and_counts_as_the_ctypes_loop_does(batch: list[bytes]) -> None:
    in_ctypes, in_c = tables()
    assert replies(mmsg.CompiledBatch, in_c, batch) == replies(mmsg_ctypes.Batch, in_ctypes, batch)
    for key, entry in in_ctypes.entries.items():
        twin = in_c.entries[key]
        assert twin.collect() == entry.collect()
        assert twin.quick + len(twin.slow) == entry.quick + len(entry.slow)
