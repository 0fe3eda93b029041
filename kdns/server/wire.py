"""Bytes in, Request out; Response in, bytes out. No sockets here (sans-IO).

Only the header, the question and the OPT record are read from a query: that is all the chain needs,
and reading them straight from the bytes is several times cheaper than a full dnslib parse. An
upstream's answer (forward) is read whole, into kdns.message's Records (parse_answer). Every bounds
check on wire data lives in this module: a short or inconsistent packet raises one error type.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Iterable

from dnslib import EDNS0, QTYPE, RCODE, RR, DNSLabel, DNSRecord, EDNSOption
from dnslib.dns import RDMAP

from kdns.errors import WireError
from kdns.message import Header, Labels, Message, Parts, Question, Record
from kdns.request import Edns, Request
from kdns.server import packer
from kdns.server.packer import HEADER, OPT, QUESTION_TAIL, RR_FIXED

MAX_NAME = 255
MAX_LABEL = 63
# What kdns advertises in its own OPT record (RFC 6891 section 6.2.5; the 2020 DNS flag day size).
OUR_PAYLOAD = 1232
BADVERS = 16
NSID = 3  # RFC 5001: the EDNS option asking for (and carrying) the server's identifier
_OPT_PLAIN = packer.opt_record(OUR_PAYLOAD, do=False)
_OPT_DO = packer.opt_record(OUR_PAYLOAD, do=True)
_COUNTS = struct.Struct("!HHH")
# rdata read by parse_answer: names alone (NS, CNAME, PTR), MX, SOA, SRV; addresses of a fixed size.
_NAME_ONLY = frozenset((2, 5, 12))
_SOA, _MX, _SRV = 6, 15, 33
_ADDRESS_SIZE = {1: 4, 28: 16}
# The other types whose rdata may hold compressed names (RFC 3597 section 4: MD, MF, MB, MG, MR,
# MINFO, RP, AFSDB, RT, SIG, PX, NXT, NAPTR, KX; and DNAME): their answers are left to dnslib.
_OTHER_NAME_TYPES = frozenset((3, 4, 7, 8, 9, 14, 17, 18, 21, 24, 26, 30, 35, 36, 39))
# The rest of the types dnslib reads field by field (TXT, CAA, RRSIG, ...): parse_answer keeps their
# rdata as bytes, but checks it with dnslib's reader, so that a plugin reading Record.rdata later
# (rewrite, template) never meets a malformed one; other types are opaque bytes to dnslib too.
_CHECKED_BY_DNSLIB = (
    frozenset(QTYPE.reverse[name] for name in RDMAP)
    - _NAME_ONLY - {_SOA, _MX, _SRV} - _ADDRESS_SIZE.keys() - _OTHER_NAME_TYPES
)


class Drop(WireError):
    """Not worth an answer: shorter than a header, or a response rather than a query."""


class FormErr(WireError):
    """Malformed past the header: answered with FORMERR, echoing ID and opcode."""

    def __init__(self, reason: str, id: int, flags: int) -> None:
        super().__init__(reason)
        self.id = id
        self.flags = flags


class NotImp(WireError):
    """An opcode other than QUERY (RFC 1035 section 4.1.1)."""

    def __init__(self, id: int, flags: int) -> None:
        super().__init__("opcode not implemented")
        self.id = id
        self.flags = flags


def read_name(data: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    """Labels of the name at offset and the offset just past it, following compression pointers.

    Raises ValueError on any overrun, pointer loop, reserved label type or oversize name.
    """
    labels: list[bytes] = []
    total = 1
    end = -1
    jumps = 0
    n = len(data)
    while True:
        if offset >= n:
            raise ValueError("name runs past the end of the packet")
        length = data[offset]
        if length == 0:
            offset += 1
            break
        if length > MAX_LABEL:
            if length < 0xC0:
                raise ValueError("reserved label type")
            if offset + 1 >= n:
                raise ValueError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | data[offset + 1]
            if end < 0:
                end = offset + 2
            jumps += 1
            # A pointer must go backwards; with at most 128 jumps a loop cannot hang us.
            if target >= offset or jumps > 128:
                raise ValueError("compression pointer loop")
            offset = target
            continue
        total += length + 1
        if total > MAX_NAME:
            raise ValueError("name longer than 255 bytes")
        start = offset + 1
        offset = start + length
        if offset > n:
            raise ValueError("label runs past the end of the packet")
        labels.append(data[start:offset])
    return tuple(labels), (end if end >= 0 else offset)


def _skip_rr(data: bytes, offset: int) -> tuple[int, int, int, int, int]:
    """(type, class, ttl, rdata offset, end) of the RR at offset, checking it fits."""
    labels, offset = read_name(data, offset)
    if offset + 10 > len(data):
        raise ValueError("truncated resource record")
    rtype, rclass, ttl, rdlen = RR_FIXED.unpack_from(data, offset)
    offset += 10
    if offset + rdlen > len(data):
        raise ValueError("rdata runs past the end of the packet")
    if rtype == OPT and labels:
        raise ValueError("OPT record not at the root")
    return rtype, rclass, ttl, offset, offset + rdlen


def options_well_formed(rdata: bytes) -> bool:
    """True when OPT rdata is a whole sequence of {code, length, data} options (RFC 6891 6.1.2)."""
    return nsid_asked(rdata) is not None


def nsid_asked(rdata: bytes) -> bool | None:
    """Whether OPT rdata holds an NSID option (RFC 5001); None when it is not a whole sequence of
    options. One walk for both, as the fast path wants (and _mmsg.c's options_marker does)."""
    asked = False
    offset, end = 0, len(rdata)
    while offset < end:
        if offset + 4 > end:
            return None
        if rdata[offset + 1] == NSID and rdata[offset] == 0:
            asked = True
        offset += 4 + (rdata[offset + 2] << 8 | rdata[offset + 3])
    return asked if offset == end else None


def parse_query(data: bytes) -> Request:
    """The query in data, or Drop / FormErr / NotImp."""
    if type(data) is not bytes:
        data = bytes(data)
    if len(data) < 12:
        raise Drop("shorter than a DNS header")
    id, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    if flags & 0x8000:
        raise Drop("a response, not a query")
    if (flags >> 11) & 0xF != 0:
        raise NotImp(id, flags)
    if qdcount != 1:
        raise FormErr(f"QDCOUNT is {qdcount}, not 1", id, flags)
    try:
        labels, offset = read_name(data, 12)
        if offset + 4 > len(data):
            raise ValueError("truncated question")
        qtype, qclass = QUESTION_TAIL.unpack_from(data, offset)
        question_end = offset + 4
        offset = question_end
        for _ in range(ancount + nscount):
            offset = _skip_rr(data, offset)[4]
        edns = None
        for _ in range(arcount):
            rtype, rclass, ttl, rdata_start, offset = _skip_rr(data, offset)
            if rtype == OPT:
                if edns is not None:
                    raise ValueError("more than one OPT record")  # RFC 6891 section 6.1.1
                # The root owner may be written as a pointer to a zero byte: not always one byte.
                rdata = data[rdata_start:offset]
                if not options_well_formed(rdata):
                    raise ValueError("malformed EDNS option")  # RFC 6891 section 6.1.2
                edns = Edns(
                    payload=rclass, version=(ttl >> 16) & 0xFF, do=bool(ttl & 0x8000), options=rdata,
                )
    except (ValueError, struct.error) as e:
        raise FormErr(str(e), id, flags) from None
    return Request(data, id, flags, labels, qtype, qclass, question_end, edns)


def parse_answer(data: bytes) -> Message | None:
    """A whole message (an upstream's answer) as kdns.message objects, every record a Record whose
    names are read out of compression (an OPT record: dnslib's); None when a record's rdata is of a kind this does not take
    apart (dnslib's parser then reads the message). Raises ValueError when the message is malformed.

    Several times cheaper than DNSRecord.parse, whose per-field buffer calls were the largest part of
    a forwarded answer's cost; and its Records are packed again without taking dnslib objects apart.
    """
    n = len(data)
    if n < 12:
        raise ValueError("shorter than a DNS header")
    id, bitmap, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    offset = 12
    questions = []
    for _ in range(qdcount):
        labels, offset = read_name(data, offset)
        if offset + 4 > n:
            raise ValueError("truncated question")
        qtype, qclass = QUESTION_TAIL.unpack_from(data, offset)
        offset += 4
        questions.append(Question(DNSLabel(labels), qtype, qclass))
    sections: list[list[RR]] = []
    for count in (ancount, nscount, arcount):
        records = []
        for _ in range(count):
            owner, offset = read_name(data, offset)
            if offset + 10 > n:
                raise ValueError("truncated resource record")
            rtype, rclass, ttl, rdlen = RR_FIXED.unpack_from(data, offset)
            start = offset + 10
            offset = start + rdlen
            if offset > n:
                raise ValueError("rdata runs past the end of the packet")
            if rtype == OPT:
                # dnslib's own OPT record (EDNS0 readers expect its fields); one per answer at most.
                options = [EDNSOption(code, value) for code, value in split_options(data[start:offset])]
                records.append(RR(DNSLabel(owner), rtype, rclass, ttl, options))
                continue
            parts = _rdata_parts(data, rtype, start, offset)
            if parts is None:
                return None
            record = Record(owner, rtype, ttl, parts, rclass)
            if rtype in _CHECKED_BY_DNSLIB:
                try:
                    record.rdata  # read (and kept) once here: it must be readable
                except Exception as e:  # dnslib raises several types on rdata it cannot read
                    raise ValueError(f"unreadable {QTYPE.get(rtype)} rdata: {e}") from None
            records.append(record)
        sections.append(records)
    answer, authority, additional = sections
    header = Header(id, bitmap, qdcount, ancount, nscount, arcount)
    return Message(header, questions, answer, authority, additional)


def _rdata_parts(data: bytes, rtype: int, start: int, end: int) -> Parts | None:
    """The rdata at data[start:end] as Record parts (kdns/message.py); None: left to dnslib."""
    names: list[bytes | Labels] = []
    if rtype in _NAME_ONLY:
        name, at = read_name(data, start)
        names.append(name)
    elif rtype == _SOA:
        mname, at = read_name(data, start)
        rname, at = read_name(data, at)
        names += (mname, rname, data[at : at + 20])
        at += 20
    elif rtype == _MX or rtype == _SRV:
        fixed = 2 if rtype == _MX else 6
        if start + fixed > end:
            raise ValueError("rdata shorter than its fixed fields")
        target, at = read_name(data, start + fixed)
        names += (data[start : start + fixed], target)
    elif rtype in _OTHER_NAME_TYPES:
        return None
    else:
        size = _ADDRESS_SIZE.get(rtype)
        if size is not None and end - start != size:
            return None  # dnslib says what is wrong with it
        return data[start:end]
    if at != end:
        raise ValueError("rdata length does not match its contents")
    return names


def with_payload(data: bytes, question_end: int, payload: int) -> bytes:
    """The query in data with its OPT record's UDP payload size set to payload (bufsize), so a
    plugin that sends data on (forward) asks with that size; data itself when it has no OPT record."""
    _, _, _, ancount, nscount, arcount = HEADER.unpack_from(data)
    offset = question_end
    try:
        for _ in range(ancount + nscount):
            offset = _skip_rr(data, offset)[4]
        for _ in range(arcount):
            rtype, _, _, rdata_start, offset = _skip_rr(data, offset)
            if rtype == OPT:
                # TYPE, CLASS (= the payload size, RFC 6891 section 6.1.2), TTL, RDLENGTH, RDATA.
                at = rdata_start - 8
                return data[:at] + payload.to_bytes(2, "big") + data[at + 2 :]
    except (ValueError, struct.error):
        pass  # not reached for a query parse_query accepted
    return data


def error_reply(id: int, flags: int, rcode: int) -> bytes:
    """A bare header answer (no question) for packets we cannot parse past the header."""
    # Keep opcode, RD and CD from the query, set QR, clear the rest (RFC 1035 section 4.1.1).
    out_flags = 0x8000 | (flags & 0x7900) | (flags & 0x0010) | 0x0080 | (rcode & 0xF)
    return HEADER.pack(id, out_flags, 0, 0, 0, 0)


def wire_name(labels: tuple[bytes, ...]) -> bytes:
    """labels as a name in a question: length-prefixed labels and the root, uncompressed."""
    return b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"


def join_options(options: Iterable[tuple[int, bytes]]) -> bytes:
    """OPT rdata of (code, data) options: split_options() undone."""
    return b"".join(struct.pack("!HH", code, len(data)) + data for code, data in options)


def split_options(options: bytes) -> list[tuple[int, bytes]]:
    """(code, data) of each option in OPT rdata (RFC 6891 section 6.1.2); a cut-off tail is left out."""
    out = []
    offset = 0
    while offset + 4 <= len(options):
        code, size = struct.unpack_from("!HH", options, offset)
        out.append((code, options[offset + 4 : offset + 4 + size]))
        offset += 4 + size
    return out


def with_opt(req: Request, msg: DNSRecord, options: bytes = b"") -> DNSRecord:
    """msg with exactly one OPT record of ours when the query had one (RFC 6891 section 7),
    carrying options (wire form, Response.edns_options)."""
    if req.edns is None:
        return msg
    msg.ar = [rr for rr in msg.ar if rr.rtype != OPT]
    opts = [EDNSOption(code, data) for code, data in split_options(options)]
    # Extended RCODE 0: a dnslib header holds only 4 RCODE bits (BADVERS has its own builder).
    msg.ar.append(EDNS0(udp_len=OUR_PAYLOAD, flags="do" if req.edns.do else "", opts=opts))
    return msg


def badvers(req: Request) -> bytes:
    msg = req.reply(RCODE.NOERROR)
    msg.header.rcode = BADVERS & 0xF
    msg.ar.append(EDNS0(udp_len=OUR_PAYLOAD, ext_rcode=BADVERS >> 4, flags="do" if req.do else ""))
    return bytes(msg.pack())


def pack(req: Request, msg: DNSRecord, options: bytes = b"") -> tuple[bytes, bool]:
    """The answer's bytes, cut to what the client takes; and whether it was cut (TC set).

    options: EDNS options for our OPT record (Response.edns_options), when the query had one.
    """
    edns = req.edns
    # Our OPT record is written straight as bytes: building a dnslib EDNS0 per answer costs more
    # than packing the rest of a typical answer. Its extended RCODE is always 0 here: a dnslib
    # header holds only 4 RCODE bits.
    if edns is None:
        opt = None
    elif options:
        opt = packer.opt_record(OUR_PAYLOAD, edns.do, options)
    else:
        opt = _OPT_DO if edns.do else _OPT_PLAIN
    packed = packer.pack(msg, opt)
    if packed is None:
        return _pack_dnslib(req, msg, options)
    limit = req.max_size
    if len(packed.wire) <= limit:
        return packed.wire, False
    return _cut(packed, limit), True


def _pack_dnslib(req: Request, msg: DNSRecord, options: bytes = b"") -> tuple[bytes, bool]:
    """pack() for messages the fast packer leaves to dnslib (rare record types)."""
    msg = with_opt(req, msg, options)
    data = bytes(msg.pack())
    limit = req.max_size
    if len(data) <= limit:
        return data, False
    return _truncate_dnslib(msg, limit), True


def truncate(msg: DNSRecord, limit: int) -> bytes:
    """Drop records from the end until the answer fits, keeping the OPT record; set TC.

    RFC 2181 section 9 and RFC 6891 section 7: the OPT record stays, and TC tells the client to ask
    again over TCP. The additional section's other records go first, then answer and authority
    records from the end.
    """
    packed = packer.pack(msg)
    if packed is not None:
        return _cut(packed, limit)
    return _truncate_dnslib(msg, limit)


def _cut(packed: packer.Packed, limit: int) -> bytes:
    """The longest prefix of whole answer/authority records that fits with the OPT record, TC set.

    Compression pointers only point backwards, so the first k records packed on their own are the
    same bytes as the first k records of the whole message: no packing again, as in truncate().
    """
    wire = packed.wire
    ends = packed.ends
    kept = bisect_right(ends, limit - len(packed.opt)) - 1
    flags = bytes((wire[2] | 0x02, wire[3]))
    if kept < 0:
        # Even the bare question with OPT does not fit: send the header alone.
        return wire[:2] + flags + b"\x00" * 8
    answers = min(kept, packed.answers)
    counts = _COUNTS.pack(answers, kept - answers, packed.opt_count)
    return b"".join((wire[:2], flags, wire[4:6], counts, wire[12 : ends[kept]], packed.opt))


def _truncate_dnslib(msg: DNSRecord, limit: int) -> bytes:
    opt = [rr for rr in msg.ar if rr.rtype == OPT]
    sections = [list(msg.rr), list(msg.auth)]
    flat = [(0, rr) for rr in sections[0]] + [(1, rr) for rr in sections[1]]

    def build(count: int) -> bytes:
        kept = flat[:count]
        msg.rr = [rr for s, rr in kept if s == 0]
        msg.auth = [rr for s, rr in kept if s == 1]
        msg.ar = list(opt)
        msg.header.tc = 1
        return bytes(msg.pack())

    lo, hi = 0, len(flat)
    best = build(0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        data = build(mid)
        if len(data) <= limit:
            lo, best = mid, data
        else:
            hi = mid - 1
    if len(best) > limit:
        # Even the bare question with OPT does not fit: send the header alone.
        return best[:2] + bytes([best[2] | 0x02, best[3]]) + b"\x00" * 8
    return best
