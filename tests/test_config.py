"""kdns.config: plugins parsed and put in chain order, once-per-block and zone:port checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from kdns import plugins
from kdns.config import Config, config_from_text, load_config
from kdns.corefile.tree import Directive
from kdns.errors import ConfigError
from kdns.plugins import PluginSpec


@dataclass(frozen=True)
class FakeConfig:
    args: tuple[str, ...]
    options: tuple[str, ...]


def fake_parse(d: Directive) -> FakeConfig:
    for option in d.options():
        if option.name.text == "bogus":
            raise option.unknown_option()
    return FakeConfig(tuple(d.values), tuple(o.name.text for o in d.options()))


@dataclass(frozen=True)
class FakeBind:
    addresses: tuple[str, ...]

    def hosts(self) -> list[str]:
        return list(self.addresses)


def fake_bind(d: Directive) -> FakeBind:
    return FakeBind(tuple("127.0.0.1" if a == "lo" else a for a in d.expect_args(1)))


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, PluginSpec]:
    """A registry of fake plugins (names from ORDER); `log` may be given more than once."""
    fakes = {
        name: PluginSpec(name=name, parse=fake_parse, once=name != "log")
        for name in ("errors", "log", "cache", "hosts", "forward", "whoami", "health", "prometheus")
    }
    fakes["bind"] = PluginSpec(name="bind", parse=fake_bind)
    monkeypatch.setattr(plugins, "_registry", fakes)
    return fakes


def names(config: Config, block: int = 0) -> list[str]:
    return [use.name for use in config.blocks[block].plugins]


def test_plugins_in_chain_order_not_line_order(registry: dict[str, PluginSpec]) -> None:
    config = config_from_text(
        ". {\n  whoami\n  forward . 1.1.1.1\n  cache 30\n  log\n  errors\n  prometheus :9153\n}\n",
        "Corefile",
    )
    assert names(config) == ["prometheus", "errors", "log", "cache", "forward", "whoami"]
    assert names(config) == [n for n in plugins.ORDER if n in names(config)]
    forward = next(u for u in config.blocks[0].plugins if u.name == "forward")
    assert forward.config == FakeConfig((".", "1.1.1.1"), ())
    assert forward.spec is registry["forward"]
    assert (forward.directive.line, forward.directive.plugin) == (3, "forward")


def test_same_plugins_any_line_order_same_chain(registry: dict[str, PluginSpec]) -> None:
    a = config_from_text(". {\n  errors\n  cache\n  whoami\n}\n", "Corefile")
    b = config_from_text(". {\n  whoami\n  cache\n  errors\n}\n", "Corefile")
    assert names(a) == names(b) == ["errors", "cache", "whoami"]


def test_plugin_given_several_times_when_allowed(registry: dict[str, PluginSpec]) -> None:
    config = config_from_text(". {\n  log a\n  whoami\n  log b\n}\n", "Corefile")
    assert [(u.name, u.config.args) for u in config.blocks[0].plugins] == [
        ("log", ("a",)), ("log", ("b",)), ("whoami", ()),
    ]


def test_keys_get_the_default_port(registry: dict[str, PluginSpec]) -> None:
    config = config_from_text("example.org cluster.local:1053 10.0.0.0/23 {\n  whoami\n}\n", "Corefile", 5353)
    block = config.blocks[0]
    assert [(k.zone, k.port) for k in block.keys] == [
        ("example.org.", 5353), ("cluster.local.", 1053),
        ("0.0.10.in-addr.arpa.", 5353), ("1.0.10.in-addr.arpa.", 5353),
    ]
    assert block.zones == [k.zone for k in block.keys]
    assert (block.file, block.line) == ("Corefile", 1)


def test_block_with_no_plugins(registry: dict[str, PluginSpec]) -> None:
    config = config_from_text("example.org {\n}\n", "Corefile")
    assert config.blocks[0].plugins == ()


def test_several_blocks_on_a_port_and_same_zone_on_other_ports(registry: dict[str, PluginSpec]) -> None:
    config = config_from_text(
        ". {\n  whoami\n}\nexample.org {\n  log\n}\nexample.org:1053 {\n  log\n}\n.:1053 {\n}\n", "Corefile"
    )
    assert [[(k.zone, k.port) for k in b.keys] for b in config.blocks] == [
        [(".", 53)], [("example.org.", 53)], [("example.org.", 1053)], [(".", 1053)],
    ]


def test_same_zone_on_different_bind_addresses(registry: dict[str, PluginSpec]) -> None:
    config = config_from_text(
        ". {\n  bind 127.0.0.1\n}\n. {\n  bind 127.0.0.2\n}\n", "Corefile"
    )
    assert len(config.blocks) == 2


def test_load_config_lists_imported_files(registry: dict[str, PluginSpec], tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text("a.org {\n  whoami\n}\n")
    (tmp_path / "plugins.conf").write_text("errors\n")
    corefile = tmp_path / "Corefile"
    corefile.write_text(". {\n  import plugins.conf\n}\nimport conf.d/*.conf\n")
    config = load_config(str(corefile), 1053)
    assert config.files == [str(corefile), str(tmp_path / "plugins.conf"), str(tmp_path / "conf.d" / "a.conf")]
    assert [[(k.zone, k.port) for k in b.keys] for b in config.blocks] == [[(".", 1053)], [("a.org.", 1053)]]


def test_real_plugins() -> None:
    # The plugins kdns has: whoami and errors, ordered errors first (CoreDNS plugin.cfg).
    for name in ("errors", "whoami"):
        if plugins.get(name) is None:
            pytest.fail(f"kdns has no {name} plugin")
    config = config_from_text(". {\n  whoami\n  errors\n}\n", "Corefile")
    assert names(config) == ["errors", "whoami"]


BROKEN = [
    # (name, Corefile, line, message fragment, directive)
    ("empty file", "", 1, "no server blocks", ""),
    ("only comments and snippets", "# nothing\n(s) {\n  log\n}\n", 1, "no server blocks", ""),
    ("plugin twice in a block", ". {\n  cache 30\n  whoami\n  cache 10\n}\n", 4, "only be used once per server block (first at line 2)", "cache"),
    ("plugin twice via snippet", "(s) {\n  errors\n}\n. {\n  errors\n  import s\n}\n", 2, "only be used once", "errors"),
    ("same zone twice", "example.org {\n  whoami\n}\n\nexample.org {\n  log\n}\n", 5, "cannot serve dns://example.org.:53 - it is already defined", ""),
    ("same zone, default port spelled out", ". {\n}\n.:53 {\n}\n", 3, "cannot serve dns://.:53 - it is already defined", ""),
    ("same zone twice in one block", "a.org b.org A.ORG. {\n}\n", 1, "cannot serve dns://a.org.:53 - it is already defined", ""),
    ("CIDR overlapping a reverse zone", "1.0.10.in-addr.arpa {\n}\n10.0.0.0/23 {\n}\n", 3, "cannot serve dns://1.0.10.in-addr.arpa.:53", ""),
    ("bound after unbound", ". {\n}\n. {\n  bind lo\n}\n", 3, "cannot serve dns://.:53 on 127.0.0.1 - zone overlap listener capacity with dns://.:53", ""),
    ("unbound after bound", ". {\n  bind lo\n}\n. {\n}\n", 4, "zone overlap listener capacity with dns://.:53 on 127.0.0.1", ""),
    ("same bind address twice", ". {\n  bind 127.0.0.1\n}\n. {\n  bind lo\n}\n", 4, "cannot serve dns://.:53 on 127.0.0.1 - it is already defined", ""),
    ("unknown option of a plugin", ". {\n  cache {\n    bogus 1\n  }\n}\n", 3, "unknown property 'bogus'", "cache"),
    ("unknown directive", ". {\n  whoami\n  etcd skydns.local\n}\n", 3, "unknown directive 'etcd'", ""),
]


@pytest.mark.parametrize(
    ("text", "line", "fragment", "directive"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken(registry: dict[str, PluginSpec], tmp_path: Path, text: str, line: int, fragment: str, directive: str) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(str(corefile))
    assert (e.value.file, e.value.line, e.value.directive) == (str(corefile), line, directive)
    assert fragment in e.value.message


def test_errors_from_text_name_the_given_filename(registry: dict[str, PluginSpec]) -> None:
    with pytest.raises(ConfigError) as e:
        config_from_text(". {\n}\n\n.:53 {\n}\n", "<default>")
    assert (e.value.file, e.value.line) == ("<default>", 4)
