"""file over real sockets: dig (UDP and +tcp) against a kdns server serving zones/db.example.org."""

from __future__ import annotations

import re

import pytest

from conftest import REPO, kdns_server

ZONE = REPO / "zones" / "db.example.org"
COREFILE = f"""
example.org {{
    file {ZONE}
}}
"""


def section(out: str, name: str) -> list[str]:
    """The records of one section of dig's output, whitespace collapsed."""
    match = re.search(rf";; {name} SECTION:\n(.*?)(?:\n\n|\Z)", out, re.S)
    if match is None:
        return []
    return [" ".join(line.split()) for line in match.group(1).splitlines() if line.strip()]


def header(out: str) -> tuple[str, set[str]]:
    status = re.search(r"status: (\w+)", out)
    flags = re.search(r";; flags: ([a-z ]+);", out)
    assert status and flags, out
    return status.group(1), set(flags.group(1).split())


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
async def test_answers_over_udp_and_tcp(transport: str) -> None:
    async with kdns_server(COREFILE) as server:
        out = await server.dig(transport, "www.example.org", "A")
        assert header(out) == ("NOERROR", {"qr", "aa", "rd", "ra"})
        assert section(out, "ANSWER") == ["www.example.org. 3600 IN A 192.0.2.10"]
        assert section(out, "AUTHORITY") == [
            "example.org. 3600 IN NS ns1.example.org.", "example.org. 3600 IN NS ns2.example.org.",
        ]
        assert ("TCP" if transport == "+tcp" else "UDP") in out

        out = await server.dig(transport, "alias.example.org", "AAAA")
        assert section(out, "ANSWER") == [
            "alias.example.org. 3600 IN CNAME web.example.org.",
            "web.example.org. 3600 IN CNAME www.example.org.",
            "www.example.org. 3600 IN AAAA 2001:db8::10",
        ]


async def test_negative_answers_carry_the_soa() -> None:
    soa = "example.org. 300 IN SOA ns1.example.org. hostmaster.example.org. 2026112201 7200 1800 1209600 300"
    async with kdns_server(COREFILE) as server:
        out = await server.dig("nope.example.org", "A")
        assert header(out)[0] == "NXDOMAIN"
        assert "aa" in header(out)[1]
        assert section(out, "ANSWER") == []
        assert section(out, "AUTHORITY") == [soa]
        out = await server.dig("+tcp", "www.example.org", "TXT")
        assert header(out)[0] == "NOERROR"
        assert section(out, "ANSWER") == []
        assert section(out, "AUTHORITY") == [soa]


async def test_wildcard_and_referral() -> None:
    async with kdns_server(COREFILE) as server:
        out = await server.dig("a.b.wild.example.org", "A")
        assert section(out, "ANSWER") == ["a.b.wild.example.org. 3600 IN A 192.0.2.100"]
        out = await server.dig("+norecurse", "host.sub.example.org", "A")
        status, flags = header(out)
        assert status == "NOERROR" and "aa" not in flags
        assert section(out, "ANSWER") == []
        assert section(out, "AUTHORITY") == [
            "sub.example.org. 3600 IN NS ns1.sub.example.org.", "sub.example.org. 3600 IN NS ns2.sub.example.org.",
        ]
        assert section(out, "ADDITIONAL") == [
            "ns1.sub.example.org. 3600 IN A 192.0.2.201", "ns2.sub.example.org. 3600 IN AAAA 2001:db8:1::53",
        ]


async def test_big_answer_is_truncated_over_udp_and_whole_over_tcp() -> None:
    async with kdns_server(COREFILE) as server:
        out = await server.dig("+noedns", "+ignore", "big.example.org", "A")
        assert "tc" in header(out)[1]
        assert 0 < len(section(out, "ANSWER")) < 40
        out = await server.dig("+tcp", "big.example.org", "A")
        assert "tc" not in header(out)[1]
        assert len(section(out, "ANSWER")) == 40
        # dig retries over TCP by itself when it sees TC=1.
        out = await server.dig("+noedns", "big.example.org", "A")
        assert len(section(out, "ANSWER")) == 40


async def test_dnspython_client() -> None:
    async with kdns_server(COREFILE) as server:
        msg = await server.query("_sip._udp.example.org", "SRV")
        assert [rrset.to_text() for rrset in msg.answer] == [
            "_sip._udp.example.org. 300 IN SRV 10 60 5060 sip.example.org.",
        ]
        assert [rrset.to_text() for rrset in msg.additional] == ["sip.example.org. 3600 IN A 192.0.2.50"]
