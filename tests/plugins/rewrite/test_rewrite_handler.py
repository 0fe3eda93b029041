"""The rewrite handler against CoreDNS's tables: TestRewrite, TestRewriteNamePrefixSuffix,
TestRewriteIllegalName (name_test.go), TestTtlRewrite (ttl_test.go), TestRCodeRewrite, TestCNameTargetRewrite
(cname_target_test.go), the EDNS0 tests of rewrite_test.go, and the answer rewrites of the README.
Records are zone text; the next plugin records the query it is handed."""

from __future__ import annotations

import pytest
from dnslib import CLASS, QTYPE, RCODE, RR
from plugins.rewrite.rewrite_cases import Zone, handler, options_of, query, zone_text

from kdns.request import Request
from kdns.response import Response

# TestRewrite's rules, in order.
REWRITE_RULES = r"""
rewrite stop name from.nl. to.nl.
rewrite stop name regex (core)\.(dns)\.(rocks)\.(nl) {2}.{1}.{3}.{4} answer name (dns)\.(core)\.(rocks)\.(nl) {2}.{1}.{3}.{4}
rewrite stop name exact from.exact.nl. to.nl.
rewrite stop name prefix prefix to
rewrite stop name suffix .suffix. .nl.
rewrite stop name substring from.substring to
rewrite stop name regex (f.*m)\.regex\.(nl) to.{2}
rewrite continue name regex consul\.(rocks) core.dns.{1}
rewrite stop name core.dns.rocks to.nl.
rewrite continue class HS CH
rewrite stop class CH IN
rewrite stop type ANY HINFO
"""
A, ANY, HINFO, IN, CH, HS = QTYPE.A, QTYPE.ANY, QTYPE.HINFO, 1, 3, 4
# (asked name, type, class) -> (name, type, class the next plugin sees, owner of the answer).
# CoreDNS's current table checks the first six; the owner column follows its current name.go: only
# exact rules, `answer auto` and `answer name` map answers back (an older table expected every
# rewritten owner mapped back). consul.rocks: the continue regex makes core.dns.rocks, whose exact
# rule maps to.nl back to core.dns.rocks; nothing maps that back further.
REWRITE_TABLE = [
    ("from.nl.", A, IN, "to.nl.", A, IN, "from.nl."),
    ("a.nl.", A, IN, "a.nl.", A, IN, "a.nl."),
    ("a.nl.", A, CH, "a.nl.", A, IN, "a.nl."),
    ("a.nl.", ANY, IN, "a.nl.", HINFO, IN, "a.nl."),
    # name is rewritten, type is not.
    ("from.nl.", ANY, IN, "to.nl.", ANY, IN, "from.nl."),
    ("from.exact.nl.", A, IN, "to.nl.", A, IN, "from.exact.nl."),
    ("prefix.nl.", A, IN, "to.nl.", A, IN, "to.nl."),
    ("to.suffix.", A, IN, "to.nl.", A, IN, "to.nl."),
    ("from.substring.nl.", A, IN, "to.nl.", A, IN, "to.nl."),
    ("from.regex.nl.", A, IN, "to.nl.", A, IN, "to.nl."),
    ("consul.rocks.", A, IN, "to.nl.", A, IN, "core.dns.rocks."),
    # name is not, type is, but class is, because class is the 2nd rule.
    ("a.nl.", ANY, CH, "a.nl.", ANY, IN, "a.nl."),
    # class gets rewritten twice because of continue/stop logic: HS to CH, CH to IN
    ("a.nl.", ANY, HS, "a.nl.", ANY, IN, "a.nl."),
    ("core.dns.rocks.nl.", A, IN, "dns.core.rocks.nl.", A, IN, "core.dns.rocks.nl."),
]


