"""`autopath [ZONE...] RESOLV-CONF`: CoreDNS plugin/autopath/setup_test.go as a table, and the
link to the plugin named by `@NAME` (PluginSpec.needs)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from kdns.cli import main
from kdns.config import config_from_text
from kdns.errors import ConfigError
from kdns.plugins.autopath.config import Config

RESOLV_CONF = """\
nameserver 1.2.3.4
domain foo.com
search bar.com baz.com
options ndots:5
"""


def autopath_config(text: str) -> Config:
    config = config_from_text(text, "Corefile", 53)
    (use,) = [u for u in config.blocks[0].plugins if u.name == "autopath"]
    assert isinstance(use.config, Config)
    return use.config


@pytest.fixture
def resolv(tmp_path: Path) -> str:
    path = tmp_path / "resolv.conf"
    path.write_text(RESOLV_CONF)
    return str(path)


@pytest.mark.parametrize(
    "args, zones, plugin",
    [
        ("@kubernetes", (), "kubernetes"),
        ("example.org @kubernetes", ("example.org.",), "kubernetes"),
        ("10.0.0.0/31 @kubernetes", ("0.0.0.10.in-addr.arpa.", "1.0.0.10.in-addr.arpa."), "kubernetes"),
    ],
)
def test_plugin_search_paths(args: str, zones: tuple[str, ...], plugin: str) -> None:
    c = autopath_config(f". {{\n autopath {args}\n kubernetes cluster.local\n}}\n")
    assert (c.zones, c.plugin, c.search) == (zones, plugin, ())


def test_resolv_conf_search_path(resolv: str) -> None:
    # The last search/domain line wins, as Go's resolv.conf reader has it; "" ends the path.
    c = autopath_config(f". {{\n autopath {resolv}\n}}\n")
    assert (c.zones, c.plugin, c.search) == ((), "", ("bar.com.", "baz.com.", ""))


def test_resolv_conf_domain_line(tmp_path: Path) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text("search one.test\ndomain Corp.Example\n")
    assert autopath_config(f". {{\n autopath {path}\n}}\n").search == ("corp.example.", "")


@pytest.mark.parametrize(
    "line, message",
    [
        ("autopath kubernetes", "failed to parse 'kubernetes': No such file or directory"),
        ("autopath", "no resolv-conf specified"),
        ("autopath @", "no plugin named after '@'"),
        ("autopath @kubernetes {\n  ttl 5\n }", "'autopath' takes no block"),
        ("autopath exa%mple.org @kubernetes", "invalid zone 'exa%mple.org'"),
    ],
)
def test_bad_lines_name_file_and_line(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        config_from_text(f". {{\n kubernetes cluster.local\n {line}\n}}\n", "Corefile", 53)
    assert str(e.value).startswith("Corefile:3: autopath: ")
    assert message in str(e.value)


def test_a_plugin_without_search_paths_is_an_error() -> None:
    # CoreDNS: "hosts does not implement the AutoPather interface".
    with pytest.raises(ConfigError) as e:
        config_from_text(". {\n hosts\n autopath @hosts\n}\n", "Corefile", 53)
    assert str(e.value) == "Corefile:3: autopath: hosts does not implement the AutoPather interface"


def test_an_absent_plugin_leaves_autopath_idle_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    # CoreDNS starts and autopath does nothing; kdns says so once, at load.
    with caplog.at_level(logging.WARNING):
        c = autopath_config(". {\n autopath @kubernetes\n}\n")
    assert c.plugin == "kubernetes"
    assert "Corefile:2: no 'kubernetes' plugin in this server block: autopath passes every query on" in caplog.text


def test_listed_by_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-plugins"]) == 0
    listed = capsys.readouterr().out.split()
    assert "dns.autopath" in listed and listed.index("dns.autopath") < listed.index("dns.kubernetes")



def test_readme_examples_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).parents[3] / "kdns/plugins/autopath/README.md").read_text()
    examples = re.findall(r"~~~ corefile\n(.*?)~~~", readme, re.S)
    assert len(examples) == 2
    (tmp_path / "my-resolv.conf").write_text("search domain1 domain2\n")
    monkeypatch.chdir(tmp_path)
    assert autopath_config(examples[0]).search == ("domain1.", "domain2.", "")
    assert autopath_config(examples[1]).plugin == "kubernetes"
