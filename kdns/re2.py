"""Go regexp (RE2 syntax) patterns, run by Python's re with the same matches, or refused.

CoreDNS compiles the patterns of rewrite and template with Go's regexp; Python's re reads some of
the same text differently. compile_re2 reads a pattern the way Go's regexp/syntax parser does
(parse.go, Perl flags) and writes it out in a form Python cannot misread:
- every literal, inside brackets too, is written escaped, so `[`, `&&`, `--`, `~~` or `||` can never
  become a nested set or set operation; bracket ranges are parsed as Go parses them;
- RE2 syntax Python lacks is rewritten: `\\z`, `\\Q...\\E`, octal `\\101`, `\\x{...}`, `(?<name>`,
  POSIX classes (`[[:alpha:]]`), and a `{` that starts no Go repeat (`a{,3}`, `a{01}`) is a literal;
- `$` outside multi-line mode is the end of the text in Go (Python's also matches before a final
  newline);
- what Go refuses (lookaround, backreferences, atomic groups, possessive and nested repeats, repeat
  counts over 1000, unknown escapes) or what Python cannot express (Unicode classes, the U flag, flags
  in the middle of a pattern) raises Re2Error saying which.
Patterns compile with re.ASCII: RE2's `\\d \\w \\s \\b` are ASCII-only.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from kdns.errors import KdnsError

MAX_REPEAT = 1000  # regexp/syntax: a larger count is an error
# regexp/syntax perl_groups.go: the POSIX classes, as Python bracket text.
POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_CONTROL_ESCAPES = {"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_PERL_CLASSES = frozenset("dDsSwW")
_HEX = "0123456789abcdefABCDEF"
# parseRepeat: `{n}`, `{n,}`, `{n,m}`; parseInt takes no leading zero, so `{01}` is text.
_REPEAT = re.compile(r"\{(0|[1-9][0-9]*)(,(0|[1-9][0-9]*)?)?\}")
_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
_NONE, _ATOM, _REPEATED = 0, 1, 2


class Re2Error(KdnsError):
    """A pattern CoreDNS refuses, or one Python's re cannot run with RE2's matches."""


def compile_re2(pattern: str) -> re.Pattern[str]:
    """pattern (RE2 syntax) compiled to a Python regex with the same matches."""
    translated = _Translator(pattern).run()
    with warnings.catch_warnings():
        # A FutureWarning marks text a later Python may read differently: refuse it rather than guess.
        warnings.simplefilter("error")
        try:
            return re.compile(translated, re.ASCII)
        except (re.error, Warning) as e:
            raise Re2Error(str(e)) from None


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.out: list[str] = []
        # Whether `m` is on, per open group: it decides what `$` means.
        self.multiline = [False]
        # The flags of `(?flags)` groups at the start, written once in front when done.
        self.global_flags: set[str] = set()

    def run(self) -> str:
        p, n = self.p, len(self.p)
        i = 0
        # What came last, for Go's repeat rules: nothing to repeat yet, an atom, or a repeat (a
        # repeat of a repeat is an error in Go; Python reads `*+` as possessive).
        last = _NONE
        while i < n:
            c = p[i]
            m = _REPEAT.match(p, i) if c == "{" else None
            if c in "*+?" or m is not None:
                if last == _NONE:
                    raise Re2Error(f"missing argument to repetition operator '{c}'")
                if last == _REPEATED:
                    raise Re2Error(f"invalid nested repetition operator at '{p[max(0, i - 1) : i + 1]}'")
                if m is not None:
                    self._check_counts(m)
                    i = m.end()
                    self.out.append(m.group(0))
                else:
                    i += 1
                    self.out.append(c)
                if p.startswith("?", i):  # lazy: the same in both
                    self.out.append("?")
                    i += 1
                last = _REPEATED
                continue
            last = _ATOM
            if c == "\\":
                i = self._escape(i)
            elif c == "[":
                i = self._char_class(i)
            elif c == "(":
                i = self._group_open(i)
                last = _NONE
            elif c == ")":
                if len(self.multiline) > 1:
                    self.multiline.pop()
                self.out.append(")")
                i += 1
            elif c == "|":
                self.out.append("|")
                i += 1
                last = _NONE
            elif c == "$" and not self.multiline[-1]:
                self.out.append("\\Z")
                i += 1
            else:
                self.out.append(re.escape(c) if c in "{}]#" else c)
                i += 1
        flags = "".join(sorted(self.global_flags))
        return (f"(?{flags})" if flags else "") + "".join(self.out)

    def _check_counts(self, m: re.Match[str]) -> None:
        low, high = int(m.group(1)), m.group(3)
        if low > MAX_REPEAT or (high is not None and int(high) > MAX_REPEAT):
            raise Re2Error(f"invalid repeat count '{m.group(0)}' (RE2 allows at most {MAX_REPEAT})")
        if high is not None and int(high) < low:
            raise Re2Error(f"invalid repeat count '{m.group(0)}'")

    def _escape(self, i: int) -> int:
        """An escape outside brackets at p[i]: written out; returns the index after it."""
        p = self.p
        if i + 1 >= len(p):
            raise Re2Error("trailing backslash at end of expression")
        c = p[i + 1]
        if c in "AbB" or c in _PERL_CLASSES:
            self.out.append(p[i : i + 2])
            return i + 2
        if c == "z":
            self.out.append("\\Z")
            return i + 2
        if c == "Q":
            literal, found, _ = p[i + 2 :].partition("\\E")
            self.out.extend(_literal(ch) for ch in literal)
            return i + 2 + len(literal) + (2 if found else 0)
        if c in "pP":
            raise Re2Error(f"Unicode class '\\{c}' is not supported (Python's re has none)")
        ch, end = _escaped_char(p, i)
        self.out.append(_literal(ch))
        return end

    def _char_class(self, i: int) -> int:
        """A bracket expression at p[i], item by item as Go's parseClass reads it."""
        p, n = self.p, len(self.p)
        out = ["["]
        j = i + 1
        if p.startswith("^", j):
            out.append("^")
            j += 1
        first = True  # a `]` first in the brackets is a literal
        while True:
            if j >= n:
                raise Re2Error(f"missing closing ] in '{p[i:]}'")
            if p[j] == "]" and not first:
                out.append("]")
                self.out.append("".join(out))
                return j + 1
            first = False
            if p.startswith("[:", j) and (end := p.find(":]", j + 2)) >= 0:
                name = p[j + 2 : end]
                ranges = POSIX_CLASSES.get(name.removeprefix("^"))
                if ranges is None:
                    raise Re2Error(f"invalid character class range '[:{name}:]'")
                if name.startswith("^"):
                    raise Re2Error(f"negated POSIX class '[:{name}:]' inside brackets is not supported")
                out.append(ranges)
                j = end + 2
                continue
            if p[j] == "\\" and p[j + 1 : j + 2] in _PERL_CLASSES:
                out.append(p[j : j + 2])
                j += 2
                continue
            if p[j] == "\\" and p[j + 1 : j + 2] in ("p", "P"):
                raise Re2Error(f"Unicode class '{p[j : j + 2]}' is not supported (Python's re has none)")
            low, j = _class_char(p, j)
            high = low
            if j + 1 < n and p[j] == "-" and p[j + 1] != "]":
                high, j = _class_char(p, j + 1)
                if high < low:
                    raise Re2Error(f"invalid character class range '{low}-{high}'")
            out.append(_literal(low) if high == low else f"{_literal(low)}-{_literal(high)}")

    def _group_open(self, i: int) -> int:
        """A `(` at p[i]: a plain, named, non-capturing or flag group; returns the index after its opener."""
        p = self.p
        inherited = self.multiline[-1]
        if not p.startswith("(?", i):
            self.multiline.append(inherited)
            self.out.append("(")
            return i + 1
        named = 4 if p.startswith("(?P<", i) else 3 if p.startswith("(?<", i) else 0
        if named and p[i + named : i + named + 1] not in ("=", "!"):
            end = p.find(">", i + named)
            name = p[i + named : end] if end > 0 else ""
            if not name or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
                raise Re2Error(f"invalid named capture '{p[i : end + 1 if end > 0 else len(p)]}'")
            self.multiline.append(inherited)
            self.out.append(f"(?P<{name}>")
            return end + 1
        opener = p[i : i + 4]
        if opener[2:3] in ("=", "!") or opener[2:4] in ("<=", "<!"):
            raise Re2Error(f"lookaround '{opener}' is not RE2")
        m = _FLAGS.match(p, i)
        if m is None:
            raise Re2Error(f"'{opener}' is not RE2 (no backreferences, atomic, conditional or comment groups)")
        on, off, close = m.group(1), m.group(2), m.group(3)
        bad = set(on + (off or "")) - set("ims")
        if bad:
            raise Re2Error(f"flag '{sorted(bad)[0]}' in '{m.group(0)}' is not supported (RE2 flags: i m s; U is refused)")
        if off is not None and not off:
            raise Re2Error(f"missing flags after '-' in '{m.group(0)}'")
        multiline = ("m" in on or inherited) and "m" not in (off or "")
        if close == ":":
            self.multiline.append(multiline)
            self.out.append(m.group(0))
            return m.end()
        # `(?flags)`: Go applies them to the rest of the group; Python takes them only for the whole
        # pattern, which is the same when nothing came before.
        if self.out:
            raise Re2Error(f"flags '{m.group(0)}' other than at the start of the pattern are not supported")
        self.global_flags = (self.global_flags | set(on)) - set(off or "")
        self.multiline[-1] = multiline
        return m.end()


