"""CoreDNS compiles rewrite patterns with Go's regexp (RE2 syntax); Python's re reads some of the same
text differently. A pattern is translated here once, at load time, so it matches what it matches in
CoreDNS; what RE2 refuses (lookaround, backreferences, atomic groups, possessive repeats) or what
cannot be carried over is refused with the reason, so the Corefile error names it.

Translated: `\\z` (end of text), `\\Q...\\E` (literal text), octal escapes (`\\12` is octal in Go, a
backreference in Python), `\\x{...}`, `(?<name>...)`, POSIX classes inside brackets (`[[:alpha:]]`),
a `{` that does not start a Go repeat (`a{,3}`, `{x}` are literal in Go), and `[`, `&`, `~`, `|` or `-`
inside brackets, which Python may read as set operations.
"""

from __future__ import annotations

import re
from typing import Any

# Go's regexp/syntax: perl_groups.go and the POSIX (ASCII) classes of RE2.
_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_SAME_ESCAPES = set("AbBdDsSwWfnrtv")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_MAX_REPEAT = 1000  # Go's regexp/syntax limit
_POSIX_CLASS = re.compile(r"\[:(\^?)([a-z]+):\]")


def compile_re2(pattern: str) -> re.Pattern[str]:
    """pattern, read as RE2 reads it, compiled for Python; ValueError saying why when it cannot be."""
    translated = _translate(pattern)
    try:
        # ASCII: RE2's \w, \d, \s and \b are ASCII-only.
        return re.compile(translated, re.ASCII)
    except re.error as e:
        raise ValueError(str(e)) from None


def _translate(p: str) -> str:
    out: list[str] = []
    i, n = 0, len(p)
    while i < n:
        c = p[i]
        if c == "\\":
            text, i = _escape(p, i, in_class=False)
            out.append(text)
        elif c == "[":
            text, i = _char_class(p, i)
            out.append(text)
        elif c == "(":
            text, i = _group_open(p, i, at_start=not out)
            out.append(text)
        elif c == "{":
            m = _REPEAT.match(p, i)
            if m is None or not out:
                out.append("\\{")  # Go reads a `{` that starts no repeat as a literal
                i += 1
                continue
            low, high = int(m.group(1)), m.group(3)
            if low > _MAX_REPEAT or (high and int(high) > _MAX_REPEAT):
                raise ValueError(f"invalid repeat count {m.group(0)} (RE2 allows at most {_MAX_REPEAT})")
            if high and int(high) < low:
                raise ValueError(f"invalid repeat count {m.group(0)}")
            out.append(m.group(0))
            i = m.end()
            _no_possessive(p, i)
        elif c in "*+?":
            out.append(c)
            i += 1
            if i < n and p[i] == "?":  # lazy: the same in both
                out.append("?")
                i += 1
            else:
                _no_possessive(p, i)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _no_possessive(p: str, i: int) -> None:
    if i < len(p) and p[i] in "*+":
        raise ValueError(f"invalid nested repetition operator at '{p[max(0, i - 1):i + 1]}' (RE2 has no possessive repeats)")


def _group_open(p: str, i: int, at_start: bool) -> tuple[str, int]:
    if not p.startswith("(?", i):
        return "(", i + 1
    rest = p[i + 2 :]
    for prefix, what in (
        ("=", "lookahead"), ("!", "negative lookahead"), ("<=", "lookbehind"), ("<!", "negative lookbehind"),
        ("P=", "backreference"), ("(", "conditional group"), (">", "atomic group"), ("#", "comment group"),
    ):
        if rest.startswith(prefix):
            raise ValueError(f"'(?{prefix}' ({what}) is not RE2 syntax; CoreDNS refuses it")
    if rest.startswith("P<"):
        return "(?P<", i + 4
    if rest.startswith("<"):
        return "(?P<", i + 3  # RE2's other spelling of a named group
    m = re.match(r"([imsU]*)(?:-([imsU]*))?([:)])", rest)
    if m is None:
        raise ValueError(f"invalid or unsupported group '{p[i:i + 6]}'")
    if "U" in (m.group(1) + (m.group(2) or "")):
        raise ValueError("the U (ungreedy) flag has no Python equivalent")
    if m.group(3) == ")" and not at_start:
        raise ValueError("flags such as (?i) are supported only at the start of a pattern")
    return "(?" + m.group(0), i + 2 + m.end()


