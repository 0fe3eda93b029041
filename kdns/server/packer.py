"""A dnslib DNSRecord to wire bytes, several times faster than DNSRecord.pack for the common types.

dnslib packs through a growing bytearray, a struct.calcsize per field and validating property
setters; on the slow path (a first query for a name) that was a quarter of the time. This packer
reads the same objects and writes the same bytes with one struct call per record and a bytes join.
A Record (kdns/message.py) is written from its owner labels and rdata parts as they are, without
dnslib objects to take apart; every other RR's rdata is first taken apart into such parts.

Compression follows dnslib exactly, so the output is byte-identical to DNSRecord.pack:
- RFC 1035 section 4.1.4: owner names, and names inside CNAME, PTR, NS, MX and SOA rdata, are
  compressed against every suffix written before them;
- matching is case-sensitive (label bytes as given), so an owner built from the question's labels
  becomes a pointer to the question, which the fast path relies on (server/fastpath.py);
- SRV targets are written in full and are not offered for later compression (RFC 2782: "name
  compression is not to be used for this field"; dnslib's encode_name_nocompress).
One deliberate difference: a suffix written at or past offset 0x4000 is not offered as a pointer
target (a pointer has 14 bits; dnslib would write a wrong pointer there).

Anything else (other rdata classes, subclasses, bad values) makes `pack` return None and the caller
uses dnslib's own pack, which raises the same errors it always did.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dnslib import AAAA, CNAME, MX, NS, PTR, QTYPE, RD, RR, SOA, SRV, TXT, A, DNSRecord

from kdns.message import Parts, Pieces, Question, Record

HEADER = struct.Struct("!HHHHHH")
QUESTION_TAIL = struct.Struct("!HH")
RR_FIXED = struct.Struct("!HHIH")
_RR_FIXED_SIZE = RR_FIXED.size
_SOA_TIMES = struct.Struct("!IIIII")
_SRV_FIXED = struct.Struct("!HHH")
_U16 = struct.Struct("!H")
OPT = 41
_MAX_POINTER = 0x3FFF
# Names written so far (their labels) -> the offset to point at; and under _PENDING, the question
# name whose suffixes are not in it yet.
_Names = dict[tuple[bytes, ...] | None, Any]
_PENDING = None
# Length octets as one-byte strings, so a label is written without building an int->bytes each time.
_LENGTH = tuple(bytes((n,)) for n in range(64))

# The types whose rdata names a Record's parts are compressed in (RFC 1035 section 4.1.4, as dnslib
# does); for a dnslib RR its rdata class decides (_parts).
_COMPRESSED_TYPES = frozenset((QTYPE.CNAME, QTYPE.PTR, QTYPE.NS, QTYPE.MX, QTYPE.SOA))
# rdata kinds: how the rdata of each dnslib class is laid out.
_ADDRESS, _NAME, _SOA_KIND, _SRV_KIND, _TXT_KIND, _MX_KIND, _RAW = range(7)
_KINDS: dict[type, int] = {
    A: _ADDRESS, AAAA: _ADDRESS, CNAME: _NAME, PTR: _NAME, NS: _NAME, SOA: _SOA_KIND, SRV: _SRV_KIND,
    TXT: _TXT_KIND, MX: _MX_KIND, RD: _RAW,
}


class _Unsupported(Exception):
    """Something this packer does not write; dnslib's pack takes over."""


@dataclass(slots=True)
class Packed:
    """A packed message and where its records end, so it can be cut without packing again.

    ends[0] is the end of the question section; ends[i] the end of the i-th record of the answer
    and authority sections taken together. opt holds the packed OPT records of the additional
    section (their owner is the root, so their bytes do not depend on where they are written).
    """

    wire: bytes
    ends: list[int]
    answers: int
    opt: bytes
    opt_count: int


def pack(msg: DNSRecord, opt: bytes | None = None) -> Packed | None:
    """msg as wire bytes, or None when it holds something only dnslib's pack handles.

    opt: when given, the packed OPT record to send instead of any OPT records in msg.ar.
    """
    try:
        return _pack(msg, opt)
    except (_Unsupported, struct.error, TypeError, ValueError, AttributeError, OverflowError, IndexError):
        return None


def opt_record(payload: int, do: bool, options: bytes = b"") -> bytes:
    """An OPT pseudo-record of version 0, extended RCODE 0, with these options already in wire form
    (RFC 6891 section 6.1.2)."""
    ttl = 0x8000 if do else 0
    return b"\x00" + RR_FIXED.pack(OPT, payload, ttl, len(options)) + options


def _pack(msg: DNSRecord, opt: bytes | None) -> Packed:
    header = msg.header
    questions, answer, authority, additional = msg.questions, msg.rr, msg.auth, msg.ar
    names: _Names = {}
    # parts[0] is the header, written last (ARCOUNT is known at the end): one join makes the message.
    parts: list[bytes] = [b""]
    append = parts.append
    offset = 12
    for q in questions:
        labels = q.qname.label
        if offset == 12 and labels:
            # The first name: nothing to compress against, and only the whole name is registered
            # now. Most answers only ever point at the whole question name; the suffixes are
            # added the first time another name is looked up (_name).
            names[labels] = 12
            names[_PENDING] = labels
            # The asker's question is written as it came (as _plain_name would write it).
            written = q.wire if type(q) is Question else None
            if written is None:
                written = _plain_name(labels) + QUESTION_TAIL.pack(q.qtype, q.qclass)
        else:
            written = _name(labels, offset, names) + QUESTION_TAIL.pack(q.qtype, q.qclass)
        append(written)
        offset += len(written)
    ends = [offset]
    for section in (answer, authority):
        for rr in section:
            offset = _record(rr, offset, names, append)
            ends.append(offset)
    opt_parts: list[bytes] = []
    opt_count = 0
    extra = 0
    for rr in additional:
        if rr.rtype == OPT:
            if opt is not None:
                continue
            if rr.rname.label:
                raise _Unsupported("OPT record not at the root")
            start = len(parts)
            offset = _record(rr, offset, names, append)
            opt_parts.extend(parts[start:])
            opt_count += 1
        else:
            offset = _record(rr, offset, names, append)
        extra += 1
    if opt is not None:
        append(opt)
        opt_parts.append(opt)
        opt_count += 1
        extra += 1
    parts[0] = HEADER.pack(header.id, header.bitmap, len(questions), len(answer), len(authority), extra)
    return Packed(b"".join(parts), ends, len(answer), b"".join(opt_parts), opt_count)


