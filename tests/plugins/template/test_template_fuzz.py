"""Random names, types and classes through configured templates: every query gets an answer the
server can send, with no exception and no hang (hypothesis, as the server's own fuzz tests)."""

from __future__ import annotations

import asyncio
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugins.template.template_cases import chain
from plugins.template.test_template_readme import A_PTR, INVALID, PARSE_INT, SEARCH_REGEX
from plugins.template.test_template_table import MULTISECTION

from kdns.errors import WireError
from kdns.server import wire

# Templates that turn parts of the name into records, some of them bound to fail on odd names.
NASTY = """
. {
    template ANY TXT {
        match ^(?P<first>[^.]*)[.]
        answer "{{ .Name }} 5 IN TXT \\"{{ .Group.first }}\\" \\"{{ .Type }}\\" \\"{{ .Class }}\\""
        fallthrough
    }
    template IN A hex.test {
        match ^(?P<x>[0-9a-z]+)[.]hex[.]test[.]$
        answer "{{ .Name }} 5 IN A 10.0.0.{{ parseInt .Group.x 36 8 }}"
    }
    template IN ANY twice.test {
        answer "{{ .Name }}{{ .Name }} 5 IN CNAME {{ .Name }}"
    }
    template IN AAAA cname.test {
        answer "{{ .Name }} 5 IN CNAME {{ index .Match 0 }}"
    }
    template ANY ANY . {
        match "^[0-9]+[.]"
        rcode REFUSED
        authority "{{ .Zone }} 5 IN SOA ns.{{ .Zone }} h.{{ .Zone }} (1 2 3 4 5)"
        fallthrough
    }
}
"""
# Each Corefile with the zones its templates answer, so most queries reach a regex and a record.
CASES = [
    (A_PTR, [[b"example"], [b"in-addr", b"arpa"], []]),
    (SEARCH_REGEX, [[b"example", b"com"], [b"dc1", b"example", b"com"], [b"com"]]),
    (INVALID, [[b"invalid"], [b"test"]]),
    (PARSE_INT, [[b"example"], []]),
    (MULTISECTION, [[b"test"], [b"example"], [b"coredns", b"invalid"], [b"com"], []]),
    (NASTY, [[b"hex", b"test"], [b"twice", b"test"], [b"cname", b"test"], [b"test"], []]),
]
CHAINS = [chain(text) for text, _ in CASES]
WORDS = ["ip-10-1-2-3", "example", "in-addr", "arpa", "invalid", "dc1", "com", "hex", "test", "twice",
         "cname", "ip0a7b7b7b", "10", "255", "nowana", "cnamewitha", "www", "coredns", "zz", ""]
octet = st.integers(0, 999).map(str)
label = st.one_of(
    st.sampled_from(WORDS).map(str.encode),
    st.tuples(octet, octet, octet, octet).map(lambda t: ("ip-" + "-".join(t)).encode()),
    st.text("0123456789abcdef", min_size=6, max_size=6).map(lambda h: ("ip0a" + h).encode()),
    st.integers(0, 300).map(lambda n: str(n).encode()),
    st.text("abcxyz0189-_.\\\"() ", min_size=1, max_size=63).map(str.encode),
    st.binary(min_size=1, max_size=63),
)


def questions(which: int) -> st.SearchStrategy[tuple[int, list[bytes]]]:
    suffixes = st.sampled_from(CASES[which][1])
    return st.tuples(st.just(which), st.tuples(st.lists(label, max_size=6), suffixes).map(lambda t: t[0] + t[1]))


COMMON_TYPES = st.sampled_from([1, 2, 5, 6, 12, 15, 16, 28, 33, 255])
qtypes = st.one_of(COMMON_TYPES, COMMON_TYPES, COMMON_TYPES, st.integers(0, 65535))
qclasses = st.one_of(st.just(1), st.just(1), st.sampled_from([3, 255]), st.integers(0, 65535))


def packet(labels: list[bytes], qtype: int, qclass: int) -> bytes:
    name = b"".join(bytes((len(part),)) + part for part in labels if part) + b"\x00"
    return struct.pack("!6H", 0x1234, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", qtype, qclass)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(CASES))).flatmap(questions), qtypes, qclasses)
def test_random_questions_through_templates(question: tuple[int, list[bytes]], qtype: int, qclass: int) -> None:
    which, labels = question
    try:
        req = wire.parse_query(packet(labels, qtype, qclass))
    except WireError:
        return
    req.client = ("192.0.2.1", 5353)
    req.server = "dns://:53"
    loop = asyncio.new_event_loop()
    try:
        resp = loop.run_until_complete(asyncio.wait_for(CHAINS[which].head(req), 5))
    finally:
        loop.close()
    assert resp.plugin in ("template", "next")
    assert resp.rcode in (0, 2, 3, 5)
    out, _ = wire.pack(req, resp.msg)
    assert out[:2] == b"\x12\x34" and out[2] & 0x80
