"""Bad packets, made from a seeded random.Random, and the checks every answer must pass.

Each generator builds one kind of damage RFC 1035/6891 parsers must survive; `bad_packet` picks one.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

import dns.exception
import dns.message
import dns.name

SEED_QUESTIONS = [
    ("www.example.org", "A", False), ("big.example.org", "A", True), ("a.b.wild.example.org", "TXT", True),
    ("example.org", "SOA", False), ("svc1.ns1.svc.cluster.local", "A", True), ("svc4.ns4.svc.cluster.local", "SRV", False),
    ("_http._tcp.svc2.ns2.svc.cluster.local", "SRV", True), ("17.0.96.10.in-addr.arpa", "PTR", False),
    ("x.example.net", "AAAA", True), ("cluster.local", "ANY", False),
]
SEEDS = [
    dns.message.make_query(name, rdtype, use_edns=0 if edns else False, want_dnssec=edns and name[0] == "b").to_wire()
    for name, rdtype, edns in SEED_QUESTIONS
]
HEADER = struct.Struct("!HHHHHH")


def _name(rng: random.Random, labels: int | None = None, size: int | None = None) -> bytes:
    out = b""
    for _ in range(labels if labels is not None else rng.randrange(1, 5)):
        n = size if size is not None else rng.randrange(1, 12)
        out += bytes([n]) + bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789-") for _ in range(n))
    return out + b"\x00"


def _header(rng: random.Random, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0, flags: int | None = None) -> bytes:
    return HEADER.pack(rng.randrange(65536), 0x0100 if flags is None else flags, qd, an, ns, ar)


def random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randrange(0, 100))


def bad_header(rng: random.Random) -> bytes:
    base = bytearray(rng.choice(SEEDS))
    base[2] = rng.randrange(256)  # QR, opcode, AA, TC, RD
    base[3] = rng.randrange(256)  # RA, Z, AD, CD, rcode
    if rng.random() < 0.5:
        base = base[: rng.randrange(0, 13)]  # a header cut short
    return bytes(base)


def huge_counts(rng: random.Random) -> bytes:
    base = bytearray(rng.choice(SEEDS))
    counts = [rng.choice([0, 1, 2, 3, 0x7FFF, 0xFFFF]) for _ in range(4)]
    struct.pack_into("!HHHH", base, 4, *counts)
    return bytes(base)


def pointer_loop(rng: random.Random) -> bytes:
    """Compression pointers in the question: to itself, forwards, in a ring, past the end."""
    kind = rng.randrange(5)
    head = _header(rng)
    if kind == 0:  # points at itself
        name = b"\xc0\x0c"
    elif kind == 1:  # a label, then a pointer back to the label: an endless name
        name = b"\x01a\xc0\x0c"
    elif kind == 2:  # forwards, to a pointer that points back
        name = b"\xc0\x0e\xc0\x0c"
    elif kind == 3:  # past the end of the packet
        name = b"\xc0" + bytes([rng.randrange(20, 256)])
    else:  # a long chain of backward pointers ending in a loop
        name = b"\x00" + b"".join(b"\xc0" + bytes([12 + 2 * i]) for i in range(rng.randrange(1, 60)))
        return head + name[1:] + b"\x00\x01\x00\x01"
    return head + name + b"\x00\x01\x00\x01"


def long_names(rng: random.Random) -> bytes:
    """Names over 255 bytes, labels over 63 (which are reserved label types 0x40/0x80 on the wire)."""
    kind = rng.randrange(4)
    if kind == 0:
        name = _name(rng, labels=rng.randrange(4, 9), size=63)  # 256..513 bytes
    elif kind == 1:
        name = bytes([rng.randrange(64, 192)]) + b"a" * rng.randrange(0, 200) + b"\x00"
    elif kind == 2:  # exactly 255 (legal) or 256 (not)
        name = _name(rng, labels=4, size=62)[:-1] + bytes([rng.choice([1, 2])]) + b"ab"[: rng.choice([1, 2])] + b"\x00"
    else:  # long name through a pointer into an earlier long label run
        name = _name(rng, labels=3, size=63)[:-1] + b"\xc0\x0c"
    return _header(rng) + name + b"\x00\x01\x00\x01"


def truncated_rr(rng: random.Random) -> bytes:
    """A query with records after the question, cut somewhere inside them."""
    base = _header(rng, an=rng.randrange(0, 2), ns=rng.randrange(0, 2), ar=rng.randrange(1, 3)) + _name(rng) + b"\x00\x01\x00\x01"
    rr = _name(rng) + struct.pack("!HHIH", 1, 1, 300, 4) + bytes(4)
    full = base + rr * 4
    return full[: rng.randrange(len(base), len(full) + 1)]


def bogus_edns(rng: random.Random) -> bytes:
    """OPT records that lie: option lengths past rdata, several OPTs, non-root owner, odd sizes."""
    question = _name(rng) + b"\x00\x01\x00\x01"
    options = b""
    for _ in range(rng.randrange(0, 4)):
        code = rng.choice([3, 8, 10, 12, 15, 65001, rng.randrange(65536)])  # NSID, ECS, COOKIE, padding, EDE
        data = rng.randbytes(rng.randrange(0, 40))
        length = len(data) if rng.random() < 0.6 else rng.randrange(65536)
        options += struct.pack("!HH", code, length) + data
    rdlen = len(options) if rng.random() < 0.7 else rng.randrange(65536)
    owner = b"\x00" if rng.random() < 0.85 else _name(rng)
    payload = rng.choice([0, 1, 511, 512, 1232, 4096, 65535])
    version = 0 if rng.random() < 0.8 else rng.randrange(1, 256)
    flags = rng.choice([0, 0x8000, rng.randrange(65536)])
    opt = owner + struct.pack("!HHBBHH", 41, payload, rng.randrange(256) if rng.random() < 0.1 else 0, version, flags, rdlen) + options
    count = rng.choice([1, 1, 1, 2, 3])
    return _header(rng, ar=count) + question + opt * count


def odd_question(rng: random.Random) -> bytes:
    """Well-formed, but unusual: zone transfers, meta types, other classes, opcodes."""
    name = rng.choice([b"\x07example\x03org\x00", b"\x07cluster\x05local\x00", _name(rng), b"\x00"])
    qtype = rng.choice([251, 252, 255, 0, 41, 65535, rng.randrange(65536)])  # IXFR, AXFR, ANY, ...
    qclass = rng.choice([1, 1, 3, 254, 255, rng.randrange(65536)])
    flags = rng.choice([0x0100, 0x0000, 0x2800, 0x7800, 0x0110])  # RD, none, UPDATE, opcode 15, RD+CD
    return _header(rng, flags=flags) + name + struct.pack("!HH", qtype, qclass)


def mutated(rng: random.Random) -> bytes:
    """Bit flips, byte insertions, deletions and splices of good queries."""
    base = bytearray(rng.choice(SEEDS))
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(4)
        i = rng.randrange(len(base)) if base else 0
        if op == 0 and base:
            base[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            base[i:i] = rng.randbytes(rng.randrange(1, 8))
        elif op == 2 and base:
            del base[i : i + rng.randrange(1, 8)]
        else:
            other = rng.choice(SEEDS)
            j = rng.randrange(len(other))
            base = base[:i] + bytearray(other[j:])
    return bytes(base)


GENERATORS: list[Callable[[random.Random], bytes]] = [
    random_bytes, bad_header, huge_counts, pointer_loop, long_names, truncated_rr, bogus_edns, odd_question, mutated,
]


def bad_packet(rng: random.Random) -> bytes:
    return rng.choice(GENERATORS)(rng)


def answer_limit(query: bytes) -> int:
    """The largest UDP answer the asker allows: its EDNS payload (at least 512), else 512.

    Read leniently from a packet that may be malformed: the first OPT record after the question.
    """
    try:
        msg = dns.message.from_wire(query, ignore_trailing=True)
    except Exception:
        return 512
    if msg.edns < 0:
        return 512
    return max(512, msg.payload)


def check_answer(data: bytes, query_id: int | None = None) -> str | None:
    """Why data is not an acceptable answer, or None. It must parse completely (nothing trailing),
    be a response (QR), and carry the query's ID."""
    if len(data) < 12:
        return f"answer shorter than a header ({len(data)} bytes)"
    if not data[2] & 0x80:
        return "answer without QR"
    if query_id is not None and int.from_bytes(data[:2], "big") != query_id:
        return "answer with another ID"
    try:
        dns.message.from_wire(data, ignore_trailing=False)
    except dns.exception.DNSException as e:
        return f"malformed answer: {type(e).__name__}: {e}"
    return None


def question_of(data: bytes) -> tuple[tuple[bytes, ...], int, int] | None:
    """The question as dnspython reads it, or None when it cannot (reference for parse_query)."""
    try:
        name, used = dns.name.from_wire(data, 12)
    except dns.exception.DNSException:
        return None
    end = 12 + used
    if end + 4 > len(data):
        return None
    qtype, qclass = struct.unpack_from("!HH", data, end)
    return tuple(name.labels[:-1]), qtype, qclass
