"""Packed answers for repeat questions, served without parsing or running the chain.

design.md section 3: an answer computed from watched state alone (a Response with `tags`) is kept
packed, keyed by the question's bytes lowercased plus the EDNS/DO state. A repeat of the question is
answered by patching the ID, RD and CD bits and copying the asker's question bytes over the stored
ones, so the asker's 0x20 spelling is echoed (owner names are compression pointers to the question).
Entries are dropped exactly when their source reports a change to one of their tags.

The cache's answers (a Response tagged with one Lease) are entries too: they carry the offsets of
their TTL fields and the lease's clock, are served only while the lease has whole seconds left, with
every TTL patched to them, and never to an asker that sets CD (the cache keys on CD; these entries
are made for askers without it). The cache invalidates the lease when it drops the answer.

A key is only ever built from the bytes of a query that parse_query accepted, so a lookup that finds
a key has found a well-formed question: the first zero byte after the header ends the question name
(label bytes that happen to be zero make the slice shorter than any stored key and simply miss).
"""

from __future__ import annotations

import random
import struct
from bisect import bisect_left
from collections.abc import Collection, Hashable
from time import monotonic, perf_counter

from kdns.metrics import DNS, DURATION_BUCKETS, BlockMetrics
from kdns.response import Lease
from kdns.server.entryfields import EntryFields
from kdns.server.wire import RR_FIXED, nsid_asked, read_name

# EDNS state folded into the key: no OPT, OPT, OPT with DO; with the NSID bit when the OPT record
# asks for NSID (RFC 5001): the nsid plugin answers those with an option the others must not get.
NO_EDNS, EDNS, EDNS_DO = b"\x00", b"\x01", b"\x03"
_NSID_BIT = 0x04
_OPT_FIXED = 11
_A, _AAAA, _OPT = 1, 28, 41
_CD = 0x10  # in byte 3 of the header
_FIRST_BUCKET = DURATION_BUCKETS[0]


class Entry(EntryFields):
    # size, heads, tail, runs, countdown and quick_below are EntryFields': the batched UDP loop
    # reads them (and counts answers) in C where it is compiled.
    __slots__ = ("metrics", "qtype", "rcode", "plugin", "hits", "quick", "slow", "elapsed", "lease")

    def __init__(
        self, wire: bytes, qend: int, heads: tuple[bytes, ...], metrics: BlockMetrics, qtype: str, rcode: str,
        plugin: str, runs: tuple[tuple[int, int, int], ...],
    ) -> None:
        self.size = len(wire)
        # The answer is the query's ID + heads[its RD and CD bits] + its question + tail.
        self.heads = heads
        self.tail = wire[qend:]
        self.metrics = metrics
        self.qtype = qtype
        self.rcode = rcode
        self.plugin = plugin
        self.runs = runs
        # Answers since the last fold into the metric families (fold_into_metrics), by (protocol,
        # family, request size): one dict bump per answer instead of five labelled observations.
        # The slow path's answer that made the entry is counted here too; the compiled UDP loop
        # counts its answers in EntryFields' struct, which collect() adds in.
        self.hits: dict[tuple[str, str, int], int] = {}
        self.quick = 0  # answers under the first duration bucket (all but a stalled few)
        self.slow: list[float] = []
        self.elapsed = 0.0
        # A cache answer: (lease.born, lease.ttl, offsets of the TTL fields in tail), the offsets
        # empty when the TTLs stay as packed (keepttl); None for every other answer.
        self.countdown = None
        self.lease: Lease | None = None
        # The duration histogram's first bucket: answers under it are only counted (quick),
        # slower ones kept one by one. The compiled UDP loop hands a slower one to count().
        self.quick_below = _FIRST_BUCKET

    def count(self, proto: str, family: str, request_size: int, elapsed: float) -> None:
        """One more answer from this entry, to be folded into the metrics at scrape time."""
        hit = (proto, family, request_size)
        self.hits[hit] = self.hits.get(hit, 0) + 1
        self.elapsed += elapsed
        if elapsed < self.quick_below:
            self.quick += 1
        else:
            self.slow.append(elapsed)

    def collect(self) -> dict[tuple[str, str, int], int]:
        """The answers counted so far by (protocol, family, request size), the compiled loop's included."""
        taken = self.take_udp()
        if taken is not None:
            family, size, answers, elapsed = taken
            hit = ("udp", family, size)
            self.hits[hit] = self.hits.get(hit, 0) + answers
            self.quick += answers
            self.elapsed += elapsed
        return self.hits

    def fold_into_metrics(self) -> None:
        """Add the hits counted on this entry to its block's metric families, and reset them."""
        if not self.collect():
            return
        m = self.metrics
        for (proto, family, size), n in self.hits.items():
            m.count(proto, family, self.qtype, self.rcode, self.plugin, size, self.size, n)
        hist = m.durations_of(self.qtype)
        hist.counts[0] += self.quick
        hist.total += self.elapsed
        for value in self.slow:
            hist.counts[bisect_left(hist.bounds, value)] += 1
        if self.lease is not None:
            self.lease.served(m.server, sum(self.hits.values()))
        self.hits = {}
        self.quick = 0
        self.slow = []
        self.elapsed = 0.0


