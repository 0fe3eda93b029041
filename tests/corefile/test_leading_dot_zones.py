"""Zones written with a leading dot (`.svc`): read as CoreDNS reads them, with one warning each.

CoreDNS accepts `.svc` as a zone (miekg/dns IsDomainName counts its empty first label) and keeps it
as ".svc.", a zone no query name falls in: a kubernetes zone or server block key written so serves
nothing. kdns reads it the same way, so each Corefile here answers exactly as its CoreDNS-equivalent
spelling, the one without the dotted zone.
"""

from __future__ import annotations

import logging

import pytest
from plugins.kubernetes.k8s_cases import FIXTURES
from plugins.kubernetes.test_k8s_legacy import comparable

from conftest import kdns_server
from kdns.config import config_from_text
from kdns.corefile.keys import parse_key, unreachable
from kdns.corefile.tree import Token
from kdns.errors import ConfigError
from upstreams import dnsmasq


@pytest.mark.parametrize(
    ("text", "zone", "port"),
    [
        (".svc", ".svc.", None), (".SVC.", ".svc.", None), (".svc:1053", ".svc.", 1053),
        ("dns://.svc.cluster", ".svc.cluster.", None),
    ],
)
def test_a_leading_dot_is_kept_as_coredns_keeps_it(text: str, zone: str, port: int | None) -> None:
    (key,) = parse_key(Token(text, "Corefile", 1))
    assert (key.zone, key.port) == (zone, port)
    assert unreachable(key.zone)


@pytest.mark.parametrize("zone", [".", "svc.", "cluster.local.", "in-addr.arpa."])
def test_other_zones_are_reachable(zone: str) -> None:
    assert not unreachable(zone)


@pytest.mark.parametrize("text", ["..", "..svc", ".svc..", "."  + "x" * 64])
def test_what_coredns_refuses_stays_an_error(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_key(Token(text, "Corefile", 1))


def test_plugin_zone_and_server_key_each_warn_once_naming_their_line(caplog: pytest.LogCaptureFixture) -> None:
    text = ".svc cluster.local {\n    kubernetes cluster.local .svc\n    hosts /etc/hosts .svc {\n fallthrough\n }\n}\n"
    with caplog.at_level(logging.WARNING):
        config = config_from_text(text, "Corefile")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("kdns.corefile.parser", "Corefile:1: zone '.svc' begins with a dot: no query name falls in it "
         "(CoreDNS reads it so too), so it serves nothing; delete it"),
        ("kdns.plugins.kubernetes", "Corefile:2: zone '.svc' begins with a dot: no query name falls in it "
         "(CoreDNS reads it so too), so it serves nothing; delete it"),
        ("kdns.plugins.hosts", "Corefile:3: zone '.svc' begins with a dot: no query name falls in it "
         "(CoreDNS reads it so too), so it serves nothing; delete it"),
    ]
    (block,) = config.blocks
    assert block.zones == [".svc.", "cluster.local."]
    kubernetes = next(use for use in block.plugins if use.name == "kubernetes")
    assert kubernetes.config.zones == ("cluster.local.", ".svc.")


KUBERNETES = """\
{keys} {{
    kubernetes {zones} {{
        manifests {fixtures}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    forward . {forward}
}}
"""

QUESTIONS = [
    ("web.demo.svc.cluster.local", "A"),
    ("_http._tcp.web-headless.demo.svc.cluster.local", "SRV"),
    ("nothing.demo.svc.cluster.local", "A"),
    ("10.0.96.10.in-addr.arpa", "PTR"),
    ("13.0.244.10.in-addr.arpa", "PTR"),
    # Names under svc. itself: not ours in either spelling, so forwarded.
    ("web.demo.svc", "A"),
    ("svc", "SOA"),
    ("www.test", "A"),
]


@pytest.mark.parametrize(
    ("legacy", "modern"),
    [
        # kubernetes cluster.local .svc: the dotted zone is dropped in effect...
        ((".:0", "cluster.local .svc in-addr.arpa ip6.arpa"), (".:0", "cluster.local in-addr.arpa ip6.arpa")),
        # ...first in the list too (CoreDNS would then name PTR targets under it).
        ((".:0", ".svc cluster.local in-addr.arpa ip6.arpa"), (".:0", "cluster.local in-addr.arpa ip6.arpa")),
        # A server block key: the block is never routed a query for it.
        ((".svc:0 .:0", "cluster.local in-addr.arpa ip6.arpa"), (".:0", "cluster.local in-addr.arpa ip6.arpa")),
    ],
    ids=["kubernetes-zone", "kubernetes-zone-first", "server-key"],
)
async def test_answers_equal_the_coredns_equivalent_spelling(
    legacy: tuple[str, str], modern: tuple[str, str], caplog: pytest.LogCaptureFixture,
) -> None:
    async with dnsmasq({"www.test": "10.1.2.3"}) as upstream:
        texts = [
            KUBERNETES.format(keys=keys, zones=zones, fixtures=FIXTURES, forward=upstream.address)
            for keys, zones in (legacy, modern)
        ]
        with caplog.at_level(logging.WARNING):
            async with kdns_server(texts[0]) as old, kdns_server(texts[1]) as new:
                assert sum("begins with a dot" in r.getMessage() for r in caplog.records) == 1
                for qname, qtype in QUESTIONS:
                    before, after = await old.query(qname, qtype), await new.query(qname, qtype)
                    assert comparable(before) == comparable(after), (qname, qtype)
                ptr = await old.query("10.0.96.10.in-addr.arpa", "PTR")
                assert "web.demo.svc.cluster.local." in ptr.to_text()