@pytest.mark.parametrize("row", REWRITE_TABLE, ids=lambda row: f"{row[0]}/{QTYPE.get(row[1])}/{CLASS.get(row[2])}")
async def test_rewrite_table(row: tuple[str, int, int, str, int, int, str]) -> None:
    asked, qtype, qclass, name, to_type, to_class, owner = row
    zone = Zone()
    resp = await handler(REWRITE_RULES, zone)(query(asked, qtype, qclass))
    seen = zone.last
    assert (seen.qname, seen.qtype, seen.qclass) == (name, to_type, to_class)
    # The client sees its own question, and for A the answer is owned by the name it asked.
    q = resp.msg.questions[0]
    assert (str(q.qname), q.qtype, q.qclass) == (asked, qtype, qclass)
    if qtype == A and to_type == A:
        assert str(resp.msg.rr[0].rname) == owner


@pytest.mark.parametrize("rule,asked,expected", [
    ("prefix foo bar", "foo.example.com.", "bar.example.com."),
    ("prefix foo. bar.", "foo.example.com.", "bar.example.com."),
    ("suffix com org", "foo.example.com.", "foo.example.org."),
    ("suffix .com .org", "foo.example.com.", "foo.example.org."),
])
async def test_name_prefix_suffix(rule: str, asked: str, expected: str) -> None:
    zone = Zone()
    await handler(f"rewrite stop name {rule}", zone)(query(asked))
    assert zone.last.qname == expected


async def test_illegal_name_is_servfail_with_error() -> None:
    zone = Zone()
    resp = await handler("rewrite stop name example.org. example..org.", zone)(query("example.org."))
    assert zone.seen == []
    assert resp.rcode == RCODE.SERVFAIL and "invalid name" in (resp.error or "")
    assert str(resp.msg.questions[0].qname) == "example.org."


@pytest.mark.parametrize("asked", [
    "a." + "b" * 60 + ".example.org.",  # a label over 63 bytes
    ".".join(["abcdefghij"] * 20) + ".example.org.",  # a name over 255 bytes
])
async def test_name_too_long_is_servfail(asked: str) -> None:
    zone = Zone()
    rules = r"rewrite name regex ^(.*)\.example\.org\.$ {1}{1}{1}{1}.example.org."
    resp = await handler(rules, zone)(query(asked))
    assert zone.seen == [] and resp.rcode == RCODE.SERVFAIL and "invalid name after rewrite" in (resp.error or "")


# TestTtlRewrite
TTL_RULES = r"""
rewrite stop ttl srv1.coredns.rocks 1
rewrite stop ttl exact srv15.coredns.rocks 15
rewrite stop ttl prefix srv30 30
rewrite stop ttl suffix 45.coredns.rocks 45
rewrite stop ttl substring rv50 50
rewrite stop ttl regex (srv10)\.(coredns)\.(rocks) 10
rewrite stop ttl regex (srv20)\.(coredns)\.(rocks) 20
"""
TTL_TABLE = [
    ("srv1.coredns.rocks.", "A", ["srv1.coredns.rocks. 5 IN A 10.0.0.1"], 1),
    ("srv15.coredns.rocks.", "A", ["srv15.coredns.rocks. 5 IN A 10.0.0.15"], 15),
    ("srv30.coredns.rocks.", "A", ["srv30.coredns.rocks. 5 IN A 10.0.0.30"], 30),
    ("srv45.coredns.rocks.", "A", ["srv45.coredns.rocks. 5 IN A 10.0.0.45"], 45),
    ("srv50.coredns.rocks.", "A", ["srv50.coredns.rocks. 5 IN A 10.0.0.50"], 50),
    ("srv10.coredns.rocks.", "A", ["srv10.coredns.rocks. 5 IN A 10.0.0.10"], 10),
    ("xmpp.coredns.rocks.", "SRV", ["xmpp.coredns.rocks. 5 IN SRV 0 100 100 srvxmpp.coredns.rocks."], 5),
    ("srv15.coredns.rocks.", "HINFO", ["srv15.coredns.rocks. 5 IN HINFO \\# 18 08494e54454c2d3634085248454c20372e35"], 15),
    ("srv20.coredns.rocks.", "A", ["srv20.coredns.rocks. 5 IN A 10.0.0.22", "srv20.coredns.rocks. 5 IN A 10.0.0.23"], 20),
]


