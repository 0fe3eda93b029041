from __future__ import annotations

import pytest

from kdns.errors import ConfigError
from kdns.plugins.cache.config import Config, parse
from tests.upstreams import directive


def config(body: str) -> Config:
    return parse(directive(". {\n" + body + "\n}\n", "cache"))


def test_defaults_are_coredns_defaults():
    c = config("cache")
    assert c.zones == ()
    assert (c.success_capacity, c.success_ttl, c.success_min_ttl) == (9984, 3600, 5)
    assert (c.denial_capacity, c.denial_ttl, c.denial_min_ttl) == (9984, 1800, 5)
    assert (c.prefetch, c.prefetch_duration, c.prefetch_percentage) == (0, 60.0, 10)
    assert c.serve_stale == 0 and c.servfail_ttl == 5.0 and not c.keepttl
    assert c.disable_success is None and c.disable_denial is None


def test_ttl_and_zones():
    c = config("cache 30 Example.ORG example.com.")
    assert c.success_ttl == c.denial_ttl == 30
    assert c.zones == ("example.org.", "example.com.")
    assert config("cache example.org").success_ttl == 3600


def test_zones_as_server_block_keys_a_cidr_its_reverse_zones():
    c = config("cache 30 10.0.0.0/8 dns://Cluster.Local:53 {\n disable success 10.0.0.0/23\n}")
    assert c.success_ttl == 30
    assert c.zones == ("10.in-addr.arpa.", "cluster.local.")
    assert c.disable_success == ("0.0.10.in-addr.arpa.", "1.0.10.in-addr.arpa.")


def test_first_argument_not_a_go_integer_is_a_zone():
    # As CoreDNS, where strconv.Atoi("--5") fails: a zone, and a well-formed one.
    c = config("cache --5")
    assert c.zones == ("--5.",) and c.success_ttl == 3600
    assert config("cache +30").success_ttl == 30


def test_kubeadm_block():
    c = config("cache 30 {\n disable success cluster.local\n disable denial cluster.local\n}")
    assert c.disable_success == ("cluster.local.",) and c.disable_denial == ("cluster.local.",)


def test_all_options():
    c = config(
        "cache {\n success 5000 600 10\n denial 2500 60 1\n prefetch 10 30s 20%\n"
        " serve_stale 2h verify\n servfail 10s\n disable denial\n keepttl\n}"
    )
    assert (c.success_capacity, c.success_ttl, c.success_min_ttl) == (5000, 600, 10)
    assert (c.denial_capacity, c.denial_ttl, c.denial_min_ttl) == (2500, 60, 1)
    assert (c.prefetch, c.prefetch_duration, c.prefetch_percentage) == (10, 30.0, 20)
    assert c.serve_stale == 7200 and c.stale_verify
    assert c.servfail_ttl == 10 and c.disable_denial == () and c.keepttl


def test_serve_stale_default_duration_and_mode():
    c = config("cache {\n serve_stale\n}")
    assert c.serve_stale == 3600 and not c.stale_verify
    assert not config("cache {\n serve_stale 1m immediate\n}").stale_verify


@pytest.mark.parametrize(
    "body, message",
    [
        ("cache 0", "zero or negative"),
        ("cache -5", "zero or negative"),
        ("cache {\n success\n}", "wrong argument count"),
        ("cache {\n success many\n}", "not a number"),
        ("cache {\n denial 10 0\n}", "zero or negative"),
        ("cache {\n prefetch 1 1m 5%\n}", r"range \[10, 90\]"),
        ("cache {\n prefetch 1 1m 50\n}", "percentage should be `%`"),
        ("cache {\n prefetch 1 soon\n}", "invalid duration"),
        ("cache {\n serve_stale 1h later\n}", "refresh mode"),
        ("cache {\n servfail 10m\n}", "over 5 minutes"),
        ("cache {\n disable everything\n}", "success or denial"),
        ("cache {\n keepttl please\n}", "wrong argument count"),
        ("cache {\n sharding 4\n}", "unknown property 'sharding'"),
        ("cache ²", "'²' is not a valid label"),
        ("cache 30 a..b", "empty label"),
        ("cache 30 " + "x" * 64, "not a valid label"),
        ("cache {\n disable denial a..b\n}", "empty label"),
        ("cache {\n success ²\n}", "'²' is not a number"),
        ("cache {\n success --5\n}", "'--5' is not a number"),
        ("cache {\n success 0\n}", "out of range"),
        ("cache {\n denial 10 ²\n}", "'²' is not a number"),
        ("cache {\n denial 10 -5\n}", "zero or negative"),
        ("cache {\n success 10 20 ٣\n}", "'٣' is not a number"),
        ("cache {\n prefetch ²\n}", "'²' is not a number"),
        ("cache {\n prefetch 1 1m ²%\n}", "invalid percentage"),
        ("cache {\n prefetch 1 1m \"\"\n}", "percentage should be `%`"),
        ("cache {\n keepttl {\n x\n }\n}", "'keepttl' takes no block"),
    ],
)
def test_errors(body, message):
    with pytest.raises(ConfigError, match=message) as e:
        config(body)
    assert e.value.file == "Corefile" and e.value.line >= 2 and e.value.directive == "cache"
