"""Nothing silently changes meaning: a kops-era Corefile with `proxy . /etc/resolv.conf` answers
exactly as the forward line kdns names in its load-time warning."""

from __future__ import annotations

import random
import re

import dns.flags
import dns.message
import pytest

from tests.conftest import kdns_server
from tests.upstreams import FakeUpstream

RECORDS = {
    ("www.example.org.", "A"): ["www.example.org. 300 IN A 192.0.2.1"],
    ("www.example.org.", "AAAA"): ["www.example.org. 300 IN AAAA 2001:db8::1"],
    ("web.example.org.", "A"): [f"web.example.org. 60 IN A 10.0.0.{i}" for i in (1, 2, 3)],
    ("mail.example.org.", "MX"): ["mail.example.org. 300 IN MX 10 mx.example.org."],
    ("big.example.org.", "TXT"): [f'big.example.org. 300 IN TXT "{i:03d}{"x" * 200}"' for i in range(10)],
}
QUESTIONS = [
    ("www.example.org.", "A"), ("WWW.Example.Org.", "AAAA"), ("web.example.org.", "A"),
    ("mail.example.org.", "MX"), ("www.example.org.", "MX"), ("nope.example.org.", "A"),
    ("big.example.org.", "TXT"),
]
# kops's CoreDNS manifest before CoreDNS 1.5, with the host's resolv.conf as the upstream file.
KOPS_ERA = """
.:53 {{
    errors
    {forwarder}
    cache 30
    loadbalance
}}
"""


def normalised(msg: dns.message.Message) -> tuple:
    """What a client sees, minus the ID and the order loadbalance shuffles."""
    def section(rrsets):
        return sorted(sorted(rr.to_text() for rr in rrset) + [rrset.name.to_text(), str(rrset.ttl)] for rrset in rrsets)
    return (msg.rcode(), msg.flags & ~dns.flags.QR, [q.to_text() for q in msg.question],
            section(msg.answer), section(msg.authority))


async def answers(server) -> list[tuple]:
    out = []
    for name, qtype in QUESTIONS:
        for tcp in (False, True):
            out.append(normalised(await server.query(name, qtype, tcp=tcp)))
    return out


@pytest.fixture
async def upstream_on_53():
    # resolv.conf names no port: the upstream listens on port 53 of a random loopback address.
    for _ in range(10):
        host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        try:
            server = await FakeUpstream(dict(RECORDS), host=host, port=53).start()
        except PermissionError:
            pytest.skip("binding port 53 needs root or CAP_NET_BIND_SERVICE")
        except (OSError, RuntimeError):
            continue
        try:
            yield server
        finally:
            await server.stop()
        return
    # Ten random loopback addresses all taken: a DNS server on this host holds 0.0.0.0:53.
    pytest.skip("port 53 is taken on every loopback address (a DNS server listening on 0.0.0.0:53)")


async def test_proxy_resolv_conf_answers_as_its_forward_spelling(upstream_on_53, tmp_path, caplog):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"search default.svc.cluster.local\nnameserver {upstream_on_53.host}\noptions ndots:5\n")
    async with kdns_server(KOPS_ERA.format(forwarder=f"proxy . {resolv}")) as server:
        legacy = await answers(server)
    warning = [r.getMessage() for r in caplog.records if r.name == "kdns.plugins.proxy"]
    assert len(warning) == 1 and re.match(r".*/Corefile:4: proxy is CoreDNS's forwarder before 1\.5", warning[0])
    modern = warning[0].split("kdns runs it as: ", 1)[1]
    assert modern == f"forward . {resolv} {{ failfast_all_unhealthy_upstreams }}"
    asked = len(upstream_on_53.client_queries())

    async with kdns_server(KOPS_ERA.format(forwarder=modern)) as server:
        assert await answers(server) == legacy
    assert len(upstream_on_53.client_queries()) == 2 * asked
    assert legacy[0][3] == [["192.0.2.1", "www.example.org.", "30"]]  # served, through the cache's cap



def test_the_warning_as_kdns_prints_it(tmp_path):
    import subprocess
    import sys

    corefile = tmp_path / "Corefile"
    corefile.write_text(". {\n    bind 127.0.0.1\n    errors\n    proxy . 10.0.0.10 {\n        spray\n    }\n}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kdns", "-conf", str(corefile), "-dns.port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().rstrip("\n")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert first == (
        f"[WARN] plugin/proxy: {corefile}:4: proxy is CoreDNS's forwarder before 1.5 and CoreDNS 1.5 "
        "and later refuse it; kdns runs it as: forward . 10.0.0.10"
    )
