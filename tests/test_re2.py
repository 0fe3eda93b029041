"""kdns.re2: what Go's regexp (RE2) refuses is refused, naming why; what it reads differently from
Python's re is translated, so a pattern matches what it matches in CoreDNS. Cases from Go's
regexp/syntax parse_test.go where it has them."""

from __future__ import annotations

import re

import pytest

from kdns.re2 import Re2Error, backtracks, compile_re2


@pytest.mark.parametrize(("pattern", "named"), [
    (r"(?<=a)b", "lookaround"), (r"(?<!a)b", "lookaround"), (r"a(?=b)", "lookaround"), (r"a(?!b)", "lookaround"),
    (r"(a)\1", "backreferences"), (r"(?P<x>a)(?P=x)", "(?P="), (r"(?>a)", "(?>"), (r"(?(1)a|b)", "(?("),
    (r"(?#x)", "(?#"), (r"a*+", "nested repetition"), (r"a++", "nested repetition"), (r"a*??", "nested repetition"),
    (r"a{2}{3}", "nested repetition"), (r"a*{2}", "nested repetition"), (r"*a", "missing argument"),
    (r"a|*", "missing argument"), (r"a{1001}", "1001"), (r"a{100000000}", "100000000"), (r"a{3,2}", "{3,2}"),
    (r"\pL", "Unicode class"), (r"[\pL]", "Unicode class"), (r"\8", "\\8"), (r"\e", "\\e"), (r"\Z", "\\Z"),
    (r"\C", "\\C"), (r"[\b]", "\\b"), (r"\x4", "\\x4"), (r"\x{110000}", "110000"), (r"\x{}", "\\x{}"),
    ("a\\", "trailing backslash"), (r"a(?i)b", "(?i)"), (r"(?U)a*", "flag 'U'"), (r"(?x)a b", "flag 'x'"),
    (r"(?i-)a", "missing flags"), (r"[a", "missing closing ]"), (r"[z-a]", "z-a"), (r"[[:foo:]]", "[:foo:]"),
    (r"[[:^alpha:]]", "[:^alpha:]"), (r"(?<>a)", "named capture"), (r"(?P<a-b>x)", "named capture"),
])
def test_refused_naming_why(pattern: str, named: str) -> None:
    with pytest.raises(Re2Error) as e:
        compile_re2(pattern)
    assert named in str(e.value)


@pytest.mark.parametrize(("pattern", "matches", "misses"), [
    # RE2 syntax Python lacks
    (r"^a\z", ["a"], ["ab", "a\n"]),
    (r"^\Qa.b\E$", ["a.b"], ["axb"]),
    (r"^\Qa.b", ["a.b"], ["axb"]),
    (r"^[[:digit:]]+[[:alpha:]]$", ["12a"], ["12", "a1"]),
    (r"[[:alpha:]]", ["a"], [":"]),
    (r"^(?<n>x)$", ["x"], ["y"]),
    (r"^\x{41}$", ["A"], ["a"]),
    (r"^\101$", ["A"], ["a"]),  # octal in Go, a backreference in Python
    (r"^\12$", ["\n"], ["1"]),
    (r"^\0$", ["\0"], ["0"]),
    (r"^\a$", ["\a"], ["a"]),
    # a `{` that starts no Go repeat is a literal (Python would read some as repeats)
    (r"^a{,3}$", ["a{,3}"], ["aa"]),
    (r"^a{01}$", ["a{01}"], ["a"]),
    (r"^a{1,02}$", ["a{1,02}"], ["a"]),
    (r"^x{y}$", ["x{y}"], ["xy"]),
    (r"^a{}$", ["a{}"], ["a"]),
    (r"^{$", ["{"], []),
    # brackets: Go's ranges, never a Python set operation or nested set
    (r"^[a&&b]$", ["&"], ["ab"]),
    (r"^[a-c--]$", ["-"], ["d"]),
    (r"^[+--]$", ["+", ",", "-"], ["."]),  # a range from + to -
    (r"^[--a]$", ["-", "0", "a"], ["b"]),
    (r"^[a||b]$", ["|"], ["c"]),
    (r"^[~~]$", ["~"], ["a"]),
    (r"^[[]$", ["["], ["]"]),
    (r"^[[:a]$", ["[", ":", "a"], ["]"]),  # `[:` with no `:]` is text
    (r"^[]a]$", ["]", "a"], ["b"]),
    (r"^[^]a]$", ["b"], ["]", "a"]),
    (r"^[\w-a]$", ["-", "a", "_"], ["."]),
    (r"^[\x{41}-\x43]$", ["B"], ["D"]),
    # `$` outside multi-line mode is the end of the text
    (r"^a$", ["a"], ["a\n"]),
    (r"(?m)^a$", ["a\nb"], ["ab"]),
    (r"^(?m:a$)\n", ["a\n"], ["ab"]),
    # alike in both
    (r"(?i)^AbC$", ["abc"], ["abd"]),
    (r"(?i)(?s)^a.$", ["A\n"], ["b"]),
    (r"(?-i)^a$", ["a"], ["A"]),
    (r"(?i)(?-i)^a$", ["a"], ["A"]),
    (r"(?im)(?-m)^a$", ["A"], ["b\na"]),
    (r"^(?:a|b)c$", ["ac", "bc"], ["c"]),
    (r"^(?i:a)b$", ["Ab"], ["AB"]),
    (r"^a{2}?$", ["aa"], ["a"]),
    (r"^a??b$", ["b", "ab"], ["aab"]),
    (r"^\d+$", ["123"], ["١٢٣"]),
    (r"^\w+$", ["a_1"], ["é"]),
])
def test_matches_as_re2_does(pattern: str, matches: list[str], misses: list[str]) -> None:
    regex = compile_re2(pattern)
    assert [text for text in matches if not regex.search(text)] == []
    assert [text for text in misses if regex.search(text)] == []


def test_groups_count_as_in_go() -> None:
    # rewrite checks {N} in a template against the pattern's groups.
    assert compile_re2(r"(a)(?:b)(?P<c>c)(?<d>d)").groups == 3


@pytest.mark.parametrize(("pattern", "risky"), [
    (r"(a+)+$", True), (r"(\w*)*x", True), (r"((a)+)*", True), (r"(a|b+)+", True), (r"x(?:(?:y+))+", True),
    (r"([a-z]+\.)*example", False), (r"(.*)-(us-west-1)\.example", False), (r"a{2}", False),
])
def test_backtracking_shapes(pattern: str, risky: bool) -> None:
    assert backtracks(compile_re2(pattern)) is risky


def test_compiled_for_python() -> None:
    assert isinstance(compile_re2("a"), re.Pattern)