def _record(rr: RR, offset: int, names: _Names, append: Callable[[bytes], None]) -> int:
    """Append one RR's bytes (through append) and return the offset just past it."""
    if type(rr) is Record:
        labels, parts, compress = rr.owner, rr.parts, rr.rtype in _COMPRESSED_TYPES
    else:
        labels = rr.rname.label
        parts, compress = _parts(rr)
    owner = _name(labels, offset, names)
    start = offset + len(owner) + _RR_FIXED_SIZE
    body = parts if isinstance(parts, bytes) else _rdata(parts, compress, start, names)
    append(owner)
    append(RR_FIXED.pack(rr.rtype, rr.rclass, rr.ttl, len(body)))
    append(body)
    return start + len(body)


def _parts(rr: RR) -> tuple[Parts, bool]:
    """A dnslib RR's rdata as Record parts (kdns/message.py), and whether its names are compressed."""
    rdata = rr.rdata
    if rr.rtype == OPT:
        return b"".join(_U16.pack(o.code) + _U16.pack(len(o.data)) + o.data for o in rdata), False
    kind = _KINDS.get(type(rdata))
    if kind is None:
        raise _Unsupported(type(rdata).__name__)
    if kind == _ADDRESS:
        body = bytes(rdata.data)
        if len(body) != (4 if type(rdata) is A else 16):
            raise _Unsupported("address of the wrong length")
        return body, False
    if kind == _NAME:
        return (rdata.label.label,), True
    if kind == _SRV_KIND:
        return (_SRV_FIXED.pack(rdata.priority, rdata.weight, rdata.port), rdata.target.label), False
    if kind == _SOA_KIND:
        return (rdata.mname.label, rdata.rname.label, _SOA_TIMES.pack(*rdata.times)), True
    if kind == _TXT_KIND:
        strings = []
        for item in rdata.data:
            if len(item) > 255:
                raise _Unsupported("TXT string longer than 255 bytes")
            strings.append(bytes((len(item),)) + item)
        return b"".join(strings), False
    if kind == _MX_KIND:
        return (_U16.pack(rdata.preference), rdata.label.label), True
    return bytes(rdata.data), False


def _rdata(pieces: Pieces, compress: bool, offset: int, names: _Names) -> bytes:
    """pieces written at offset: bytes as they are, label tuples as names (compressed when compress)."""
    out = []
    for part in pieces:
        if not isinstance(part, bytes):
            part = _name(part, offset, names) if compress else _plain_name(part)
        out.append(part)
        offset += len(part)
    return out[0] if len(out) == 1 else b"".join(out)


def _name(labels: tuple[bytes, ...], offset: int, names: _Names) -> bytes:
    """labels written at offset, compressed against (and added to) names, as dnslib's encode_name."""
    if not labels:
        return b"\x00"
    pointer = names.get(labels)
    if pointer is None:
        question = names.pop(_PENDING, None)
        if question is not None:
            # The question name's suffixes, at the offsets _pack wrote its labels at.
            at = 12
            for i, label in enumerate(question):
                names[question[i:]] = at
                at += len(label) + 1
            pointer = names.get(labels)
    if pointer is not None:
        return _U16.pack(0xC000 | pointer)
    # dnslib: a name longer than 253 characters in text form is an error (DNSLabelError).
    if len(b".".join(labels)) > 253:
        raise _Unsupported("name too long")
    parts = []
    suffix = labels
    # The whole name is not in names (looked up above): each shorter suffix is, or is added.
    while True:
        if offset <= _MAX_POINTER:
            names[suffix] = offset
        label = suffix[0]
        size = len(label)
        if size > 63 or size == 0:
            raise _Unsupported("label empty or longer than 63 bytes")
        parts.append(_LENGTH[size])
        parts.append(label)
        offset += size + 1
        suffix = suffix[1:]
        if not suffix:
            parts.append(b"\x00")
            return b"".join(parts)
        pointer = names.get(suffix)
        if pointer is not None:
            parts.append(_U16.pack(0xC000 | pointer))
            return b"".join(parts)


def _plain_name(labels: tuple[bytes, ...]) -> bytes:
    """labels written in full, as dnslib's encode_name_nocompress (SRV targets, RFC 2782)."""
    if len(b".".join(labels)) > 253:
        raise _Unsupported("name too long")
    parts = []
    for label in labels:
        size = len(label)
        if size > 63 or size == 0:
            raise _Unsupported("label empty or longer than 63 bytes")
        parts.append(_LENGTH[size])
        parts.append(label)
    parts.append(b"\x00")
    return b"".join(parts)