def _escaped_char(p: str, i: int) -> tuple[str, int]:
    """The character an escape at p[i] stands for (Go's parseEscape) and the index after it."""
    c = p[i + 1] if i + 1 < len(p) else ""
    if not c:
        raise Re2Error("trailing backslash at end of expression")
    if c in "01234567":
        # Go: \0 and \1-\7 followed by an octal digit start an octal escape of up to three digits;
        # a lone \1-\7 would be a backreference, which RE2 does not have.
        octal = re.match(r"[0-7]{1,3}", p[i + 1 :])
        assert octal is not None
        if c != "0" and len(octal.group(0)) == 1:
            raise Re2Error(f"invalid escape sequence '\\{c}' (RE2 has no backreferences)")
        return chr(int(octal.group(0), 8)), i + 1 + len(octal.group(0))
    if c == "x":
        if p.startswith("{", i + 2):
            end = p.find("}", i + 3)
            digits = p[i + 3 : end] if end > 0 else ""
            if not digits or not all(ch in _HEX for ch in digits) or int(digits, 16) > 0x10FFFF:
                raise Re2Error(f"invalid escape sequence '{p[i : end + 1 if end > 0 else len(p)]}'")
            return chr(int(digits, 16)), end + 1
        digits = p[i + 2 : i + 4]
        if len(digits) != 2 or not all(ch in _HEX for ch in digits):
            raise Re2Error(f"invalid escape sequence '{p[i : i + 4]}'")
        return chr(int(digits, 16)), i + 4
    if c in _CONTROL_ESCAPES:
        return _CONTROL_ESCAPES[c], i + 2
    if c.isascii() and not c.isalnum():
        return c, i + 2  # an escaped punctuation character is itself in both
    raise Re2Error(f"invalid escape sequence '\\{c}'")


def _class_char(p: str, j: int) -> tuple[str, int]:
    """One character inside brackets (Go's parseClassChar) and the index after it."""
    if j >= len(p):
        raise Re2Error(f"missing closing ] in '{p}'")
    return _escaped_char(p, j) if p[j] == "\\" else (p[j], j + 1)


def _literal(ch: str) -> str:
    """ch as Python pattern text that matches only ch, in brackets or out."""
    return re.escape(ch) if ch.isprintable() else f"\\U{ord(ch):08x}"


BACKTRACKS_WARNING = (
    "the pattern {!r} repeats a repeat; unlike CoreDNS's RE2, Python's regular expressions may take "
    "very long on some names: prefer a pattern without nested repeats"
)


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
