"""kdns.message: Header, Question, Message and Record read as the dnslib objects with the same content."""

from __future__ import annotations

import struct
from socket import AF_INET, AF_INET6, inet_pton

import pytest
from dnslib import (
    AAAA, CNAME, NS, PTR, QTYPE, RR, SOA, SRV, TXT, A, DNSHeader, DNSLabel, DNSLabelError, DNSQuestion, DNSRecord,
)

from kdns.message import Header, Message, Question, Record, labels_of, owner_labels

OWNER = (b"Web", b"demo", b"svc", b"cluster", b"local")
TARGET = (b"web", b"demo", b"svc", b"cluster", b"local")
ZONE = (b"cluster", b"local")

# (Record, the dnslib RR with the same content): every form the kubernetes plugin writes.
PAIRS = [
    (Record(OWNER, QTYPE.A, 30, inet_pton(AF_INET, "10.96.0.10")), RR(OWNER, QTYPE.A, ttl=30, rdata=A("10.96.0.10"))),
    (
        Record(OWNER, QTYPE.AAAA, 30, inet_pton(AF_INET6, "fd00::a")),
        RR(OWNER, QTYPE.AAAA, ttl=30, rdata=AAAA("fd00::a")),
    ),
    (Record(OWNER, QTYPE.PTR, 5, (TARGET,)), RR(OWNER, QTYPE.PTR, ttl=5, rdata=PTR(DNSLabel(TARGET)))),
    (Record(OWNER, QTYPE.CNAME, 5, ((b"example", b"com"),)), RR(OWNER, QTYPE.CNAME, ttl=5, rdata=CNAME("example.com."))),
    (Record(ZONE, QTYPE.NS, 5, (TARGET,)), RR(ZONE, QTYPE.NS, ttl=5, rdata=NS(DNSLabel(TARGET)))),
    (
        Record(OWNER, QTYPE.SRV, 5, (struct.pack("!HHH", 0, 100, 80), TARGET)),
        RR(OWNER, QTYPE.SRV, ttl=5, rdata=SRV(0, 100, 80, DNSLabel(TARGET))),
    ),
    (
        Record(ZONE, QTYPE.SOA, 5, ((b"ns", b"dns") + ZONE, (b"hostmaster",) + ZONE, struct.pack("!IIIII", 7, 1, 2, 3, 4))),
        RR(ZONE, QTYPE.SOA, ttl=5, rdata=SOA("ns.dns.cluster.local.", "hostmaster.cluster.local.", (7, 1, 2, 3, 4))),
    ),
    (Record(OWNER, QTYPE.TXT, 5, b"\x051.1.0"), RR(OWNER, QTYPE.TXT, ttl=5, rdata=TXT("1.1.0"))),
]


@pytest.mark.parametrize(("record", "rr"), PAIRS, ids=[QTYPE[rr.rtype] for _, rr in PAIRS])
def test_a_record_reads_as_the_dnslib_rr(record: Record, rr: RR) -> None:
    assert isinstance(record, RR)
    assert record.rname.label == rr.rname.label
    assert (record.rtype, record.rclass, record.ttl) == (rr.rtype, rr.rclass, rr.ttl)
    assert record.rdata == rr.rdata and str(record) == str(rr)
    assert record == rr and rr == record and not record != rr and not rr != record
    assert owner_labels(record) == owner_labels(rr) == rr.rname.label


def test_dnslib_packs_records_as_its_own_rrs() -> None:
    # The fallback for messages the fast packer leaves to dnslib (server/wire.py) packs Records too.
    question = DNSQuestion(DNSLabel(OWNER), QTYPE.A)
    ours = DNSRecord(DNSHeader(7, 0x8580), [question], rr=[r for r, _ in PAIRS])
    theirs = DNSRecord(DNSHeader(7, 0x8580), [question], rr=[rr for _, rr in PAIRS])
    assert ours.pack() == theirs.pack()


def test_a_record_whose_name_is_too_long_fails_in_dnslib_as_an_rr_does() -> None:
    long_name = (b"a" * 63,) * 4
    record = Record(OWNER, QTYPE.PTR, 5, (long_name,))
    msg = DNSRecord(DNSHeader(7, 0x8580), [DNSQuestion(DNSLabel(OWNER), QTYPE.PTR)], rr=[record])
    with pytest.raises(DNSLabelError):
        msg.pack()


def test_header_question_and_message_equal_the_dnslib_ones() -> None:
    header = Header(1, 0x8583, 1)
    assert header == DNSHeader(2, 0x8583) and DNSHeader(2, 0x8583) == header
    assert header != DNSHeader(1, 0x8580)
    assert header.rcode == 3 and header.aa == 1 and header.qr == 1
    header.rcode = 2
    assert header.bitmap == 0x8582 and header.rcode == 2
    question = Question(DNSLabel(OWNER), QTYPE.SRV)
    assert question == DNSQuestion(DNSLabel(OWNER), QTYPE.SRV) and DNSQuestion(DNSLabel(OWNER), QTYPE.SRV) == question
    rr = [r for r, _ in PAIRS]
    msg = Message(header, [question], rr, [], [])
    plain = DNSRecord(DNSHeader(1, 0x8582), [DNSQuestion(DNSLabel(OWNER), QTYPE.SRV)], rr=[r for _, r in PAIRS])
    assert msg == plain and plain == msg
    assert DNSRecord.parse(msg.pack()) == plain


@pytest.mark.parametrize(
    "name",
    [
        "web.demo.svc.cluster.local.", "Web.Demo.svc.cluster.local", "cluster.local.", "a", ".", "",
        "a..b.", "a.b..", ".a.", "x" * 64 + ".local.", "x" * 63 + ".local.", "caf\u00e9.example.", "a\\046b.example.",
    ],
)
def test_labels_of_reads_a_name_as_dnslib_does(name: str) -> None:
    try:
        expected = DNSLabel(name).label
    except UnicodeError as e:
        with pytest.raises(type(e)):
            labels_of(name)
    else:
        assert labels_of(name) == expected