@pytest.mark.parametrize("asked,qtype,records,ttl", TTL_TABLE, ids=lambda v: v if isinstance(v, str) else None)
async def test_ttl_table(asked: str, qtype: str, records: list[str], ttl: int) -> None:
    resp = await handler(TTL_RULES, Zone(records))(query(asked, qtype))
    assert resp.msg.rr and [rr.ttl for rr in resp.msg.rr] == [ttl] * len(records)


@pytest.mark.parametrize("span,before,after", [
    ("30-300", 5, 30), ("30-300", 60, 60), ("30-300", 3600, 300), ("30-", 5, 30), ("30-", 99999, 99999),
    ("-300", 0, 0), ("-300", 3600, 300),
])
async def test_ttl_ranges_clamp(span: str, before: int, after: int) -> None:
    zone = Zone([f"a.example.org. {before} IN A 192.0.2.1"], )
    resp = await handler(f"rewrite ttl a.example.org {span}", zone)(query("a.example.org."))
    assert [rr.ttl for rr in resp.msg.rr] == [after]


async def test_ttl_applies_to_authority_too() -> None:
    async def nodata(req: Request) -> Response:
        resp = req.answer(plugin="zone")
        resp.msg.auth = RR.fromZone("example.org. 3600 IN SOA ns.example.org. h.example.org. 1 2 3 4 5")
        return resp

    resp = await handler("rewrite ttl suffix example.org 30", nodata)(query("a.example.org."))
    assert [rr.ttl for rr in resp.msg.auth] == [30]


async def test_rcode_rewrite() -> None:
    # TestRCodeRewrite: SERVFAIL for srv1.coredns.rocks becomes FORMERR.
    zone = Zone(["srv1.coredns.rocks. 5 IN A 10.0.0.1"], rcode=RCODE.SERVFAIL)
    h = handler("rewrite stop rcode exact srv1.coredns.rocks SERVFAIL FORMERR", zone)
    assert (await h(query("srv1.coredns.rocks."))).rcode == RCODE.FORMERR
    # An empty NXDOMAIN rewritten to NOERROR (records or none, the RCODE is the message's).
    h = handler(r"rewrite rcode regex (.*)\.example\.org NXDOMAIN 0", Zone([]))
    resp = await h(query("gone.example.org."))
    assert resp.rcode == RCODE.NOERROR and resp.msg.rr == []
    assert (await h(query("gone.example.net."))).rcode == RCODE.NXDOMAIN


# TestCNameTargetRewrite: the rules, the upstream's answers and the expected answers.
CNAME_RULES = r"""
rewrite continue cname exact def.example.com. xyz.example.com.
rewrite continue cname prefix chat.openai.com bard.google.com
rewrite continue cname suffix uvw. xyz.
rewrite continue cname substring efgh zzzz.www
rewrite continue cname regex (.*)\.web\.(.*)\.site\. {1}.webapp.{2}.org.
"""
UPSTREAM = [
    "xyz.example.com. 3600 IN A 3.4.5.6",
    "xyz.example.com. 3600 IN AAAA 3a01:7e00::f03c:91ff:fe79:234c",
    "bard.google.com.cdn.cloudflare.net. 1800 IN A 9.7.2.1",
    "www.hosting.xyz. 500 IN A 20.30.40.50",
    "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.1",
    "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.2",
    "orders.webapp.eu.org. 120 IN A 20.0.0.9",
]
CNAME_TABLE = [
    ("abc.example.com.", "A",
     ["abc.example.com. 5 IN CNAME def.example.com.", "def.example.com. 5 IN A 1.2.3.4"],
     ["abc.example.com. 5 IN CNAME xyz.example.com.", "xyz.example.com. 3600 IN A 3.4.5.6"]),
    ("abc.example.com.", "AAAA",
     ["abc.example.com. 5 IN CNAME def.example.com.", "def.example.com. 5 IN AAAA 2a01:7e00::f03c:91ff:fe79:234c"],
     ["abc.example.com. 5 IN CNAME xyz.example.com.", "xyz.example.com. 3600 IN AAAA 3a01:7e00::f03c:91ff:fe79:234c"]),
    ("chat.openai.com.", "A",
     ["chat.openai.com. 20 IN CNAME chat.openai.com.cdn.cloudflare.net.",
      "chat.openai.com.cdn.cloudflare.net. 30 IN A 23.2.1.2", "chat.openai.com.cdn.cloudflare.net. 30 IN A 24.6.0.8"],
     ["chat.openai.com. 20 IN CNAME bard.google.com.cdn.cloudflare.net.",
      "bard.google.com.cdn.cloudflare.net. 1800 IN A 9.7.2.1"]),
    ("coredns.io.", "A",
     ["coredns.io. 100 IN CNAME www.hosting.uvw.", "www.hosting.uvw. 200 IN A 7.2.3.4"],
     ["coredns.io. 100 IN CNAME www.hosting.xyz.", "www.hosting.xyz. 500 IN A 20.30.40.50"]),
    ("core.dns.rocks.", "A",
     ["core.dns.rocks. 200 IN CNAME abcd.efgh.pqrst.", "abcd.efgh.pqrst. 100 IN A 200.30.45.67"],
     ["core.dns.rocks. 200 IN CNAME abcd.zzzz.www.pqrst.", "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.1",
      "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.2"]),
    ("order.service.eu.", "A",
     ["order.service.eu. 200 IN CNAME orders.web.eu.site.", "orders.web.eu.site. 50 IN A 10.10.15.1"],
     ["order.service.eu. 200 IN CNAME orders.webapp.eu.org.", "orders.webapp.eu.org. 120 IN A 20.0.0.9"]),
]


