"""Config of the plugins that live outside the chain: health, ready, prometheus, reload, bind, workers, loop."""

from __future__ import annotations

import pytest

from kdns.config import config_from_text
from kdns.errors import ConfigError


def plugin_config(line: str) -> object:
    config = config_from_text(f".:53 {{\n    whoami\n    {line}\n}}\n", "Corefile")
    name = line.split()[0]
    (use,) = [u for u in config.blocks[0].plugins if u.name == name]
    return use.config


@pytest.mark.parametrize(
    "line, expected",
    [
        ("health", {"address": ("", 8080), "lameduck": 0.0}),
        ("health localhost:8091", {"address": ("localhost", 8091)}),
        ("health :8080 {\n lameduck 5s\n }", {"lameduck": 5.0}),
        ("ready", {"address": ("", 8181)}),
        ("ready 127.0.0.1:9000", {"address": ("127.0.0.1", 9000)}),
        ("prometheus", {"address": ("localhost", 9153)}),
        ("prometheus :9153", {"address": ("", 9153)}),
        ("prometheus [::1]:9253", {"address": ("::1", 9253)}),
        ("reload", {"interval": 30.0, "jitter": 15.0}),
        ("reload 10s", {"interval": 10.0, "jitter": 5.0}),
        ("reload 10s 2s", {"interval": 10.0, "jitter": 2.0}),
        ("bind 127.0.0.1 ::1", {"targets": ("127.0.0.1", "::1")}),
        ("workers 4", {"count": 4}),
    ],
)
def test_good_lines(line: str, expected: dict[str, object]) -> None:
    config = plugin_config(line)
    for field, value in expected.items():
        assert getattr(config, field) == value


def test_bind_interface_and_except() -> None:
    config = plugin_config("bind lo {\n except ::1\n }")
    hosts = config.hosts()  # type: ignore[attr-defined]
    assert "127.0.0.1" in hosts and "::1" not in hosts


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("health :99999", "out of range"),
        ("health :8080 {\n lameduck soon\n }", "invalid duration"),
        ("health :8080 {\n lameduck -1s\n }", "negative"),
        ("health :8080 {\n grace 5s\n }", "unknown property 'grace'"),
        ("ready a b", "wrong argument count"),
        ("prometheus :http", "invalid address"),
        ("reload 1s", "greater or equal to 2s"),
        ("reload 10s 6s", "smaller or equal"),
        ("reload 10s 2s 1s", "wrong argument count"),
        ("bind", "wrong argument count"),
        ("bind 300.1.1.1", "not a valid IP address or interface"),
        ("bind 127.0.0.1 {\n except nonsense\n }", "not a valid IP address"),
        ("workers many", "not a number"),
        ("workers 0", "out of range"),
        ("loop now", "wrong argument count"),
        ("workers ²", "'²' is not a number"),
        ("workers --2", "'--2' is not a number"),
        ("workers 257", "out of range"),
        ("health :²", "port '²' is not a number"),
        ("ready :-1", "out of range"),
        ("health :8080 {\n lameduck 5s {\n x\n }\n }", "'lameduck' takes no block"),
        ("bind 127.0.0.1 {\n except 1.2.3.4 {\n }\n }", "'except' takes no block"),
        ("bind 127.0.0.1 {\n except 1.2.3.4 {\n 5.6.7.8\n }\n }", "'except' takes no block"),
    ],
)
def test_bad_lines_name_file_line_and_plugin(line: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        plugin_config(line)
    error = info.value
    assert fragment in str(error)
    assert error.file == "Corefile" and error.line >= 3
    assert error.directive == line.split()[0]