class AnswerTable:
    """One per listener (address:port), shared by its UDP and TCP sides."""

    def __init__(self, capacity: int = 50_000) -> None:
        DNS.tables.add(self)
        self.capacity = capacity
        # Never rebound, only changed in place: the compiled UDP loop (_mmsg.c) reads it directly.
        self.entries: dict[bytes, Entry] = {}
        self.keys_by_tag: dict[Hashable, set[bytes]] = {}
        # Flags and counts (bytes 2-11) for the four RD/CD combinations, shared by every entry
        # with the same ones: a few dozen distinct values serve the whole table.
        self.heads: dict[bytes, tuple[bytes, ...]] = {}

    def answer(self, data: bytes, proto: str, family: str) -> bytes | None:
        """The packed answer for the query in data, or None when it must take the slow path."""
        end = data.find(0, 12)
        if end < 0 or data[2] & 0xF8 or data[4:10] != b"\x00\x01\x00\x00\x00\x00":
            return None
        qend = end + 5
        size = len(data)
        arcount = data[11] | data[10] << 8
        if arcount == 0:
            if size != qend:
                return None
            marker = NO_EDNS
            limit = 512
        elif arcount == 1 and size >= qend + _OPT_FIXED:
            # RFC 6891 section 6.1.2: root owner, TYPE 41, CLASS = payload, TTL = ext-rcode, version, flags.
            if data[qend] != 0 or data[qend + 1 : qend + 3] != b"\x00\x29" or data[qend + 6] != 0:
                return None
            rdlen = data[qend + 9] << 8 | data[qend + 10]
            if size != qend + _OPT_FIXED + rdlen:
                return None
            marker = EDNS_DO if data[qend + 7] & 0x80 else EDNS
            if rdlen:
                nsid = nsid_asked(data[qend + _OPT_FIXED :])
                if nsid is None:
                    return None
                if nsid:
                    marker = bytes((marker[0] | _NSID_BIT,))
            limit = max(512, data[qend + 3] << 8 | data[qend + 4])
        else:
            return None
        # Lowercase the name only: qtype/qclass bytes in the ASCII letter range must stay as they are.
        entry = self.entries.get(data[12 : end + 1].lower() + data[end + 1 : qend] + marker)
        if entry is None:
            return None
        start = perf_counter()
        if proto == "udp" and entry.size > limit:
            return None
        countdown = entry.countdown
        left = 0
        if countdown is not None:
            if data[3] & _CD:
                return None
            left = countdown[1] - int(monotonic() - countdown[0])
            if left <= 0:
                return None  # expired: the cache decides (serve_stale, refresh, drop)
        body = entry.tail
        if entry.runs:
            body = _shuffled(body, entry.runs)
        # heads index: RD (byte 2, bit 0) and CD (byte 3, bit 4) of the query as bits 0 and 1.
        out = b"".join((data[:2], entry.heads[data[2] & 0x01 | (data[3] & _CD) >> 3], data[12:qend], body))
        if countdown is not None and countdown[2]:
            patched = bytearray(out)
            ttl = left.to_bytes(4, "big")
            for offset in countdown[2]:
                patched[qend + offset : qend + offset + 4] = ttl
            out = bytes(patched)
        entry.count(proto, family, size, perf_counter() - start)
        return out

    def store(
        self, query: bytes, qend: int, edns: bool, do: bool, wire: bytes, tags: Collection[Hashable],
        metrics: BlockMetrics, qtype: str, rcode: str, plugin: str, shuffle: bool = False, nsid: bool = False,
    ) -> Entry | None:
        """Keep wire as the answer to repeats of query; shuffle: its A/AAAA runs are reordered per hit;
        nsid: the query's OPT record asked for NSID.

        The entry made, or None when query cannot be answered from one (its question is not plain,
        or a cache answer's records do not all carry the TTL its lease gives them). An entry of a
        lease is answered by the lease's plugin (the `plugin` label of its hits).
        """
        # Only plain questions: the stored answer must hold the question at the same offsets.
        if query.find(0, 12) + 5 != qend:
            return None
        asked, written = query[12:qend], wire[12:qend]
        if written != asked and written.lower() != asked.lower():
            return None
        lease = _lease_of(tags)
        countdown = None
        if lease is not None:
            if len(tags) != 1 or query[3] & _CD:
                return None  # the cache's answer mixed with other answers, or made for a CD asker
            # The TTL written may be a second older than now: the slow path may take that long.
            left = lease.left(monotonic())
            offsets = _ttl_offsets(wire, qend, (left, left + 1) if lease.counting else (lease.ttl,))
            if offsets is None:
                return None
            countdown = (lease.born, lease.ttl, offsets if lease.counting else ())
        if len(self.entries) >= self.capacity:
            self.clear()
        end = qend - 5
        marker = EDNS_DO if do else EDNS if edns else NO_EDNS
        if nsid:
            marker = bytes((marker[0] | _NSID_BIT,))
        key = query[12 : end + 1].lower() + query[end + 1 : qend] + marker
        old = self.entries.get(key)
        if old is not None:
            old.fold_into_metrics()
        # ANCOUNT under 2 (most answers) has no run to reorder: no call to find that out.
        runs = _address_runs(wire, qend) if shuffle and (wire[6] or wire[7] > 1) else ()
        heads = self.heads.get(wire[2:12])
        if heads is None:
            heads = self.heads[wire[2:12]] = _heads(wire)
        if lease is not None:
            plugin = lease.plugin
        entry = self.entries[key] = Entry(wire, qend, heads, metrics, qtype, rcode, plugin, runs)
        entry.countdown = countdown
        entry.lease = lease
        keys_by_tag = self.keys_by_tag
        for tag in tags:
            keys = keys_by_tag.get(tag)
            if keys is None:
                keys = keys_by_tag[tag] = set()
            keys.add(key)
        return entry

    def invalidate(self, tags: set[Hashable]) -> None:
        for tag in tags:
            keys = self.keys_by_tag.pop(tag, None)
            if keys:
                for key in keys:
                    entry = self.entries.pop(key, None)
                    if entry is not None:
                        entry.fold_into_metrics()

    def clear(self) -> None:
        self.flush_metrics()
        self.entries.clear()
        self.keys_by_tag.clear()
        self.heads.clear()

    def flush_metrics(self) -> None:
        """Fold every entry's hits into the metric families (called at scrape time)."""
        for entry in self.entries.values():
            entry.fold_into_metrics()