def _escape(p: str, i: int, in_class: bool) -> tuple[str, int]:
    if i + 1 >= len(p):
        raise ValueError("trailing backslash at end of expression")
    c = p[i + 1]
    if c in "01234567":
        # Go: \0 and \1-\7 followed by a digit start an octal escape (up to three digits); a lone
        # \1-\7 would be a backreference, which RE2 does not have.
        m = re.match(r"[0-7]{1,3}", p[i + 1 :])
        assert m is not None
        digits = m.group(0)
        if c != "0" and len(digits) == 1:
            raise ValueError(f"invalid escape sequence '\\{c}' (RE2 has no backreferences)")
        return f"\\x{int(digits, 8):02x}", i + 1 + len(digits)
    if c in "89":
        raise ValueError(f"invalid escape sequence '\\{c}' (RE2 has no backreferences)")
    if c == "z" and not in_class:
        return "\\Z", i + 2
    if c == "Q" and not in_class:
        end = p.find("\\E", i + 2)
        literal = p[i + 2 :] if end < 0 else p[i + 2 : end]
        return re.escape(literal), (len(p) if end < 0 else end + 2)
    if c == "x":
        if p.startswith("{", i + 2):
            end = p.find("}", i + 3)
            if end < 0:
                raise ValueError("invalid escape sequence '\\x{'")
            try:
                code = int(p[i + 3 : end], 16)
            except ValueError:
                raise ValueError(f"invalid escape sequence '{p[i:end + 1]}'") from None
            if code > 0x10FFFF:
                raise ValueError(f"invalid escape sequence '{p[i:end + 1]}'")
            return f"\\U{code:08x}", end + 1
        if re.fullmatch(r"[0-9A-Fa-f]{2}", p[i + 2 : i + 4]) is None:
            raise ValueError(f"invalid escape sequence '{p[i:i + 4]}'")
        return p[i : i + 4], i + 4
    if c in _SAME_ESCAPES and not (in_class and c in "AbB"):
        return p[i : i + 2], i + 2
    if c.isascii() and not c.isalnum():
        return p[i : i + 2], i + 2  # an escaped punctuation character is itself in both
    raise ValueError(f"invalid escape sequence '\\{c}'" + (" (Unicode classes are not supported)" if c in "pP" else ""))


def _char_class(p: str, i: int) -> tuple[str, int]:
    out = ["["]
    j = i + 1
    if p.startswith("^", j):
        out.append("^")
        j += 1
    first = True
    n = len(p)
    while True:
        if j >= n:
            raise ValueError(f"missing closing ] in '{p[i:]}'")
        c = p[j]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if c == "[":
            m = _POSIX_CLASS.match(p, j)
            if m is not None:
                chars = _POSIX.get(m.group(2))
                if chars is None:
                    raise ValueError(f"invalid character class range '{m.group(0)}'")
                if m.group(1):
                    raise ValueError(f"negated POSIX class '{m.group(0)}' is not supported inside brackets")
                out.append(chars)
                j = m.end()
                continue
            out.append("\\[")
        elif c == "\\":
            text, j = _escape(p, j, in_class=True)
            out.append(text)
            continue
        elif c in "&~|":
            out.append("\\" + c)  # Python may read doubled ones as set operations
        elif c == "-" and (p.startswith("-", j + 1) or out[-1] in ("[", "^")):
            out.append("\\-")
        else:
            out.append(c)
        j += 1


def backtracks(compiled: re.Pattern[str]) -> bool:
    """True for the textbook shapes that make a backtracking engine exponential, a repeated group
    that holds nothing but a repeat (`(a+)+`, `(\\w*)*`): RE2 runs them in linear time, Python's re
    may take minutes on a crafted 60-byte name. Best effort: the parser is CPython's own."""
    try:
        from re import _parser  # type: ignore[attr-defined]

        tree = _parser.parse(compiled.pattern, compiled.flags)
    except Exception:
        return False
    repeats = (_parser.MAX_REPEAT, _parser.MIN_REPEAT)

    def only_repeat(items: list[Any]) -> bool:
        while len(items) == 1 and items[0][0] is _parser.SUBPATTERN:
            items = list(items[0][1][-1])
        if len(items) == 1 and items[0][0] is _parser.BRANCH:
            return any(only_repeat(list(branch)) for branch in items[0][1][1])
        return len(items) == 1 and items[0][0] in repeats and items[0][1][1] > 1

    def walk(items: Any) -> bool:
        for op, av in items:
            if op in repeats:
                if av[1] > 1 and only_repeat(list(av[2])):
                    return True
                if walk(av[2]):
                    return True
            elif op is _parser.SUBPATTERN and walk(av[-1]):
                return True
            elif op is _parser.BRANCH and any(walk(branch) for branch in av[1]):
                return True
        return False

    return walk(tree)