@pytest.mark.parametrize("asked,qtype,answer,expected", CNAME_TABLE, ids=lambda v: v if isinstance(v, str) else None)
async def test_cname_target_table(asked: str, qtype: str, answer: list[str], expected: list[str]) -> None:
    upstream = Zone(UPSTREAM)

    async def first(req: Request) -> Response:
        resp = req.answer(plugin="forward")
        resp.msg.rr = [rr for text in answer for rr in RR.fromZone(text)]
        return resp

    async def resolve(qname: str, qtype: int) -> Response:
        return await upstream(query(qname, qtype))

    req = query(asked, qtype)
    req.resolve = resolve
    resp = await handler(CNAME_RULES, first)(req)
    assert zone_text(resp.msg.rr) == zone_text([rr for text in expected for rr in RR.fromZone(text)])
    assert resp.tags is None  # looked up through the chain: never a fast-path answer


# The EDNS0 tests of rewrite_test.go: the options of the query the next plugin is handed.
EDNS_TABLE = [
    ("local set 0xffee 0xabcdef", [(0xFFEE, b"\xab\xcd\xef")]),
    ("local append 0xffee abcdefghijklmnop", [(0xFFEE, b"abcdefghijklmnop")]),
    ("local replace 0xffee abcdefghijklmnop", []),
    ("nsid set", [(3, b"")]),
    ("nsid append", [(3, b"")]),
    ("nsid replace", []),
]


@pytest.mark.parametrize("args,options", EDNS_TABLE)
async def test_edns0_local_and_nsid(args: str, options: list[tuple[int, bytes]]) -> None:
    zone = Zone()
    resp = await handler(f"rewrite stop edns0 {args}", zone)(query("example.com."))
    seen = zone.last
    if options:
        assert options_of(seen) == options
        assert seen.edns is not None and seen.edns.payload == 4096  # CoreDNS adds OPT with 4096
    assert resp.tags is None
    # The client, who sent no OPT record, gets none back: the server packs for its own request.
    assert resp.msg.ar == []


async def test_edns0_local_multi_rule() -> None:
    rules = "rewrite stop edns0 local replace 0xffee abcdef\nrewrite stop edns0 local set 0xffee fedcba"
    zone = Zone()
    await handler(rules, zone)(query("example.com."))
    assert options_of(zone.last) == [(0xFFEE, b"fedcba")]
    await handler(rules, zone)(query("example.com.", options=[(0xFFEE, b"foobar")], do=True))
    assert options_of(zone.last) == [(0xFFEE, b"abcdef")]
    assert zone.last.edns is not None and zone.last.edns.do  # the client's DO bit is kept


