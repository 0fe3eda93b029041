"""hosts over real sockets: dig against a kdns server with a hosts file and inline entries."""

from __future__ import annotations

import re

from conftest import kdns_server

HOSTS = """\
192.0.2.10   web.example.org www.example.org
2001:db8::10 web.example.org
"""

COREFILE = """
. {
    hosts example.hosts example.org {
        192.0.2.20 inline.example.org
        ttl 60
        fallthrough
    }
    whoami
}
"""


def answers(out: str) -> list[str]:
    match = re.search(r";; ANSWER SECTION:\n(.*?)(?:\n\n|\Z)", out, re.S)
    return [" ".join(line.split()) for line in match.group(1).splitlines()] if match else []


async def test_hosts_answers_and_ptr() -> None:
    async with kdns_server(COREFILE, **{"example.hosts": HOSTS}) as server:
        out = await server.dig("web.example.org", "A")
        assert "flags: qr aa rd ra" in out
        assert answers(out) == ["web.example.org. 60 IN A 192.0.2.10"]
        assert answers(await server.dig("+tcp", "web.example.org", "AAAA")) == [
            "web.example.org. 60 IN AAAA 2001:db8::10",
        ]
        assert answers(await server.dig("inline.example.org", "A")) == ["inline.example.org. 60 IN A 192.0.2.20"]
        assert answers(await server.dig("-x", "192.0.2.10")) == [
            "10.2.0.192.in-addr.arpa. 60 IN PTR web.example.org.",
            "10.2.0.192.in-addr.arpa. 60 IN PTR www.example.org.",
        ]
        assert answers(await server.dig("-x", "2001:db8::10")) == [
            "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 60 IN PTR web.example.org.",
        ]
        # Known name without IPv6 addresses: NODATA from hosts, not whoami's answer.
        out = await server.dig("www.example.org", "AAAA")
        assert "status: NOERROR" in out and answers(out) == [] and "_udp" not in out
        # Unknown names fall through to whoami.
        out = await server.dig("other.example.org", "A")
        assert "_udp.other.example.org." in out


async def test_a_junk_inline_line_changes_no_answer() -> None:
    # A line CoreDNS skips (no address first) is skipped: the same answers as without it.
    junk = COREFILE.replace("        ttl 60\n", "        ttl 60\n        local-cache enabled\n")
    assert junk != COREFILE
    questions = [("web.example.org", "A"), ("inline.example.org", "A"), ("www.example.org", "AAAA"),
                 ("-x", "192.0.2.20"), ("local-cache", "A"), ("other.example.org", "A")]
    async with kdns_server(COREFILE, **{"example.hosts": HOSTS}) as modern, \
            kdns_server(junk, **{"example.hosts": HOSTS}) as legacy:
        for question in questions:
            before, after = await legacy.dig(*question), await modern.dig(*question)
            assert answers(before) == answers(after) and status(before) == status(after), question


def status(out: str) -> str:
    match = re.search(r"status: (\w+)", out)
    assert match is not None
    return match.group(1)
