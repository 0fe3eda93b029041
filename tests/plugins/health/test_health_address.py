"""The ADDRESS of health, ready and prometheus: CoreDNS's forms, and a located error for a bad one."""

from __future__ import annotations

import pytest

from kdns.config import config_from_text
from kdns.errors import ConfigError


def address(line: str) -> object:
    config = config_from_text(f".:53 {{\n    whoami\n    {line}\n}}\n", "Corefile")
    (use,) = [u for u in config.blocks[0].plugins if u.name == line.split()[0]]
    return use.config.address


@pytest.mark.parametrize(
    "line, expected",
    [
        ("health :8091", ("", 8091)),
        ("health 127.0.0.1", ("127.0.0.1", 8080)),
        ("health [::1]:8091", ("::1", 8091)),
        ("health [::1]", ("::1", 8080)),
        ("health ::1", ("::1", 8080)),
        ("ready localhost:0", ("localhost", 0)),
        ("prometheus [fd00::1]:9253", ("fd00::1", 9253)),
    ],
)
def test_address_forms(line: str, expected: tuple[str, int]) -> None:
    assert address(line) == expected


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("health [::1", "missing ']'"),
        ("health [::1]8080", "'8080' after ']'"),
        ("health ::1]:8080", "brackets go around the whole IPv6 address"),
        ("ready a:b:c", "neither HOST:PORT nor an IPv6 address"),
        ("health :abc", "port 'abc' is not a number"),
        ("prometheus 127.0.0.1:", "port '' is not a number"),
        ("ready [::1]:70000", "port 70000 out of range"),
    ],
)
def test_bad_address_is_a_config_error_on_its_line(line: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        address(line)
    error = info.value
    assert (error.file, error.line, error.directive) == ("Corefile", 3, line.split()[0])
    assert f"invalid address '{line.split()[1]}': {fragment}" in str(error)