@pytest.mark.parametrize("variable,data", [
    ("{qname}", b"example.com."),
    ("{qtype}", b"\x00\x01"),
    ("{client_ip}", b"\x0a\xf0\x00\x01"),
    ("{client_port}", b"\x9d\x14"),
    ("{protocol}", b"udp"),
    ("{server_port}", b"\x00\x35"),
    ("{server_ip}", b"\x7f\x00\x00\x01"),
    ("{test/label}", None),  # no metadata plugin in kdns: an empty value, the rule does nothing
])
async def test_edns0_local_variables(variable: str, data: bytes | None) -> None:
    zone = Zone()
    await handler(f"rewrite edns0 local set 0xffee {variable}", zone)(query("example.com."))
    if data is None:
        assert zone.last.edns is None
    else:
        assert options_of(zone.last) == [(0xFFEE, data)]


@pytest.mark.parametrize("client,args,option", [
    ("10.240.0.1", "set 24 56", b"\x00\x01\x18\x00\x0a\xf0\x00"),
    ("10.240.0.1", "set 32 56", b"\x00\x01\x20\x00\x0a\xf0\x00\x01"),
    ("10.240.0.1", "set 0 56", b"\x00\x01\x00\x00"),
    ("fe80::42:ff:feca:4c65", "set 24 56", b"\x00\x02\x38\x00\xfe\x80\x00\x00\x00\x00\x00"),
    ("fe80::42:ff:feca:4c65", "set 24 128",
     b"\x00\x02\x80\x00\xfe\x80\x00\x00\x00\x00\x00\x00\x00\x42\x00\xff\xfe\xca\x4c\x65"),
    ("fe80::42:ff:feca:4c65", "set 24 0", b"\x00\x02\x00\x00"),
])
async def test_edns0_subnet(client: str, args: str, option: bytes) -> None:
    # TestRewriteEDNS0Subnet; the address is sent cut to SOURCE PREFIX-LENGTH bits (RFC 7871 6).
    zone = Zone()
    await handler(f"rewrite edns0 subnet {args}", zone)(query("example.com.", client=(client, 40212)))
    assert options_of(zone.last) == [(8, option)]


async def test_edns0_subnet_replace_keeps_shorter_prefix_and_unset_removes() -> None:
    zone = Zone()
    asked = [(8, b"\x00\x01\x10\x00\x0a\xf0")]  # 10.240.0.0/16 from the client
    await handler("rewrite edns0 subnet replace 24 56", zone)(query("example.com.", options=asked))
    assert options_of(zone.last) == [(8, b"\x00\x01\x10\x00\x0a\xf0")]
    await handler("rewrite edns0 subnet unset", zone)(query("example.com.", options=asked + [(3, b"")]))
    assert options_of(zone.last) == [(3, b"")]
    await handler("rewrite edns0 local unset 0xffee", zone)(query("example.com.", options=[(0xFFEE, b"x")]))
    assert options_of(zone.last) == []


# README: Response Rewrites.
ANSWERS = [
    "ftp.service.us-west-1.consul. 0 IN A 10.10.10.10",
    "ftp.service.us-west-1.consul. 0 IN A 10.20.20.20",
    "ftp.service.us-west-1.consul. 0 IN A 10.30.30.30",
]


async def test_readme_answer_mismatch_without_answer_rule() -> None:
    h = handler(r"rewrite name regex (.*)-(us-west-1)\.coredns\.rocks {1}.service.{2}.consul", Zone(ANSWERS))
    resp = await h(query("ftp-us-west-1.coredns.rocks."))
    assert str(resp.msg.questions[0].qname) == "ftp-us-west-1.coredns.rocks."
    # Without an answer rule the records keep the names they were found under (the README's mismatch).
    assert zone_text(resp.msg.rr) == ANSWERS


