"""The Corefile lexer: words, quotes, comments, braces, {$ENV}, line continuation, line numbers."""

from __future__ import annotations

import pytest

from kdns.corefile.lexer import replace_env, tokenize, tokens
from kdns.errors import ConfigError


def texts(source: str, env: dict[str, str] | None = None) -> list[str]:
    return [t.text for t in tokens(source, "Corefile", env or {})]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", []),
        ("\n\n  \t\n", []),
        ("a b c\nd e", ["a", "b", "c", "d", "e"]),
        ("  .:53   {\n\twhoami\n}\n", [".:53", "{", "whoami", "}"]),
        # Comments: whole line, after words, right after a word (CoreDNS: anywhere on a line).
        ("# only a comment", []),
        ("a # b c\nd", ["a", "d"]),
        ("a#b c\nd", ["a", "d"]),
        ("{ # open\n} # close", ["{", "}"]),
        # Double quotes: spaces kept, \" is a quote, every other backslash stays.
        ('log "a b  c"', ["log", "a b  c"]),
        (r'x "say \"hi\""', ["x", 'say "hi"']),
        (r'x "a\nb\\c"', ["x", r"a\nb\\c"]),
        ('x "# not a comment"', ["x", "# not a comment"]),
        ('x ""', ["x", ""]),
        # A quote closes the word; a quote inside a word is an ordinary character.
        ('"ab"cd', ["ab", "cd"]),
        ('ab"cd"', ['ab"cd"']),
        # Backticks: raw, no escapes.
        (r"x `a \"b\" c`", ["x", r"a \"b\" c"]),
        ("x `say \"hi\"`", ["x", 'say "hi"']),
        # Braces are words of their own only when written alone.
        ("a {b} c{ }", ["a", "{b}", "c{", "}"]),
        # A backslash not before a newline is literal.
        (r"a\.b c\ d", [r"a\.b", "c\\", "d"]),
        # Windows line ends and a byte order mark.
        ("\ufeffa\r\nb\r\n", ["a", "b"]),
    ],
)
def test_words(source: str, expected: list[str]) -> None:
    assert texts(source) == expected


def test_line_numbers_and_file() -> None:
    words = tokens("a\n\n  b c\n# x\n\"multi\nline\" d\ne", "conf/Corefile", {})
    assert [(t.text, t.line) for t in words] == [
        ("a", 1), ("b", 3), ("c", 3), ("multi\nline", 5), ("d", 6), ("e", 7)
    ]
    assert {t.file for t in words} == {"conf/Corefile"}


def test_quoted_flag() -> None:
    assert [t.quoted for t in tokens('a "b" `c` {', "f", {})] == [False, True, True, False]


def test_structural_braces_only_unquoted() -> None:
    kinds = [(w.text, w.kind) for w in tokenize('{ } "{" `}` {x', "f", {})]
    assert kinds == [("{", "open"), ("}", "close"), ("{", "word"), ("}", "word"), ("{x", "word")]


def test_newline_flags_follow_logical_lines() -> None:
    words = tokenize('a b\nc "x\ny" d\n  e', "f", {})
    assert [(w.text, w.newline) for w in words] == [
        ("a", True), ("b", False), ("c", True), ("x\ny", False), ("d", False), ("e", True)
    ]


def test_line_continuation() -> None:
    # Caddy v2: backslash-newline joins lines; tokens keep their physical line numbers.
    words = tokenize("forward . \\\n  1.1.1.1 \\\n  8.8.8.8\nlog", "f", {})
    assert [(w.text, w.newline, w.token.line) for w in words] == [
        ("forward", True, 1), (".", False, 1), ("1.1.1.1", False, 2), ("8.8.8.8", False, 3),
        ("log", True, 4),
    ]
    # Right after a word, too.
    assert [(w.text, w.newline) for w in tokenize("a\\\nb", "f", {})] == [("a", True), ("b", False)]


def test_backslash_newline_in_a_comment_does_not_continue() -> None:
    words = tokenize("a # note \\\nb", "f", {})
    assert [(w.text, w.newline) for w in words] == [("a", True), ("b", True)]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{$ZONE}:{$PORT}", ["example.org:1053"]),
        ("{%ZONE%}:{$PORT}", ["example.org:1053"]),
        ("di{$PARTIAL}", ["dir1"]),
        ('x "Test {$ZONE} test"', ["x", "Test example.org test"]),
        ("x {$UNSET}y", ["x", "y"]),
        ("x {$UNSET}", ["x", ""]),
        # No name, or no end: left as written (Caddy).
        ("x {$} {%%} {$ZONE", ["x", "{$}", "{%%}", "{$ZONE"]),
        ("x {%ZONE}", ["x", "{%ZONE}"]),
        # Backtick words are raw.
        ("x `{$ZONE}`", ["x", "{$ZONE}"]),
        # A value is not scanned again.
        ("x {$LOOP}", ["x", "{$LOOP}"]),
    ],
)
def test_env_substitution(source: str, expected: list[str]) -> None:
    env = {"ZONE": "example.org", "PORT": "1053", "PARTIAL": "r1", "LOOP": "{$LOOP}"}
    assert texts(source, env) == expected


def test_env_brace_value_is_not_structure() -> None:
    words = tokenize("a {$OPEN}", "f", {"OPEN": "{"})
    assert [(w.text, w.kind) for w in words] == [("a", "word"), ("{", "word")]


def test_env_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDNS_TEST_ZONE", "cluster.local")
    monkeypatch.delenv("KDNS_TEST_UNSET", raising=False)
    assert [t.text for t in tokens("{$KDNS_TEST_ZONE} {%KDNS_TEST_UNSET%}", "f")] == ["cluster.local", ""]


def test_replace_env_several() -> None:
    assert replace_env("{$A}-{%B%}-{$A}", {"A": "1", "B": "2"}) == "1-2-1"


@pytest.mark.parametrize(
    ("source", "line"),
    [('a "never closed', 1), ('a\nb "x\ny\nz', 2), ("a\n\n`raw", 3), (r'x "ends in escape\"', 1)],
)
def test_unterminated_quote(source: str, line: int) -> None:
    with pytest.raises(ConfigError) as e:
        tokenize(source, "Corefile", {})
    assert (e.value.file, e.value.line) == ("Corefile", line)
    assert "unterminated" in e.value.message
