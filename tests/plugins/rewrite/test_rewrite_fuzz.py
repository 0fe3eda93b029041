"""Random names, types and classes through rewrite rules of every field: no traceback, no hang,
and every answer is either the chain's own or a SERVFAIL naming the bad name; the question in the
answer is always the asker's. One server run checks the same over real sockets."""

from __future__ import annotations

import asyncio
import random

import dns.message
import dns.name
import dns.rcode
from conftest import kdns_server
from dnslib import QTYPE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugins.rewrite.rewrite_cases import Zone, handler, query

from kdns.server.wire import pack

RULES = r"""
rewrite continue name regex ^(.*)\.fuzz\.$ {1}{1}.fuzz answer auto
rewrite continue name prefix a b
rewrite continue name suffix .x. .fuzz. answer auto
rewrite continue name substring b. bb. answer value (.*) {1}
rewrite continue name exact c.fuzz. d.fuzz.
rewrite continue name regex ^(.*)\.a\.fuzz\.$ {1}.fuzz answer name ^(.*)\.fuzz\.$ {1}{1}.a.fuzz
rewrite continue type ANY HINFO
rewrite continue class CH IN
rewrite continue ttl regex .* 10-20
rewrite continue rcode suffix fuzz. NXDOMAIN NOERROR
rewrite continue edns0 local set 0xffee {qname}
rewrite continue edns0 subnet set 24 56
rewrite cname regex (.*) {1}
"""
LABEL = st.text(alphabet="abcx.-_\\*\u00e9", min_size=1, max_size=40).map(lambda s: s.strip("."))
NAMES = st.lists(LABEL.filter(bool), min_size=1, max_size=6).map(lambda labels: ".".join(labels) + ".fuzz.")


def _wire_name(text: str) -> str | None:
    try:
        return dns.name.from_text(text).to_text()
    except Exception:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=NAMES, qtype=st.sampled_from(["A", "AAAA", "ANY", "SRV", "CNAME", "TXT", "MX"]),
    qclass=st.sampled_from([1, 3, 4, 255]), edns=st.booleans(),
)
def test_random_questions_through_every_rule(name: str, qtype: str, qclass: int, edns: bool) -> None:
    text = _wire_name(name)
    if text is None:
        return  # not a name a client can send
    # The zone-text next plugin reads plain names only (dnslib has no escapes in zone text).
    records = [f"{text} 300 IN A 192.0.2.1"] if len(text) < 200 and "\\" not in text else []

    async def run() -> None:
        async def resolve(qname: str, t: int):  # type: ignore[no-untyped-def]
            return await Zone(records)(query(qname, t))

        req = query(text, qtype, qclass, options=[] if edns else None)
        req.resolve = resolve
        resp = await asyncio.wait_for(handler(RULES, Zone(records))(req), 2)
        q = resp.msg.questions[0]
        assert (q.qname.label, q.qtype, q.qclass) == (req.labels, QTYPE.reverse[qtype], qclass)
        assert resp.rcode in (0, 2, 3)
        if resp.rcode == 2:
            assert resp.error and "invalid name after rewrite" in resp.error
        pack(req, resp.msg)  # what the server sends: packs without an exception

    asyncio.run(run())


async def test_random_names_over_sockets() -> None:
    rng = random.Random(7)
    cf = ". {\n" + RULES + "\n    whoami\n}\n"
    seen = set()
    async with kdns_server(cf) as server:
        for i in range(150):
            labels = ["".join(rng.choice("abcx-") for _ in range(rng.randint(1, 63))) for _ in range(rng.randint(1, 3))]
            name = ".".join(labels) + ".fuzz."
            msg = await server.query(name, rng.choice(["A", "AAAA", "ANY", "TXT"]), tcp=i % 5 == 0)
            assert msg.rcode() in (dns.rcode.NOERROR, dns.rcode.SERVFAIL, dns.rcode.NXDOMAIN)
            assert msg.question[0].name == dns.name.from_text(name)
            seen.add(msg.rcode())
        # Both sides of the rules were reached: rewritten names answered, overlong ones refused.
        assert {dns.rcode.NOERROR, dns.rcode.SERVFAIL} <= seen
        # Still answering after all that.
        assert (await server.query("plain.example.", "A")).rcode() == dns.rcode.NOERROR
