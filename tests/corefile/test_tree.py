"""Directive helpers every plugin's parser uses: integer(), zones(), no_block(), all naming file and line."""

from __future__ import annotations

import logging

import pytest

from kdns.corefile.parser import parse
from kdns.corefile.tree import Directive, Token, to_integer
from kdns.errors import ConfigError


def option(line: str) -> Directive:
    """The first option line of `plug { <line> }`, which is line 3 of file "Corefile"."""
    (block,) = parse(f". {{\n  plug {{\n    {line}\n  }}\n}}\n", "Corefile", known=lambda name: True)
    return next(block.directives[0].options())


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("42", 42), ("+7", 7), ("-3", -3), ("007", 7), ("9" * 18, int("9" * 18))],
)
def test_integers_as_go_atoi_reads_them(text: str, value: int) -> None:
    assert to_integer(text) == value
    assert option(f"size {text}").integer(0) == value


# Unicode digits that str.isdigit() or int() accept, doubled signs, and more than int64 holds.
@pytest.mark.parametrize("text", ["²", "٣", "１", "--5", "+-5", "5x", "0x10", "1_000", "1.0", "9" * 19, "9" * 5000])
def test_not_integers(text: str) -> None:
    assert to_integer(text) is None
    with pytest.raises(ConfigError) as e:
        option(f"size {text}").integer(0, 1, 10)
    assert (e.value.file, e.value.line, e.value.directive) == ("Corefile", 3, "plug")
    assert f"'{text}' is not a number: size must be an integer from 1 to 10" in e.value.message


@pytest.mark.parametrize(
    ("text", "minimum", "maximum", "message"),
    [
        ("0", 1, 10, "'0' is out of range: size must be an integer from 1 to 10"),
        ("11", 1, 10, "'11' is out of range: size must be an integer from 1 to 10"),
        ("-1", 0, None, "'-1' is out of range: size must be an integer not less than 0"),
        ("6", None, 5, "'6' is out of range: size must be an integer not more than 5"),
    ],
)
def test_integer_out_of_range(text: str, minimum: int | None, maximum: int | None, message: str) -> None:
    d = option(f"size a {text}")
    with pytest.raises(ConfigError) as e:
        d.integer(1, minimum, maximum)
    assert (e.value.line, e.value.message) == (3, message)
    assert d.integer(1) == int(text)


def test_zones_read_as_server_block_keys_are() -> None:
    d = option("zones x Example.ORG dns://cluster.local:53 10.0.0.0/8 10.0.0.0/23 .")
    assert d.zones(1) == (
        "example.org.", "cluster.local.", "10.in-addr.arpa.", "0.0.10.in-addr.arpa.", "1.0.10.in-addr.arpa.", ".",
    )
    assert d.zones(1, 2) == ("example.org.",)
    assert d.zones(1, 1) == ()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("a..b", "empty label"), ("x" * 64 + ".org", "not a valid label"), ("10.0/16", "not a valid CIDR"),
     ("tls://example.org", "not supported")],
)
def test_bad_zones_name_file_line_and_directive(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as e:
        option(f"zones example.org {text}").zones()
    assert (e.value.file, e.value.line, e.value.directive) == ("Corefile", 3, "plug")
    assert fragment in e.value.message


def test_a_bad_zone_is_called_a_zone() -> None:
    with pytest.raises(ConfigError) as e:
        option("zones foo..bar").zones()
    assert e.value.message.startswith("invalid zone 'foo..bar': ")


def test_no_block_names_the_option() -> None:
    (block,) = parse(". {\n  plug {\n    opt 5s {\n      x\n    }\n  }\n}\n", "Corefile", known=lambda name: True)
    opt = next(block.directives[0].options())
    with pytest.raises(ConfigError) as e:
        opt.no_block()
    assert (e.value.line, e.value.directive, e.value.message) == (3, "plug", "'opt' takes no block")
    option("opt 5s").no_block()


def test_warn_names_file_and_line_under_the_plugins_logger(caplog: pytest.LogCaptureFixture) -> None:
    option = Directive(Token("upstream", "Corefile", 7), plugin="kubernetes")
    with caplog.at_level(logging.WARNING):
        option.warn("obsolete: remove it")
    [record] = caplog.records
    assert record.name == "kdns.plugins.kubernetes"
    assert record.getMessage() == "Corefile:7: obsolete: remove it"
