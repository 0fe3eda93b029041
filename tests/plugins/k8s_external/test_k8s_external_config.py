"""`k8s_external [ZONE...] { apex APEX; ttl TTL; headless; fallthrough [ZONE...] }`: CoreDNS
plugin/k8s_external/setup_test.go as a table, errors naming file and line."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from kdns.cli import main
from kdns.config import config_from_text
from kdns.errors import ConfigError
from kdns.plugins.k8s_external.config import Config


def external_config(lines: str) -> Config:
    config = config_from_text(f". {{\n kubernetes cluster.local\n {lines}\n}}\n", "Corefile", 53)
    (use,) = [u for u in config.blocks[0].plugins if u.name == "k8s_external"]
    assert isinstance(use.config, Config)
    return use.config


@pytest.mark.parametrize(
    "lines, zones, apex",
    [
        ("k8s_external", (), "dns"),
        ("k8s_external example.org", ("example.org.",), "dns"),
        ("k8s_external example.org {\n  apex testdns\n }", ("example.org.",), "testdns"),
        ("k8s_external 10.0.0.0/31", ("0.0.0.10.in-addr.arpa.", "1.0.0.10.in-addr.arpa."), "dns"),
    ],
)
def test_setup(lines: str, zones: tuple[str, ...], apex: str) -> None:
    c = external_config(lines)
    assert (c.zones, c.apex, c.ttl, c.headless, c.fallthrough) == (zones, apex, 5, False, None)


def test_every_option() -> None:
    c = external_config("k8s_external example.org {\n ttl 3600\n headless\n fallthrough a.example.org\n }")
    assert (c.ttl, c.headless, c.fallthrough) == (3600, True, ("a.example.org.",))
    assert external_config("k8s_external example.org {\n fallthrough\n }").fallthrough == (".",)


@pytest.mark.parametrize(
    "lines, line, message",
    [
        ("k8s_external example.org {\n ttl 3601\n }", 4, "'3601' is out of range: ttl must be an integer from 0 to 3600"),
        ("k8s_external example.org {\n ttl -1\n }", 4, "'-1' is out of range"),
        ("k8s_external example.org {\n ttl\n }", 4, "wrong argument count: 'ttl' takes exactly 1, got 0"),
        ("k8s_external example.org {\n apex\n }", 4, "wrong argument count: 'apex' takes exactly 1, got 0"),
        ("k8s_external example.org {\n apex a.b\n }", 4, "apex 'a.b' is not one DNS label"),
        ("k8s_external example.org {\n headless yes\n }", 4, "'headless' takes exactly 0"),
        ("k8s_external example.org {\n resync 5m\n }", 4, "unknown property 'resync'"),
        ("k8s_external exa%mple.org", 3, "invalid zone 'exa%mple.org'"),
    ],
)
def test_bad_lines_name_file_and_line(lines: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        external_config(lines)
    assert str(e.value).startswith(f"Corefile:{line}: k8s_external: ")
    assert message in str(e.value)


def test_without_kubernetes_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    # CoreDNS starts and passes every query on; kdns says so once, at load.
    with caplog.at_level(logging.WARNING):
        config_from_text(". {\n k8s_external example.org\n}\n", "Corefile", 53)
    assert "Corefile:2: no 'kubernetes' plugin in this server block: k8s_external passes every query on" in caplog.text


def test_listed_by_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-plugins"]) == 0
    listed = capsys.readouterr().out.split()
    assert "dns.k8s_external" in listed and listed.index("dns.k8s_external") < listed.index("dns.kubernetes")



def test_readme_examples_load() -> None:
    readme = (Path(__file__).parents[3] / "kdns/plugins/k8s_external/README.md").read_text()
    examples = re.findall(r"~~~ corefile\n(.*?)~~~", readme, re.S)
    assert len(examples) == 2
    configs = []
    for text in examples:
        config = config_from_text(text, "README.md", 53)
        (use,) = [u for u in config.blocks[0].plugins if u.name == "k8s_external"]
        configs.append(use.config)
    assert configs == [Config(zones=("example.org.",)),
                       Config(zones=("example.org.",), apex="ns", ttl=30, headless=True)]
