"""The fast-path table: what it serves, what it refuses, what an invalidation drops."""

from __future__ import annotations

from dnslib import EDNS0, QTYPE, RR, A, DNSRecord

from kdns.metrics import BlockMetrics
from kdns.server import wire
from kdns.server.fastpath import AnswerTable


def packet(name: str, qtype: str = "A", edns: int | None = None, do: bool = False, id: int = 1) -> bytes:
    q = DNSRecord.question(name, qtype)
    q.header.id = id
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns, flags="do" if do else ""))
    return bytes(q.pack())


def store(
    table: AnswerTable, data: bytes, addresses: list[str], tags: frozenset[object], shuffle: bool = False
) -> bytes:
    req = wire.parse_query(data)
    msg = req.reply(aa=True)
    for ip in addresses:
        msg.add_answer(RR(req.qname, QTYPE.A, rdata=A(ip), ttl=5))
    out, cut = wire.pack(req, msg)
    assert not cut
    table.store(data, req.question_end, req.edns is not None, req.do, out, tags,
                BlockMetrics("dns://:53", "cluster.local."), "A", "NOERROR", "kubernetes", shuffle)
    return out


def test_repeat_gets_its_own_id_rd_and_spelling() -> None:
    table = AnswerTable()
    store(table, packet("web.demo.svc.cluster.local"), ["10.0.0.1"], frozenset({"web"}))
    q = bytearray(packet("WEB.Demo.svc.cluster.local", id=0xBEEF))
    q[2] &= 0xFE  # RD=0
    out = table.answer(bytes(q), "udp", "1")
    assert out is not None
    msg = DNSRecord.parse(out)
    assert msg.header.id == 0xBEEF
    assert not msg.header.rd and msg.header.aa
    assert str(msg.q.qname) == "WEB.Demo.svc.cluster.local."
    # The owner is a pointer to the question, so it echoes the asker's spelling too.
    assert str(msg.rr[0].rname) == "WEB.Demo.svc.cluster.local."
    assert str(msg.rr[0].rdata) == "10.0.0.1"


def test_edns_and_do_state_are_part_of_the_key() -> None:
    table = AnswerTable()
    store(table, packet("a.cluster.local"), ["10.0.0.1"], frozenset({"a"}))
    assert table.answer(packet("a.cluster.local", edns=1232), "udp", "1") is None
    store(table, packet("a.cluster.local", edns=1232), ["10.0.0.1"], frozenset({"a"}))
    assert table.answer(packet("a.cluster.local", edns=4096), "udp", "1") is not None
    assert table.answer(packet("a.cluster.local", edns=4096, do=True), "udp", "1") is None


def test_asking_for_nsid_is_part_of_the_key() -> None:
    # The nsid plugin answers those asking with an option the others must not get (RFC 5001).
    table = AnswerTable()
    plain = packet("a.cluster.local", edns=1232)
    asking = bytearray(plain)
    asking[-2:] = b"\x00\x04"
    asking += b"\x00\x03\x00\x00"
    store(table, plain, ["10.0.0.1"], frozenset({"a"}))
    assert table.answer(bytes(asking), "udp", "1") is None
    req = wire.parse_query(bytes(asking))
    out, _ = wire.pack(req, req.reply(), b"\x00\x03\x00\x02id")
    table.store(bytes(asking), req.question_end, True, False, out, {"a"},
                BlockMetrics("dns://:53", "cluster.local."), "A", "NOERROR", "kubernetes", nsid=True)
    assert table.answer(bytes(asking), "udp", "1") == out
    assert table.answer(plain, "udp", "1") != out


def test_qtype_bytes_are_not_case_folded() -> None:
    # TYPE65 (HTTPS) is 0x0041, 'A'; lowercasing the whole question would make it TYPE97.
    table = AnswerTable()
    store(table, packet("a.cluster.local", "HTTPS"), [], frozenset({"a"}))
    assert table.answer(packet("a.cluster.local", "TYPE97"), "udp", "1") is None
    assert table.answer(packet("a.cluster.local", "HTTPS"), "udp", "1") is not None


def test_invalidation_drops_exactly_the_tagged_answers() -> None:
    table = AnswerTable()
    store(table, packet("a.cluster.local"), ["10.0.0.1"], frozenset({"svc-a"}))
    store(table, packet("b.cluster.local"), ["10.0.0.2"], frozenset({"svc-b", "ns"}))
    table.invalidate({"svc-a"})
    assert table.answer(packet("a.cluster.local"), "udp", "1") is None
    assert table.answer(packet("b.cluster.local"), "udp", "1") is not None
    table.invalidate({"ns"})
    assert table.answer(packet("b.cluster.local"), "udp", "1") is None