@pytest.mark.parametrize("rules", [
    "rewrite stop {\n name regex (.*)-(us-west-1)\\.coredns\\.rocks {1}.service.{2}.consul\n"
    " answer name (.*)\\.service\\.(us-west-1)\\.consul {1}-{2}.coredns.rocks\n}",
    r"rewrite stop name regex (.*)-(us-west-1)\.coredns\.rocks {1}.service.{2}.consul "
    r"answer name (.*)\.service\.(us-west-1)\.consul {1}-{2}.coredns.rocks",
    r"rewrite stop name regex (.*)-(us-west-1)\.coredns\.rocks {1}.service.{2}.consul answer auto",
])
async def test_readme_answer_name(rules: str) -> None:
    resp = await handler(rules, Zone(ANSWERS))(query("ftp-us-west-1.coredns.rocks."))
    assert zone_text(resp.msg.rr) == [
        "ftp-us-west-1.coredns.rocks. 0 IN A 10.10.10.10",
        "ftp-us-west-1.coredns.rocks. 0 IN A 10.20.20.20",
        "ftp-us-west-1.coredns.rocks. 0 IN A 10.30.30.30",
    ]


async def test_readme_suffix_auto_and_answer_value() -> None:
    records = [
        "www.service.consul. 5 IN CNAME web.service.consul.",
        "web.service.consul. 5 IN A 192.0.2.1",
        "_http._tcp.service.consul. 5 IN SRV 0 100 80 web.service.consul.",
    ]
    h = handler("rewrite stop {\n name suffix .coredns.rocks .service.consul answer auto\n}", Zone(records))
    resp = await h(query("www.coredns.rocks."))
    assert zone_text(resp.msg.rr) == [
        "www.coredns.rocks. 5 IN CNAME web.coredns.rocks.", "web.coredns.rocks. 5 IN A 192.0.2.1",
    ]
    h = handler(
        r"rewrite name regex _http\._tcp\.coredns\.rocks _http._tcp.service.consul answer auto "
        r"answer value (.*)\.service\.consul {1}.coredns.rocks", Zone(records),
    )
    resp = await h(query("_http._tcp.coredns.rocks.", "SRV"))
    assert zone_text(resp.msg.rr) == ["_http._tcp.coredns.rocks. 5 IN SRV 0 100 80 web.coredns.rocks."]


async def test_readme_exact_answers_always_rewritten() -> None:
    resp = await handler("rewrite name exact RED BLUE", Zone(["blue. 5 IN A 192.0.2.7"]))(query("red."))
    # The client sees only RED, in its own spelling: never BLUE.
    assert zone_text(resp.msg.rr) == ["red. 5 IN A 192.0.2.7"]
    resp = await handler("rewrite name exact RED BLUE", Zone(["blue. 5 IN A 192.0.2.7"]))(query("ReD."))
    assert zone_text(resp.msg.rr) == ["ReD. 5 IN A 192.0.2.7"]
    assert str(resp.msg.questions[0].qname) == "ReD."


async def test_readme_substring_and_regex_examples() -> None:
    zone = Zone()
    await handler("rewrite name substring service.us-west-1.example.org service.us-west-1.consul", zone)(
        query("ftp.service.us-west-1.example.org."))
    assert zone.last.qname == "ftp.service.us-west-1.consul."
    await handler(r"rewrite name regex (.*)-(us-west-1)\.example\.org {1}.service.{2}.consul", zone)(
        query("ftp-us-west-1.example.org."))
    assert zone.last.qname == "ftp.service.us-west-1.consul."
    await handler("rewrite name suffix .schmoogle.com. .google.com.", zone)(query("www.schmoogle.com."))
    assert zone.last.qname == "www.google.com."
    await handler("rewrite type ANY HINFO", zone)(query("example.org.", "ANY"))
    assert zone.last.qtype == QTYPE.HINFO
    await handler("rewrite class CH IN", zone)(query("example.org.", "A", 3))
    assert zone.last.qclass == 1


async def test_no_match_passes_the_request_and_response_through() -> None:
    zone = Zone()
    req = query("other.example.")
    sentinel = Response(req.reply(), plugin="zone", tags={"t"})

    async def fixed(r: Request) -> Response:
        zone.seen.append(r)
        return sentinel

    resp = await handler("rewrite name a.example b.example", fixed)(req)
    assert zone.last is req and resp is sentinel


