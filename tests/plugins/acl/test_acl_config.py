"""acl's Corefile syntax: CoreDNS's setup_test.go table, and errors naming file and line."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from kdns.config import config_from_text
from kdns.errors import ConfigError
from kdns.plugins.acl.config import EVERY_ADDRESS, Config


def acl_config(lines: str) -> Config:
    config = config_from_text(f"example.org {{\n{lines}\n    whoami\n}}\n", "Corefile")
    configs = [use.config for use in config.blocks[0].plugins if use.name == "acl"]
    assert configs
    # Several acl lines are kept one config each; the handler joins them in Corefile order.
    return Config(tuple(rule for c in configs for rule in c.rules))


# CoreDNS plugin/acl/setup_test.go TestSetup: the rows that must load.
GOOD = [
    ("blacklist 1", "acl {\n block type A net 192.168.0.0/16\n }"),
    ("blacklist 2", "acl {\n block type * net 192.168.0.0/16\n }"),
    ("blacklist 3", "acl {\n block type A net *\n }"),
    ("blacklist 4", "acl {\n allow type * net 192.168.1.0/24\n block type * net 192.168.0.0/16\n }"),
    ("whitelist 1", "acl {\n allow type * net 192.168.0.0/16\n block type * net *\n }"),
    ("fine-grained 1", "acl a.example.org {\n block type * net 192.168.1.0/24\n }"),
    ("fine-grained 2", "acl a.example.org {\n block type * net 192.168.1.0/24\n }\n"
                       "acl b.example.org {\n block type * net 192.168.2.0/24\n }"),
    ("multiple-networks 1", "acl example.org {\n block type * net 192.168.1.0/24 192.168.3.0/24\n }"),
    ("multiple-networks 2", "acl example.org {\n block type * net 192.168.3.0/24\n }"),
    ("filter", "acl {\n filter type A net 192.168.0.0/16\n }"),
    ("drop", "acl {\n drop net 192.0.2.0/24\n }"),
    ("ipv6", "acl {\n block type A net 2001:db8:abcd:0012::0/64\n }"),
]

# The rows that must fail (setup_test.go), with the line the error must name and its words.
BAD = [
    ("missing argument 1", "acl {\n block A net 192.168.0.0/16\n }", 3, "unexpected token 'A'"),
    ("missing argument 2", "acl {\n block type net 192.168.0.0/16\n }", 3, "no token specified in 'type' section"),
    ("illegal argument 1", "acl {\n block type ABC net 192.168.0.0/16\n }", 3, "'ABC'; expect legal QTYPE"),
    ("illegal argument 2", "acl {\n blck type A net 192.168.0.0/16\n }", 3, "unexpected token 'blck'"),
    ("illegal argument 3", "acl {\n block type A net 192.168.0/16\n }", 3, "illegal CIDR notation '192.168.0/16'"),
    ("illegal argument 4", "acl {\n block type A net 192.168.0.0/33\n }", 3, "illegal CIDR notation"),
    ("empty net at the end", "acl {\n block type A net\n }", 3, "no token specified in 'net' section"),
    ("a missing file", "acl {\n block file /nonexistent/acl.txt\n }", 3, "unable to load networks"),
]


@pytest.mark.parametrize("name, lines", GOOD, ids=[g[0] for g in GOOD])
def test_setup_table_good(name: str, lines: str) -> None:
    assert acl_config(lines).rules


@pytest.mark.parametrize("name, lines, line, words", BAD, ids=[b[0] for b in BAD])
def test_setup_table_bad(name: str, lines: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        acl_config(lines)
    assert (info.value.file, info.value.line, info.value.directive) == ("Corefile", line, "acl")
    assert words in info.value.message


def test_omitted_sections_match_everything() -> None:
    (rule,) = acl_config("acl {\n block\n }").rules
    (policy,) = rule.policies
    assert (rule.zones, policy.action, policy.qtypes, policy.networks) == ((), "block", None, EVERY_ADDRESS)


def test_single_addresses_stand_for_themselves() -> None:
    (rule,) = acl_config("acl {\n block net 10.218.10.8 2001:db8::7 10.218.10.8/24\n }").rules
    assert rule.policies[0].networks == (
        ipaddress.ip_network("10.218.10.8/32"),
        ipaddress.ip_network("2001:db8::7/128"),
        ipaddress.ip_network("10.218.10.0/24"),
    )


def test_zones_and_types() -> None:
    (rule,) = acl_config("acl A.Example.ORG b.example.org. {\n block type A AAAA net *\n }").rules
    assert rule.zones == ("a.example.org.", "b.example.org.")
    assert rule.policies[0].qtypes == frozenset((1, 28))


def test_local_file_with_comments(tmp_path: Path) -> None:
    # CoreDNS setup_test.go "Local file 1", and its stripComment table.
    listing = tmp_path / "acl-setup-test-1.txt"
    listing.write_text("10.218.128.0/24\n  35.39.53.223/32   # a comment\n# only a comment\n\n43.105.127.35/18\n")
    (rule,) = acl_config(f"acl {{\n block type A file {listing}\n }}").rules
    assert [str(n) for n in rule.policies[0].networks] == ["10.218.128.0/24", "35.39.53.223/32", "43.105.64.0/18"]
