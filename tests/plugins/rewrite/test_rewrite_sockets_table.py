"""A representative subset of CoreDNS's rewrite tables over real sockets: the records are a zone
file (zone text) served by the file plugin behind rewrite rules; asked with dnspython over UDP and
TCP and with dig. Rows: (asked name, type, rcode, answer records as zone text)."""

from __future__ import annotations

import re

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest
from conftest import kdns_server

ZONE = """\
$ORIGIN nl.
$TTL 5
@            IN SOA ns.nl. hostmaster.nl. 1 7200 1800 86400 5
@            IN NS  ns.nl.
ns           IN A   192.0.2.53
to           IN A   192.0.2.1
to           IN TXT "to"
dns.core.rocks IN A 192.0.2.2
srv1         IN A   10.0.0.1
srv15        IN A   10.0.0.15
srv30        IN A   10.0.0.30
xmpp         IN SRV 0 100 100 srvxmpp.nl.
api-prod     IN A   192.0.2.30
svc-prod     IN A   192.0.2.31
"""

COREFILE = r"""
nl:0 {{
    rewrite stop name from.nl. to.nl.
    rewrite stop name regex (core)\.(dns)\.(rocks)\.(nl) {{2}}.{{1}}.{{3}}.{{4}} answer name (dns)\.(core)\.(rocks)\.(nl) {{2}}.{{1}}.{{3}}.{{4}}
    rewrite stop name prefix prefix to
    rewrite stop name suffix .suffix.nl. .nl. answer auto
    rewrite stop name substring from.substring to
    rewrite stop name prefix api- svc- answer auto
    rewrite stop type ANY TXT
    rewrite stop ttl srv1.nl 1
    rewrite stop ttl prefix srv30 30-60
    rewrite stop ttl regex srv15\.nl\. 15
    rewrite stop rcode exact gone.nl NXDOMAIN NOERROR
    file {zone} nl
}}
"""

ROWS = [
    ("from.nl.", "A", "NOERROR", ["from.nl. 5 IN A 192.0.2.1"]),  # exact: mapped back
    ("FROM.nl.", "A", "NOERROR", ["FROM.nl. 5 IN A 192.0.2.1"]),  # the asker's spelling
    ("core.dns.rocks.nl.", "A", "NOERROR", ["core.dns.rocks.nl. 5 IN A 192.0.2.2"]),  # answer name
    ("prefix.nl.", "A", "NOERROR", ["to.nl. 5 IN A 192.0.2.1"]),  # no answer rule: as found
    ("to.suffix.nl.", "A", "NOERROR", ["to.suffix.nl. 5 IN A 192.0.2.1"]),  # suffix, answer auto
    ("from.substring.nl.", "A", "NOERROR", ["to.nl. 5 IN A 192.0.2.1"]),
    ("api-prod.nl.", "A", "NOERROR", ["api-prod.nl. 5 IN A 192.0.2.31"]),  # within a label
    ("to.nl.", "ANY", "NOERROR", ['to.nl. 5 IN TXT "to"']),  # ANY asked as TXT (the file plugin has no HINFO)
    ("srv1.nl.", "A", "NOERROR", ["srv1.nl. 1 IN A 10.0.0.1"]),
    ("srv30.nl.", "A", "NOERROR", ["srv30.nl. 30 IN A 10.0.0.30"]),  # 5 raised to the range's 30
    ("srv15.nl.", "A", "NOERROR", ["srv15.nl. 15 IN A 10.0.0.15"]),
    ("xmpp.nl.", "SRV", "NOERROR", ["xmpp.nl. 5 IN SRV 0 100 100 srvxmpp.nl."]),  # no rule
    ("gone.nl.", "A", "NOERROR", []),  # NXDOMAIN rewritten
    ("other.nl.", "A", "NXDOMAIN", []),
]


def records(msg: dns.message.Message) -> list[str]:
    out = []
    for rrset in msg.answer:
        for rd in rrset:
            out.append(f"{rrset.name} {rrset.ttl} {dns.rdataclass.to_text(rrset.rdclass)} "
                       f"{dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}")
    return out


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_table_over_sockets(tcp: bool) -> None:
    async with kdns_server(COREFILE.format(zone="db.nl"), **{"db.nl": ZONE}) as server:
        for asked, qtype, rcode, answer in ROWS:
            msg = await server.query(asked, qtype, tcp=tcp)
            assert msg.question[0].name.to_text() == asked, asked
            assert dns.rcode.to_text(msg.rcode()) == rcode, asked
            assert records(msg) == answer, asked


async def test_table_with_dig() -> None:
    async with kdns_server(COREFILE.format(zone="db.nl"), **{"db.nl": ZONE}) as server:
        for asked, qtype, rcode, answer in ROWS[::2]:
            out = await server.dig(asked, qtype)
            assert f"status: {rcode}" in out, out
            assert f";{asked}\t" in out, out  # dig saw its own question (no "question section mismatch")
            match = re.search(r";; ANSWER SECTION:\n(.*?)(?:\n\n|\Z)", out, re.S)
            got = [" ".join(line.split()) for line in match.group(1).splitlines()] if match else []
            assert got == [" ".join(a.split()) for a in answer], out