async def test_tags_kept_for_question_only_rules() -> None:
    async def tagged(req: Request) -> Response:
        resp = req.answer(plugin="kubernetes", aa=True)
        resp.msg.rr = RR.fromZone(f"{req.qname} 5 IN A 10.96.0.10")
        resp.tags = {("svc", req.qname_lower)}
        return resp

    h = handler("rewrite name suffix .example.com .svc.cluster.local answer auto\nrewrite ttl suffix svc.cluster.local 30", tagged)
    resp = await h(query("web.demo.example.com."))
    assert resp.tags == {("svc", "web.demo.svc.cluster.local.")}
    assert zone_text(resp.msg.rr) == ["web.demo.example.com. 5 IN A 10.96.0.10"]
    h = handler("rewrite continue edns0 local set 0xffee {client_ip}\nrewrite name suffix .example.com .svc.cluster.local", tagged)
    assert (await h(query("web.demo.example.com."))).tags is None


async def test_stop_on_one_line_ends_rewriting_for_the_lines_after() -> None:
    zone = Zone()
    rules = "rewrite stop name a.example b.example\nrewrite name b.example c.example"
    await handler(rules, zone)(query("a.example."))
    assert zone.last.qname == "b.example."
    rules = "rewrite continue name a.example b.example\nrewrite name b.example c.example"
    resp = await handler(rules, zone)(query("a.example."))
    assert zone.last.qname == "c.example."
    # CoreDNS maps each rewrite back by its own rule: c is mapped to b, then nothing maps b to a.
    assert str(resp.msg.questions[0].qname) == "a.example."


# TestPartialRewrite (partial_test.go): prefix and substring match within a label; for name, ttl
# and rcode rules alike.
PARTIAL = [
    ("prefix", "API-", "SVC-", "api-prod.example.", "svc-prod.example."),
    ("substring", "-API-", "-SVC-", "my-api-prod.example.", "my-svc-prod.example."),
    ("prefix", "API.", "SVC-", "api.prod.example.", "svc-prod.example."),
    ("substring", "API.", "SVC-", "my.api.prod.example.", "my.svc-prod.example."),
    ("prefix", "API.", "SVC.", "api.prod.example.", "svc.prod.example."),
    ("substring", "API.", "SVC.", "my.api.prod.example.", "my.svc.prod.example."),
    ("exact", "API.PROD.EXAMPLE", "SVC.PROD.EXAMPLE", "api.prod.example.", "svc.prod.example."),
    ("suffix", "PROD.EXAMPLE", "STAGING.EXAMPLE", "api.prod.example.", "api.staging.example."),
]


@pytest.mark.parametrize("field", ["name", "ttl", "rcode"])
@pytest.mark.parametrize("match,source,target,asked,rewritten", PARTIAL)
async def test_partial_rewrite(field: str, match: str, source: str, target: str, asked: str, rewritten: str) -> None:
    zone = Zone()
    arg = {"name": target, "ttl": "60", "rcode": "NOERROR NXDOMAIN"}[field]
    resp = await handler(f"rewrite stop {field} {match} {source} {arg}", zone)(query(asked))
    if field == "name":
        assert zone.last.qname == rewritten
    elif field == "ttl":
        assert [rr.ttl for rr in resp.msg.rr] == [60]
    else:
        assert resp.rcode == RCODE.NXDOMAIN


# TestResponseReverter (reverter_test.go), stop and continue: the asker's question comes back,
# whatever the records (noRevert, an internal switch of CoreDNS's tests, has no Corefile form).
REVERTER = [
    ("core.dns.rocks.", "A", ["dns.core.rocks. 5 IN A 10.0.0.1"], ["core.dns.rocks. 5 IN A 10.0.0.1"]),
    ("core.dns.rocks.", "SRV", ["dns.core.rocks. 5 IN SRV 0 100 100 srv1.dns.core.rocks."],
     ["core.dns.rocks. 5 IN SRV 0 100 100 srv1.dns.core.rocks."]),
    ("core.dns.rocks.", "HINFO", [r"dns.core.rocks. 5 IN HINFO \# 18 08494e54454c2d3634085248454c20372e34"], None),
    ("core.dns.rocks.", "A", ["dns.core.rocks. 5 IN A 10.0.0.1", "dns.core.rocks. 5 IN A 10.0.0.2"],
     ["core.dns.rocks. 5 IN A 10.0.0.1", "core.dns.rocks. 5 IN A 10.0.0.2"]),
]


