"""The legacy `upstream` option of kops-era Corefiles: accepted, ignored, warned about once.

CoreDNS 1.6 stopped using it and later releases refuse it. kdns loads such a Corefile, says in the
log which line to delete, and answers exactly as the Corefile without it does: checked here over
real sockets, the kops-era Corefile (its `proxy . /etc/resolv.conf` written as `forward`) next to
its modern rewrite, both serving the manifests fixtures, with a real dnsmasq as the upstream.
"""

from __future__ import annotations

import logging

import pytest
from plugins.kubernetes.k8s_cases import FIXTURES

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from conftest import kdns_server
from kdns.corefile.parser import parse as parse_corefile
from kdns.plugins.kubernetes.config import parse
from upstreams import dnsmasq

# kops' CoreDNS template (and kubeadm's before 1.14) with three changes for the test: the manifests
# source instead of the API, loopback addresses with free ports, and forward to the test upstream.
KOPS_COREFILE = """\
.:0 {{
    errors
    health 127.0.0.1:0
    kubernetes cluster.local. in-addr.arpa ip6.arpa {{
        manifests {fixtures}
        pods insecure
        {upstream}
        fallthrough in-addr.arpa ip6.arpa
    }}
    prometheus 127.0.0.1:0
    forward . {forward}
    loop
    cache 30
    loadbalance
    reload
}}
"""
UPSTREAM_LINE = 7

QUESTIONS = [
    ("web.demo.svc.cluster.local", "A"),
    ("web-headless.demo.svc.cluster.local", "A"),
    ("_http._tcp.web-headless.demo.svc.cluster.local", "SRV"),
    # ExternalName outside the cluster: the CNAME, and its target chased through forward.
    ("ext.demo.svc.cluster.local", "A"),
    ("inner.demo.svc.cluster.local", "A"),
    ("nothing.demo.svc.cluster.local", "A"),
    ("web.demo.svc.cluster.local", "TXT"),
    ("dns-version.cluster.local", "TXT"),
    ("10.0.96.10.in-addr.arpa", "PTR"),
    # Not a cluster address: falls through to forward.
    ("9.9.9.10.in-addr.arpa", "PTR"),
    ("www.test", "A"),
    ("missing.test", "A"),
]


def comparable(msg: dns.message.Message) -> tuple[object, ...]:
    """What a client sees, with the SOA serial (the time of the last index change) left out."""

    def section(rrsets: list[dns.rrset.RRset]) -> list[tuple[str, str, int, str]]:
        out = []
        for rrset in rrsets:
            for rd in rrset:
                text = rd.to_text()
                if rrset.rdtype == dns.rdatatype.SOA:
                    fields = text.split()
                    text = " ".join(fields[:2] + fields[3:])
                out.append((str(rrset.name), dns.rdatatype.to_text(rrset.rdtype), rrset.ttl, text))
        return sorted(out)

    return (
        dns.rcode.to_text(msg.rcode()), bool(msg.flags & dns.flags.AA),
        section(msg.answer), section(msg.authority), section(msg.additional),
    )


def kubernetes_directive(lines: str) -> object:
    text = f".:53 {{\n kubernetes cluster.local {{\n{lines}\n }}\n}}\n"
    (block,) = parse_corefile(text, "Corefile", known=lambda name: True)
    return parse(block.directives[0])


@pytest.mark.parametrize("line", ["upstream", "upstream 10.0.0.53", "upstream /etc/resolv.conf 8.8.8.8:53"])
def test_upstream_with_or_without_addresses_is_ignored(line: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        legacy = kubernetes_directive(f"pods insecure\n{line}")
    assert legacy == kubernetes_directive("pods insecure")
    [record] = caplog.records
    assert record.name == "kdns.plugins.kubernetes"
    assert record.getMessage().startswith("Corefile:4: 'upstream' is obsolete and ignored")
    assert "delete this line" in record.getMessage()


def test_upstream_takes_no_block() -> None:
    from kdns.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        kubernetes_directive("upstream {\n 10.0.0.53\n }")
    assert (e.value.line, e.value.directive) == (3, "kubernetes")


async def test_kops_corefile_answers_as_its_modern_rewrite(caplog: pytest.LogCaptureFixture) -> None:
    hosts = {"example.com": "93.184.216.34", "www.test": "10.1.2.3"}
    async with dnsmasq(hosts) as upstream:
        legacy = KOPS_COREFILE.format(fixtures=FIXTURES, upstream="upstream", forward=upstream.address)
        modern = KOPS_COREFILE.format(fixtures=FIXTURES, upstream="", forward=upstream.address)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            async with kdns_server(legacy) as old, kdns_server(modern) as new:
                warnings = [r.getMessage() for r in caplog.records if r.name == "kdns.plugins.kubernetes"]
                assert len(warnings) == 1
                assert f"Corefile:{UPSTREAM_LINE}: 'upstream' is obsolete" in warnings[0]
                for qname, qtype in QUESTIONS:
                    # Each name once per server: both answers are cache misses with the same TTLs.
                    before, after = await old.query(qname, qtype), await new.query(qname, qtype)
                    assert comparable(before) == comparable(after), (qname, qtype)
                    assert before.rcode() != dns.rcode.SERVFAIL, (qname, qtype)
                chased = await old.query("ext.demo.svc.cluster.local", "A")
                assert "93.184.216.34" in chased.to_text()