def _lease_of(tags: Collection[Hashable]) -> Lease | None:
    for tag in tags:
        if type(tag) is Lease:
            return tag
    return None


def _ttl_offsets(wire: bytes, qend: int, ttls: tuple[int, ...]) -> tuple[int, ...] | None:
    """Offsets into wire[qend:] of every record's TTL field (OPT's is no TTL), or None unless each
    is one of ttls: a plugin before the cache in the chain changed them on the way back."""
    counts = struct.unpack_from("!HHH", wire, 6)
    offset = qend
    offsets = []
    for _ in range(sum(counts)):
        _, offset = read_name(wire, offset)
        rtype, _, value, rdlen = RR_FIXED.unpack_from(wire, offset)
        if rtype != _OPT:
            if value not in ttls:
                return None
            offsets.append(offset + 4 - qend)
        offset += 10 + rdlen
    return tuple(offsets)


def _heads(wire: bytes) -> tuple[bytes, ...]:
    """Bytes 2-11 of the answer for a query without RD or CD, with RD, with CD, with both."""
    byte2 = wire[2] & 0xFE  # QR, opcode, AA, TC; RD comes from each query
    byte3 = wire[3] & 0xEF  # RA, Z, AD, rcode; CD comes from each query
    return tuple(bytes((byte2 | rd, byte3 | cd)) + wire[4:12] for cd in (0, 0x10) for rd in (0, 1))


def _address_runs(wire: bytes, qend: int) -> tuple[tuple[int, int, int], ...]:
    """(offset into wire[qend:], count, size) of each run of 2+ answer A or AAAA records to shuffle.

    Only records whose owner is a compression pointer qualify: then nothing in the run can be the
    target of another pointer, and moving whole records keeps the packet valid.
    """
    ancount = struct.unpack_from("!H", wire, 6)[0]
    if ancount < 2:
        return ()  # no run to reorder: most answers (one ClusterIP, NXDOMAIN, one PTR)
    offset = qend
    runs: list[tuple[int, int, int]] = []
    run_start, run_count, run_type = 0, 0, 0
    for _ in range(ancount):
        if offset + 12 > len(wire):
            break
        pointer = wire[offset] & 0xC0 == 0xC0
        if not pointer:
            # A literal owner: find its end the slow way and stop runs here.
            _, offset = read_name(wire, offset)
            rtype, _, _, rdlen = RR_FIXED.unpack_from(wire, offset)
            offset += 10 + rdlen
            if run_count > 1:
                runs.append((run_start - qend, run_count, 12 + (4 if run_type == _A else 16)))
            run_count = 0
            continue
        rtype, _, _, rdlen = RR_FIXED.unpack_from(wire, offset + 2)
        if rtype in (_A, _AAAA) and rtype == run_type and run_count:
            run_count += 1
        else:
            if run_count > 1:
                runs.append((run_start - qend, run_count, 12 + (4 if run_type == _A else 16)))
            if rtype in (_A, _AAAA):
                run_start, run_count, run_type = offset, 1, rtype
            else:
                run_count, run_type = 0, 0
        offset += 12 + rdlen
    if run_count > 1:
        runs.append((run_start - qend, run_count, 12 + (4 if run_type == _A else 16)))
    return tuple(runs)


def _shuffled(body: bytes, runs: tuple[tuple[int, int, int], ...]) -> bytes:
    parts = []
    pos = 0
    for start, count, size in runs:
        parts.append(body[pos:start])
        records = [body[start + i * size : start + (i + 1) * size] for i in range(count)]
        random.shuffle(records)
        parts.extend(records)
        pos = start + count * size
    parts.append(body[pos:])
    return b"".join(parts)