@pytest.mark.parametrize("mode", ["stop", "continue"])
@pytest.mark.parametrize("asked,qtype,records,expected", REVERTER)
async def test_response_reverter(mode: str, asked: str, qtype: str, records: list[str], expected: list[str] | None) -> None:
    rules = rf"rewrite {mode} name regex (core)\.(dns)\.(rocks) {{2}}.{{1}}.{{3}} answer name (dns)\.(core)\.(rocks) {{2}}.{{1}}.{{3}}"
    zone = Zone(records)
    resp = await handler(rules, zone)(query(asked, qtype))
    q = resp.msg.questions[0]
    assert (str(q.qname), QTYPE.get(q.qtype)) == (asked, qtype)
    assert zone.last.qname == "dns.core.rocks."
    if expected is not None:
        assert zone_text(resp.msg.rr) == expected


@pytest.mark.parametrize("mode", ["stop", "continue"])
async def test_srv_response_reverter(mode: str) -> None:
    # TestSrvResponseReverter. The SRV target is a record's value: in the current plugin it is mapped
    # back by an `answer value` rule (README: "will be rewritten if the answer value rule is specified").
    async def srv(req: Request) -> Response:
        resp = req.answer(plugin="zone", aa=True)
        resp.msg.rr = RR.fromZone("my.cluster.local. 5 IN SRV 0 100 100 srv1.my.cluster.local.")
        resp.msg.ar = RR.fromZone("srv1.my.cluster.local. 5 IN A 10.0.0.1")
        return resp

    rules = (
        rf"rewrite {mode} name regex (.*)\.domain\.uk {{1}}.cluster.local "
        r"answer name (.*)\.cluster\.local {1}.domain.uk answer value (.*)\.cluster\.local {1}.domain.uk"
    )
    resp = await handler(rules, srv)(query("my.domain.uk.", "SRV"))
    assert str(resp.msg.questions[0].qname) == "my.domain.uk."
    assert zone_text(resp.msg.rr) == ["my.domain.uk. 5 IN SRV 0 100 100 srv1.my.domain.uk."]
    assert zone_text(resp.msg.ar) == ["srv1.my.domain.uk. 5 IN A 10.0.0.1"]
    # Without the value rule, only owner names are mapped back.
    rules = rf"rewrite {mode} name regex (.*)\.domain\.uk {{1}}.cluster.local answer name (.*)\.cluster\.local {{1}}.domain.uk"
    resp = await handler(rules, srv)(query("my.domain.uk.", "SRV"))
    assert zone_text(resp.msg.rr) == ["my.domain.uk. 5 IN SRV 0 100 100 srv1.my.cluster.local."]


async def test_answer_rule_making_an_overlong_name_is_servfail() -> None:
    rules = r"rewrite name regex ^(.*)\.a\.$ {1}.b answer name ^(.*)\.b\.$ {1}{1}{1}.a"
    resp = await handler(rules, Zone())(query("x" * 40 + ".a."))
    assert resp.rcode == RCODE.SERVFAIL and "invalid name after rewrite" in (resp.error or "")
    assert str(resp.msg.questions[0].qname) == "x" * 40 + ".a."


async def test_an_edns0_rule_that_does_nothing_still_keeps_the_answer_from_the_fast_path() -> None:
    # `append` leaves an asker's own option alone: whether it applied depends on the asker.
    async def tagged(req: Request) -> Response:
        return Response(req.reply(), plugin="kubernetes", tags={"t"})

    h = handler("rewrite edns0 local append 0xffee abc", tagged)
    assert (await h(query("a.example.", options=[(0xFFEE, b"mine")]))).tags is None
    assert (await h(query("a.example."))).tags is None
