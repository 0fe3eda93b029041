"""The fast packer writes what dnslib's pack writes, and the cut answers are those of the old truncate.

dnslib is the reference: for every message the packer accepts, its bytes must equal
DNSRecord.pack's (the same compression choices, RFC 1035 section 4.1.4), and dnspython must read
the same message from them. Messages past 16 KiB are the one place the packer must differ: dnslib
then writes pointers that do not fit in 14 bits.
"""

from __future__ import annotations

from typing import Any

import dns.flags
import dns.message
import dns.rdatatype
import pytest
from dnslib import (
    AAAA, CNAME, EDNS0, MX, NAPTR, NS, PTR, QTYPE, RD, RR, SOA, SRV, TXT, A, DNSHeader, DNSLabel, DNSLabelError,
    DNSQuestion, DNSRecord, EDNSOption,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdns.message import Record
from kdns.server import packer, wire

# A small pool of labels, some differing only in case, so names share suffixes often and
# compression (case-sensitive, as dnslib's) is exercised on most messages.
LABELS = [b"svc-1", b"SVC-1", b"ns", b"demo", b"Demo", b"svc", b"cluster", b"local", b"Local", b"_http", b"_tcp", b"a"]
# Other labels: any ASCII but the dot (dnslib's parser, the reference reader, rejects non-UTF-8 labels).
ASCII = "".join(chr(c) for c in range(1, 128) if c != 0x2E)
label = st.one_of(st.sampled_from(LABELS), st.text(ASCII, min_size=1, max_size=12).map(str.encode))
names = st.lists(label, min_size=0, max_size=5).map(lambda labels: DNSLabel(labels))
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def records(draw: Any) -> RR:
    owner = draw(names)
    ttl = draw(u32)
    kind = draw(st.sampled_from(["A", "AAAA", "CNAME", "PTR", "NS", "MX", "SOA", "SRV", "TXT", "HINFO"]))
    if kind == "A":
        rdata: Any = A(draw(st.tuples(*[st.integers(0, 255)] * 4)))
    elif kind == "AAAA":
        rdata = AAAA(tuple(draw(st.binary(min_size=16, max_size=16))))
    elif kind in ("CNAME", "PTR", "NS"):
        rdata = {"CNAME": CNAME, "PTR": PTR, "NS": NS}[kind](draw(names))
    elif kind == "MX":
        rdata = MX(draw(names), draw(u16))
    elif kind == "SOA":
        rdata = SOA(draw(names), draw(names), draw(st.tuples(u32, u32, u32, u32, u32)))
    elif kind == "SRV":
        rdata = SRV(draw(u16), draw(u16), draw(u16), draw(names))
    elif kind == "TXT":
        rdata = TXT(draw(st.lists(st.binary(max_size=40), min_size=1, max_size=3)))
    else:
        # A type dnslib has no class for arrives as raw RD bytes (HINFO: two character-strings).
        cpu, os_ = draw(st.binary(max_size=10)), draw(st.binary(max_size=10))
        rdata = RD(bytes((len(cpu),)) + cpu + bytes((len(os_),)) + os_)
    return RR(owner, getattr(QTYPE, kind), ttl=ttl, rdata=rdata)


@st.composite
def messages(draw: Any, opt: bool = True) -> DNSRecord:
    # Opcode QUERY and RCODE below 16, so dnspython reads it as a plain message.
    bitmap = draw(u16) & 0x87FF
    header = DNSHeader(id=draw(u16), bitmap=bitmap)
    qname = draw(names)
    questions = [DNSQuestion(qname, draw(st.sampled_from([1, 28, 33, 12, 16])), 1)] if draw(st.booleans()) else []
    # Owners spelled as the question often, as the kubernetes plugin writes them.
    rr_list = st.lists(st.one_of(records(), records().map(lambda r: _owned(r, qname))), max_size=6)
    msg = DNSRecord(header, questions=questions, rr=draw(rr_list), auth=draw(rr_list), ar=draw(rr_list))
    if opt and draw(st.booleans()):
        options = draw(st.lists(st.builds(EDNSOption, st.integers(65001, 65534), st.binary(max_size=8)), max_size=2))
        msg.add_ar(EDNS0(udp_len=draw(st.integers(512, 4096)), flags=draw(st.sampled_from(["", "do"])), opts=options))
    return msg


def _owned(rr: RR, qname: DNSLabel) -> RR:
    rr.rname = qname
    return rr


def _parse_both(data: bytes) -> tuple[DNSRecord, dns.message.Message]:
    return DNSRecord.parse(data), dns.message.from_wire(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_same_bytes_as_dnslib(msg: DNSRecord) -> None:
    packed = packer.pack(msg)
    assert packed is not None
    expected = bytes(msg.pack())
    assert packed.wire == expected
    # And both readers take it: dnspython checks what dnslib's parser lets through.
    ours_dnslib, ours_dnspython = _parse_both(packed.wire)
    assert ours_dnslib == DNSRecord.parse(expected)
    assert ours_dnspython == dns.message.from_wire(expected)


def _as_record(rr: RR) -> RR:
    """rr as a kdns Record (owner labels, rdata in wire pieces), laid out here from the RFCs."""
    rdata = rr.rdata
    parts: Any
    if isinstance(rdata, (A, AAAA)):
        parts = bytes(rdata.data)
    elif isinstance(rdata, (CNAME, PTR, NS)):
        parts = (rdata.label.label,)
    elif isinstance(rdata, MX):
        parts = (rdata.preference.to_bytes(2, "big"), rdata.label.label)
    elif isinstance(rdata, SOA):
        parts = (rdata.mname.label, rdata.rname.label, b"".join(t.to_bytes(4, "big") for t in rdata.times))
    elif isinstance(rdata, SRV):
        fixed = b"".join(v.to_bytes(2, "big") for v in (rdata.priority, rdata.weight, rdata.port))
        parts = (fixed, rdata.target.label)
    elif isinstance(rdata, TXT):
        parts = b"".join(bytes((len(s),)) + s for s in rdata.data)
    else:
        parts = bytes(rdata.data)
    return Record(rr.rname.label, rr.rtype, rr.ttl, parts)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(messages(opt=False), st.data())
def test_records_pack_as_dnslib_packs_the_same_rrs(msg: DNSRecord, data: Any) -> None:
    # The kubernetes plugin answers with Records, mixed with dnslib RRs (ExternalName chasing).
    expected = bytes(msg.pack())
    mixed = [[rr if data.draw(st.booleans()) else _as_record(rr) for rr in s] for s in (msg.rr, msg.auth, msg.ar)]
    ours = DNSRecord(msg.header, questions=list(msg.questions), rr=mixed[0], auth=mixed[1], ar=mixed[2])
    packed = packer.pack(ours)
    assert packed is not None and packed.wire == expected
    # dnslib's own pack (the fallback) reads the Records back to the same bytes.
    assert bytes(ours.pack()) == expected


def test_a_record_with_a_name_too_long_falls_back_to_the_dnslib_error() -> None:
    req = wire.parse_query(bytes(DNSRecord.question("example", "PTR").pack()))
    reply = req.reply(0, aa=True, rr=[Record(req.labels, QTYPE.PTR, 5, ((b"x" * 60,) * 5,))])
    assert packer.pack(reply) is None
    with pytest.raises(DNSLabelError):
        wire.pack(req, reply)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(messages(opt=False), st.sampled_from([False, True]))
def test_our_opt_record_replaces_the_messages(msg: DNSRecord, do: bool) -> None:
    msg.add_ar(EDNS0(udp_len=4096, opts=[EDNSOption(3, b"nsid")]))
    packed = packer.pack(msg, packer.opt_record(1232, do))
    assert packed is not None
    reference = DNSRecord.parse(bytes(msg.pack()))
    reference.ar = [rr for rr in reference.ar if rr.rtype != 41] + [EDNS0(udp_len=1232, flags="do" if do else "")]
    assert packed.wire == bytes(reference.pack())
    parsed = dns.message.from_wire(packed.wire)
    assert parsed.edns == 0 and parsed.payload == 1232 and bool(parsed.ednsflags & 0x8000) == do
    assert not parsed.options


def test_owner_spelled_as_the_question_is_a_pointer_to_it() -> None:
    # server/fastpath.py relies on this: the asker's spelling is copied over the question only.
    q = DNSRecord.question("Web.Demo.svc.cluster.local", "A")
    reply = q.reply()
    reply.add_answer(RR(DNSLabel(list(q.q.qname.label)), QTYPE.A, ttl=5, rdata=A("10.96.0.10")))
    reply.add_answer(RR(DNSLabel("web.demo.svc.cluster.local"), QTYPE.A, ttl=5, rdata=A("10.96.0.11")))
    packed = packer.pack(reply)
    assert packed is not None
    first = packed.ends[0]
    assert packed.wire[first : first + 2] == b"\xc0\x0c"
    # A different spelling shares only the suffixes spelled the same: "svc.cluster.local", at
    # 12 + len("\x03Web\x04Demo") = 21 in the question.
    second = packed.ends[1]
    assert packed.wire[second : second + 11] == b"\x03web\x04demo\xc0\x15"


# Header: ID 0x0161 and flags 0 read as the name "a." at offset 0, for a question that points there.
_HEADER_NAMING_A = b"\x01\x61\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"


@pytest.mark.parametrize(
    "name",
    [
        b"\x03Web\x04Demo\x03svc\x00",  # written in full: sent back as the asker spelled it
        b"\x01b\xc0\x00",  # b + a pointer into the header: "b.a.", which must be written in full
    ],
)
def test_the_askers_question_is_written_as_dnslib_writes_it(name: bytes) -> None:
    # The reply's question carries the query's bytes (Request.reply), used only when they are the
    # uncompressed form: a compressed question is no valid question in the answer.
    req = wire.parse_query(_HEADER_NAMING_A + name + b"\x00\x01\x00\x01")
    msg = req.reply(rr=[Record(req.labels, QTYPE.A, 5, b"\x0a\x00\x00\x01")])
    out, _ = wire.pack(req, msg)
    assert out == bytes(DNSRecord.pack(msg))
    assert dns.message.from_wire(out).question[0].name.to_text() == req.qname


def test_srv_target_is_written_in_full_and_not_offered_for_compression() -> None:
    # RFC 2782: no compression in the SRV target field; later names may not point into it either.
    q = DNSRecord.question("_http._tcp.web.demo.svc.cluster.local", "SRV")
    reply = q.reply()
    target = DNSLabel("host-0.web.demo.svc.cluster.local")
    reply.add_answer(RR(q.q.qname, QTYPE.SRV, ttl=5, rdata=SRV(0, 100, 80, target)))
    reply.add_ar(RR(target, QTYPE.A, ttl=5, rdata=A("10.244.0.1")))
    packed = packer.pack(reply)
    assert packed is not None and packed.wire == bytes(reply.pack())
    srv_rdata = packed.ends[0] + 2 + 10 + 6
    in_full = b"\x06host-0\x03web\x04demo\x03svc\x07cluster\x05local\x00"
    assert packed.wire[srv_rdata : srv_rdata + len(in_full)] == in_full
    additional = packed.ends[1]
    assert packed.wire[additional : additional + 7] == b"\x06host-0"
    assert dns.message.from_wire(packed.wire).additional[0].name.to_text() == "host-0.web.demo.svc.cluster.local."


def test_names_past_16k_are_not_pointer_targets() -> None:
    # A pointer has 14 bits (RFC 1035 section 4.1.4): dnslib would write a wrong one here.
    q = DNSRecord.question("big.example", "TXT")
    reply = q.reply()
    for i in range(80):
        reply.add_answer(RR(q.q.qname, QTYPE.TXT, ttl=5, rdata=TXT([bytes([65 + i % 26]) * 250])))
    late = [DNSLabel(f"n{i}.late.example") for i in range(3)]
    for name in late * 2:
        reply.add_ar(RR(name, QTYPE.A, ttl=5, rdata=A("192.0.2.1")))
    packed = packer.pack(reply)
    assert packed is not None and len(packed.wire) > 0x4000
    parsed = dns.message.from_wire(packed.wire)
    # dnspython merges the repeats into one RRset per name: each name read back, twice over.
    assert sorted((r.name.to_text(), len(r)) for r in parsed.additional) == [(str(n), 1) for n in late]
    # The first copy lies past 0x3FFF, so the repeat is written out again; "example" (offset 0x10)
    # is still a pointer target.
    assert packed.wire.count(b"\x02n0\x04late\xc0\x10") == 2
    # The premise: dnslib writes something else here (its pointers wrap past 14 bits).
    assert bytes(reply.pack()) != packed.wire
    assert len(parsed.answer[0]) == 26  # 80 TXT records, 26 distinct strings in one RRset


def test_other_types_fall_back_to_dnslib() -> None:
    rdata = NAPTR(10, 20, b"S", b"SIP+D2U", b"", DNSLabel("_sip._udp.example"))
    reply = DNSRecord.question("example", "NAPTR").reply()
    reply.add_answer(RR("example", QTYPE.NAPTR, ttl=5, rdata=rdata))
    assert packer.pack(reply) is None
    req = wire.parse_query(bytes(DNSRecord.question("example", "NAPTR").pack()))
    out, cut = wire.pack(req, reply)
    assert not cut and out == bytes(reply.pack())
    assert dns.message.from_wire(out).answer[0].rdtype == dns.rdatatype.NAPTR


def test_bad_names_fall_back_to_dnslib_errors() -> None:
    # dnslib validates label and name length only when packing: the same error reaches the caller.
    for owner in (DNSLabel([b"x" * 64]), DNSLabel([b"x" * 60] * 5)):
        reply = DNSRecord.question("example", "A").reply()
        reply.add_answer(RR(owner, QTYPE.A, rdata=A("192.0.2.1")))
        assert packer.pack(reply) is None
        req = wire.parse_query(bytes(DNSRecord.question("example", "A").pack()))
        with pytest.raises(DNSLabelError):
            wire.pack(req, reply)


# --- truncation: the prefix cut equals the old pack-and-bisect one -----------------------------


def _answer(seed: DNSRecord, records_: list[RR], auth: list[RR], extra: list[RR]) -> DNSRecord:
    msg = DNSRecord(DNSHeader(id=seed.header.id, bitmap=seed.header.bitmap), questions=list(seed.questions))
    msg.rr, msg.auth, msg.ar = list(records_), list(auth), list(extra)
    return msg


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(messages(), st.integers(0, 700))
def test_cut_equals_the_dnslib_truncate(msg: DNSRecord, limit: int) -> None:
    reference = _answer(msg, msg.rr, msg.auth, msg.ar)
    fast = _answer(msg, msg.rr, msg.auth, msg.ar)
    expected = wire._truncate_dnslib(reference, limit)
    assert wire.truncate(fast, limit) == expected
    if len(expected) > 12:
        parsed = dns.message.from_wire(expected, ignore_trailing=False)
        assert parsed.flags & dns.flags.TC


@pytest.mark.parametrize("edns", [None, 1232, 600])
@pytest.mark.parametrize("count", [1, 20, 40, 120])
def test_pack_cuts_to_the_clients_size(edns: int | None, count: int) -> None:
    q = DNSRecord.question("Many.demo.svc.cluster.local", "A")
    if edns:
        q.add_ar(EDNS0(udp_len=edns, flags="do"))
    req = wire.parse_query(bytes(q.pack()))
    reply = req.reply(0, aa=True)
    owner = DNSLabel(list(req.labels))
    reply.rr = [RR(owner, QTYPE.A, ttl=5, rdata=A(f"10.0.{i // 256}.{i % 256}")) for i in range(count)]
    reply.auth = [RR(DNSLabel("cluster.local"), QTYPE.NS, ttl=5, rdata=NS("ns.dns.cluster.local"))]
    out, cut = wire.pack(req, reply)
    slow, slow_cut = wire._pack_dnslib(req, _answer(reply, reply.rr, reply.auth, reply.ar))
    assert (out, cut) == (slow, slow_cut)
    limit = max(512, edns or 512)
    assert len(out) <= limit
    parsed = dns.message.from_wire(out)
    assert bool(parsed.flags & dns.flags.TC) == cut
    assert (parsed.edns == 0) == bool(edns)
    if edns:
        assert parsed.ednsflags & dns.flags.DO and parsed.payload == wire.OUR_PAYLOAD
    answers = sum(len(r) for r in parsed.answer)
    assert answers == count if not cut else 0 < answers < count


# --- real answers of the kubernetes plugin -------------------------------------------------------


async def test_kubernetes_answers_pack_as_dnslib_packs_them() -> None:
    from plugins.kubernetes.k8s_cases import handler
    from plugins.kubernetes.test_k8s_table import BASE

    h = handler()
    for case in BASE:
        for spelling in (case.qname, case.qname.upper(), _mixed(case.qname)):
            for edns in (False, True):
                q = DNSRecord.question(spelling, case.qtype)
                if edns:
                    q.add_ar(EDNS0(udp_len=1232))
                req = wire.parse_query(bytes(q.pack()))
                resp = await h(req)
                out, cut = wire.pack(req, resp.msg)
                copy = _answer(resp.msg, resp.msg.rr, resp.msg.auth, resp.msg.ar)
                assert (out, cut) == wire._pack_dnslib(req, copy), f"{spelling} {case.qtype}"
                parsed = dns.message.from_wire(out)
                assert parsed.question[0].name.to_text() == spelling
                for rrset in parsed.answer:
                    if rrset.name.to_text().lower() == spelling.lower():
                        # Owners echo the asker's spelling (0x20), as pointers to the question.
                        assert rrset.name.to_text() == spelling


def _mixed(name: str) -> str:
    return "".join(c.upper() if i % 2 else c for i, c in enumerate(name))


def test_dnspython_reads_every_type_we_write() -> None:
    # A plain check that the rdata layouts are the RFC ones, independent of dnslib.
    q = DNSRecord.question("x.example", "ANY")
    reply = q.reply()
    owner = q.q.qname
    reply.add_answer(
        RR(owner, QTYPE.A, ttl=1, rdata=A("192.0.2.1")),
        RR(owner, QTYPE.AAAA, ttl=1, rdata=AAAA("2001:db8::1")),
        RR(owner, QTYPE.CNAME, ttl=1, rdata=CNAME("c.example")),
        RR(owner, QTYPE.MX, ttl=1, rdata=MX("mx.x.example", 7)),
        RR(owner, QTYPE.TXT, ttl=1, rdata=TXT(["one", "two"])),
        RR(owner, QTYPE.SRV, ttl=1, rdata=SRV(1, 2, 3, "t.x.example")),
        RR(DNSLabel("4.3.2.1.in-addr.arpa"), QTYPE.PTR, ttl=1, rdata=PTR("x.example")),
        RR(DNSLabel("example"), QTYPE.NS, ttl=1, rdata=NS("ns.example")),
        RR(DNSLabel("example"), QTYPE.SOA, ttl=1, rdata=SOA("ns.example", "h.example", (1, 2, 3, 4, 5))),
    )
    packed = packer.pack(reply)
    assert packed is not None
    parsed = dns.message.from_wire(packed.wire)
    text = sorted(r.to_text() for r in parsed.answer)
    assert text == sorted([
        "x.example. 1 IN A 192.0.2.1",
        "x.example. 1 IN AAAA 2001:db8::1",
        "x.example. 1 IN CNAME c.example.",
        "x.example. 1 IN MX 7 mx.x.example.",
        'x.example. 1 IN TXT "one" "two"',
        "x.example. 1 IN SRV 1 2 3 t.x.example.",
        "4.3.2.1.in-addr.arpa. 1 IN PTR x.example.",
        "example. 1 IN NS ns.example.",
        "example. 1 IN SOA ns.example. h.example. 1 2 3 4 5",
    ])
    assert dns.rdatatype.SRV in {r.rdtype for r in parsed.answer}
