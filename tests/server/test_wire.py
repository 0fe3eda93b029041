"""server/wire.py with bytes alone: what is parsed, dropped, refused and how answers are cut."""

from __future__ import annotations

import struct

import pytest
from dnslib import AAAA, EDNS0, QTYPE, RR, A, DNSRecord

from kdns.server import wire


def query(name: str = "www.example.org", qtype: str = "A", edns: int | None = None, do: bool = False) -> bytes:
    q = DNSRecord.question(name, qtype)
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns, flags="do" if do else ""))
    return bytes(q.pack())


def test_question_and_header_are_read_from_the_bytes() -> None:
    data = query("WwW.Example.ORG", "AAAA")
    req = wire.parse_query(data)
    assert req.qname == "WwW.Example.ORG."
    assert req.qname_lower == "www.example.org."
    assert req.qtype == QTYPE.AAAA
    assert req.id == struct.unpack("!H", data[:2])[0]
    assert req.rd
    assert req.edns is None
    assert req.max_size == 512
    assert req.question_end == len(data)


def test_edns_payload_version_and_do_bit() -> None:
    req = wire.parse_query(query(edns=4096, do=True))
    assert req.edns is not None
    assert (req.edns.payload, req.edns.version, req.edns.do) == (4096, 0, True)
    assert req.max_size == 4096
    # A payload below 512 still allows 512 (RFC 6891 section 6.2.5).
    assert wire.parse_query(query(edns=100)).max_size == 512


@pytest.mark.parametrize("data", [b"", b"\x00" * 11])
def test_shorter_than_a_header_is_dropped(data: bytes) -> None:
    with pytest.raises(wire.Drop):
        wire.parse_query(data)


def test_a_response_is_dropped() -> None:
    data = bytearray(query())
    data[2] |= 0x80
    with pytest.raises(wire.Drop):
        wire.parse_query(bytes(data))


def test_other_opcodes_are_not_implemented() -> None:
    data = bytearray(query())
    data[2] |= 4 << 3  # NOTIFY
    with pytest.raises(wire.NotImp):
        wire.parse_query(bytes(data))


@pytest.mark.parametrize("qdcount", [0, 2])
def test_qdcount_other_than_one_is_formerr(qdcount: int) -> None:
    data = bytearray(query())
    data[4:6] = struct.pack("!H", qdcount)
    with pytest.raises(wire.FormErr):
        wire.parse_query(bytes(data))


@pytest.mark.parametrize(
    "body",
    [
        b"\x03www",  # name runs off the end
        b"\xc0\x0c\x00\x01\x00\x01",  # pointer to itself
        b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",  # reserved label type 0x40
        (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01",  # 257-byte name
        b"\x03www\x00\x00",  # truncated question
    ],
)
def test_malformed_question_is_formerr(body: bytes) -> None:
    header = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0)
    with pytest.raises(wire.FormErr) as info:
        wire.parse_query(header + body)
    assert info.value.id == 7


def test_two_opt_records_are_formerr() -> None:
    q = DNSRecord.question("a.example")
    q.add_ar(EDNS0())
    q.add_ar(EDNS0())
    with pytest.raises(wire.FormErr):
        wire.parse_query(bytes(q.pack()))


def test_error_reply_keeps_id_and_rd() -> None:
    out = wire.error_reply(0x1234, 0x0100, 1)
    msg = DNSRecord.parse(out)
    assert msg.header.id == 0x1234
    assert msg.header.rcode == 1
    assert msg.header.qr and msg.header.rd


def test_reply_echoes_the_question_and_takes_the_sections_given() -> None:
    req = wire.parse_query(query("WwW.Example.ORG", "AAAA"))
    answer = [RR(req.qname, QTYPE.AAAA, rdata=AAAA("2001:db8::1"), ttl=5)]
    msg = req.reply(3, aa=True, rr=answer)
    assert msg.rr is answer and msg.auth == [] and msg.ar == []
    assert msg.header.id == req.id and msg.header.rcode == 3 and msg.header.aa and msg.header.rd
    parsed = DNSRecord.parse(msg.pack())
    assert str(parsed.q.qname) == "WwW.Example.ORG." and parsed.q.qtype == QTYPE.AAAA
    assert parsed.header.qr and parsed.header.ra and [str(r.rdata) for r in parsed.rr] == ["2001:db8::1"]
    # Without sections, each is a new empty list of its own (plugins add to them).
    empty = req.reply()
    assert empty.rr == [] and empty.rr is not empty.auth and empty.header.rcode == 0 and not empty.header.aa