def test_answer_larger_than_the_client_takes_goes_the_slow_way() -> None:
    table = AnswerTable()
    many = [f"10.0.{i // 250}.{i % 250}" for i in range(40)]
    store(table, packet("big.cluster.local", edns=4096), many, frozenset({"big"}))
    assert table.answer(packet("big.cluster.local", edns=4096), "udp", "1") is not None
    assert table.answer(packet("big.cluster.local", edns=512), "udp", "1") is None
    assert table.answer(packet("big.cluster.local", edns=512), "tcp", "1") is not None


def test_trailing_garbage_and_odd_headers_miss() -> None:
    table = AnswerTable()
    store(table, packet("a.cluster.local"), ["10.0.0.1"], frozenset({"a"}))
    good = packet("a.cluster.local")
    assert table.answer(good + b"\x00", "udp", "1") is None
    response = bytearray(good)
    response[2] |= 0x80
    assert table.answer(bytes(response), "udp", "1") is None
    two = bytearray(good)
    two[5] = 2
    assert table.answer(bytes(two), "udp", "1") is None


def test_shuffle_reorders_address_records_only() -> None:
    table = AnswerTable()
    addresses = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    store(table, packet("h.cluster.local"), addresses, frozenset({"h"}), shuffle=True)
    orders = set()
    for _ in range(200):
        out = table.answer(packet("h.cluster.local"), "udp", "1")
        assert out is not None
        msg = DNSRecord.parse(out)
        orders.add(tuple(str(rr.rdata) for rr in msg.rr))
    assert len(orders) == 6
    assert all(sorted(order) == addresses for order in orders)


def test_hits_are_counted_in_the_metric_families() -> None:
    from kdns.metrics import DNS

    table = AnswerTable()
    metrics = BlockMetrics("dns://:53", "cluster.local.")
    data = packet("m.cluster.local")
    req = wire.parse_query(data)
    msg = req.reply(aa=True)
    msg.add_answer(RR(req.qname, QTYPE.A, rdata=A("10.0.0.9"), ttl=5))
    out, _ = wire.pack(req, msg)
    table.store(data, req.question_end, False, False, out, frozenset({"m"}), metrics, "A", "NOERROR", "kubernetes")
    for _ in range(3):
        assert table.answer(packet("m.cluster.local"), "udp", "1") is not None
    assert table.answer(packet("m.cluster.local"), "tcp", "2") is not None
    list(DNS.collect())  # a scrape folds the counts in
    assert metrics.requests == {("udp", "1", "A"): 3, ("tcp", "2", "A"): 1}
    assert metrics.responses == {("NOERROR", "kubernetes"): 4}
    assert sum(metrics.durations["A"].counts) == 4
    assert sum(metrics.response_sizes["udp"].counts) == 3
    assert sum(metrics.request_sizes["tcp"].counts) == 1
    # An invalidated entry's hits are kept, not lost with it.
    table.answer(packet("m.cluster.local"), "udp", "1")
    table.invalidate({"m"})
    assert metrics.requests[("udp", "1", "A")] == 4


def test_malformed_edns_options_miss() -> None:
    table = AnswerTable()
    store(table, packet("a.cluster.local", edns=1232), ["10.0.0.1"], frozenset({"a"}))
    good = bytearray(packet("a.cluster.local", edns=1232))
    cookie = b"\x00\x0a\x00\x08" + bytes(8)
    good[-2:] = len(cookie).to_bytes(2, "big")
    assert table.answer(bytes(good) + cookie, "udp", "1") is not None
    broken = bytes(good[:-2]) + len(cookie).to_bytes(2, "big") + b"\x00\x0a\x00\x09" + bytes(8)
    assert table.answer(broken, "udp", "1") is None


def test_rd_and_cd_come_from_each_query_in_every_combination() -> None:
    table = AnswerTable()
    store(table, packet("web.demo.svc.cluster.local"), ["10.0.0.1"], frozenset({"web"}))
    for rd in (False, True):
        for cd in (False, True):
            q = bytearray(packet("web.demo.svc.cluster.local", id=7))
            q[2] = q[2] & 0xFE | rd
            q[3] = q[3] & 0xEF | (0x10 if cd else 0)
            out = table.answer(bytes(q), "udp", "1")
            assert out is not None
            header = DNSRecord.parse(out).header
            assert (bool(header.rd), bool(header.cd)) == (rd, cd)
            assert header.qr and header.aa and header.a == 1 and header.rcode == 0


def test_answers_of_a_block_without_loadbalance_keep_their_order() -> None:
    table = AnswerTable()
    addresses = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    store(table, packet("h.cluster.local"), addresses, frozenset({"h"}), shuffle=False)
    store(table, packet("s.cluster.local"), addresses, frozenset({"s"}), shuffle=True)
    for _ in range(50):
        out = table.answer(packet("h.cluster.local"), "udp", "1")
        assert out is not None
        assert [str(rr.rdata) for rr in DNSRecord.parse(out).rr] == addresses