def big_answer(req: wire.Request, count: int) -> DNSRecord:
    msg = req.reply()
    for i in range(count):
        msg.add_answer(RR(req.qname, QTYPE.A, rdata=A(f"10.0.{i // 256}.{i % 256}"), ttl=5))
    return msg


def test_answer_over_512_without_edns_is_cut_with_tc() -> None:
    req = wire.parse_query(query())
    out, cut = wire.pack(req, big_answer(req, 60))
    assert cut
    assert len(out) <= 512
    msg = DNSRecord.parse(out)
    assert msg.header.tc
    assert 0 < len(msg.rr) < 60


def test_answer_cut_to_the_advertised_edns_size_keeps_opt() -> None:
    req = wire.parse_query(query(edns=700))
    out, cut = wire.pack(req, big_answer(req, 60))
    assert cut and len(out) <= 700
    msg = DNSRecord.parse(out)
    assert [rr.rtype for rr in msg.ar] == [QTYPE.OPT]
    assert msg.header.tc


def test_answer_that_fits_is_whole_and_has_one_opt() -> None:
    req = wire.parse_query(query(edns=4096, do=True))
    out, cut = wire.pack(req, big_answer(req, 60))
    assert not cut
    msg = DNSRecord.parse(out)
    assert len(msg.rr) == 60
    opts = [rr for rr in msg.ar if rr.rtype == QTYPE.OPT]
    assert len(opts) == 1 and opts[0].edns_do


def test_badvers_for_edns_version_above_zero() -> None:
    q = DNSRecord.question("example.org")
    q.add_ar(EDNS0(version=1))
    req = wire.parse_query(bytes(q.pack()))
    assert req.edns is not None and req.edns.version == 1
    msg = DNSRecord.parse(wire.badvers(req))
    opt = [rr for rr in msg.ar if rr.rtype == QTYPE.OPT][0]
    # BADVERS = 16: upper 8 bits in the OPT TTL's first byte, lower 4 in the header.
    assert (opt.ttl >> 24) == 1 and msg.header.rcode == 0


@pytest.mark.parametrize(
    "options",
    [
        b"\x00\x0a\x00\x08\x01\x02",  # a cookie claiming 8 bytes, carrying 2
        b"\x00\x0a",  # half an option header
        b"\x00\x03\x00\x00\x00",  # a whole NSID option, then a stray byte
    ],
)
def test_malformed_edns_options_are_formerr(options: bytes) -> None:
    base = bytearray(query())
    base[11] = 1  # ARCOUNT
    opt = b"\x00\x00\x29\x10\x00\x00\x00\x00\x00" + struct.pack("!H", len(options)) + options
    with pytest.raises(wire.FormErr):
        wire.parse_query(bytes(base) + opt)


def test_well_formed_edns_options_are_kept() -> None:
    options = b"\x00\x0a\x00\x08" + bytes(8) + b"\x00\x03\x00\x00"  # cookie, empty NSID
    base = bytearray(query())
    base[11] = 1
    req = wire.parse_query(bytes(base) + b"\x00\x00\x29\x10\x00\x00\x00\x00\x00" + struct.pack("!H", len(options)) + options)
    assert req.edns is not None and req.edns.options == options


def test_an_opt_owner_written_as_a_pointer_to_the_root_is_read_right() -> None:
    options = b"\x00\x03\x00\x00"  # empty NSID
    base = bytearray(query())
    base[11] = 1
    root = base.find(0, 12)  # the question name's terminating zero byte
    owner = struct.pack("!H", 0xC000 | root)
    opt = owner + b"\x00\x29\x10\x00\x00\x00\x80\x00" + struct.pack("!H", len(options)) + options
    req = wire.parse_query(bytes(base) + opt)
    assert req.edns is not None and req.edns.options == options and req.edns.do


@pytest.mark.parametrize("rare", [False, True], ids=["fast-packer", "dnslib-packer"])
def test_edns_options_of_a_plugin_go_into_our_opt_record(rare: bool) -> None:
    from kdns.plugins.any.handler import ANSWER, HINFO

    q = DNSRecord.question("a.example.", "A")
    q.add_ar(EDNS0(udp_len=1232))
    req = wire.parse_query(bytes(q.pack()))
    msg = req.reply()
    if rare:  # HINFO: the fast packer leaves it to dnslib
        msg.add_answer(RR("a.example.", HINFO, rdata=ANSWER, ttl=5))
    out, cut = wire.pack(req, msg, b"\x00\x03\x00\x02id")
    (opt,) = [rr for rr in DNSRecord.parse(out).ar if rr.rtype == 41]
    assert not cut and [(o.code, o.data) for o in opt.rdata] == [(3, b"id")]
