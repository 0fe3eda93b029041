"""Go (RE2) regular expressions -> Python patterns that match exactly the same way, or a refusal.

CoreDNS compiles `match` with Go's regexp package (RE2 syntax). Most patterns mean the same to
Python's re, but some read differently or only one side has them. translate() walks the pattern once:
- RE2 syntax Python lacks is rewritten: `\\z` -> `\\Z`, `\\Q...\\E` -> escaped text, `\\x{HHHH}` ->
  the character, `(?<name>` -> `(?P<name>`, `[[:alpha:]]` POSIX classes -> their ASCII ranges;
- what RE2 refuses or Python would read differently is refused (Re2Error saying which): lookaround
  `(?=` `(?!` `(?<=` `(?<!`, backreferences and octal escapes `\\1`, `(?P=name)`, atomic groups `(?>`,
  conditionals `(?(`, comments `(?#`, possessive quantifiers `*+`, repeat counts over 1000, the
  `{,n}` form (Python: 0 to n; Go: literal text), `\\p{...}` Unicode classes, `\\C`, `\\Z`,
  Python-only escapes (`\\N{...}`, `\\u`, `\\U`), flags other than RE2's `i m s` and flags in the
  middle of a pattern.
Patterns compile with re.ASCII: RE2's `\\d \\w \\s \\b` are ASCII-only. (Names reach the regexes in
presentation form, bytes outside printable ASCII written \\DDD, so `$` and `.` cannot meet a newline.)
"""

from __future__ import annotations

import re
import warnings

from kdns.errors import KdnsError

MAX_REPEAT = 1000  # RE2's limit on {n,m} counts
POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
OTHER, REPEATED, LAZY = 0, 1, 2
_REPEAT = re.compile(r"\{(\d*)(,?)(\d*)\}")
_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")


class Re2Error(KdnsError):
    """A pattern kdns cannot run exactly as CoreDNS would."""


def compile_re2(pattern: str) -> re.Pattern[str]:
    """pattern (RE2 syntax) compiled to a Python regex with the same matches."""
    translated = translate(pattern)
    with warnings.catch_warnings():
        # A FutureWarning ("possible nested set", "possible set difference") marks text that a
        # later Python may read differently: refuse it rather than guess.
        warnings.simplefilter("error")
        try:
            return re.compile(translated, re.ASCII)
        except (re.error, FutureWarning, DeprecationWarning) as e:
            raise Re2Error(str(e)) from None


def translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    # What came last: an atom or group (OTHER), a quantifier (REPEATED), a lazy quantifier (LAZY).
    # A quantifier on a quantifier is an error in RE2 (Python reads `*+` as possessive).
    state = OTHER
    while i < n:
        c = pattern[i]
        if c in "*+?{":
            m = _REPEAT.match(pattern, i) if c == "{" else None
            if c == "{" and m is None:
                out.append("\\{")  # a literal brace in both engines
                i += 1
                state = OTHER
                continue
            if state == LAZY or (state == REPEATED and c != "?"):
                raise Re2Error(f"invalid nested repetition operator at '{pattern[max(0, i - 1) : i + 1]}'")
            if m is not None:
                low, comma, high = m.groups()
                if not low and not comma and not high:
                    out.append("\\{\\}")  # `{}` is text to both engines
                    i = m.end()
                    state = OTHER
                    continue
                if not low:
                    raise Re2Error(
                        f"repeat '{m.group(0)}' without a minimum (RE2 reads it as text, Python as a count)"
                    )
                if int(low) > MAX_REPEAT or (high and int(high) > MAX_REPEAT):
                    raise Re2Error(f"invalid repeat count '{m.group(0)}' (RE2 allows at most {MAX_REPEAT})")
                out.append(m.group(0))
                i = m.end()
            else:
                out.append(c)
                i += 1
            state = LAZY if state == REPEATED else REPEATED
            continue
        state = OTHER
        if c == "\\":
            text, i = _escape(pattern, i, in_class=False)
        elif c == "[":
            text, i = _char_class(pattern, i)
        elif c == "(":
            text, i = _group_open(pattern, i, at_start=not out)
        else:
            text, i = c, i + 1
        out.append(text)
    return "".join(out)


def _escape(p: str, i: int, in_class: bool) -> tuple[str, int]:
    """The escape at p[i] ('\\'): its Python text and the index after it."""
    if i + 1 >= len(p):
        raise Re2Error("trailing backslash at end of expression")
    c = p[i + 1]
    if c.isdigit():
        raise Re2Error(f"escape '\\{c}': backreferences and octal escapes are not RE2 (or read differently)")
    if c == "z" and not in_class:
        return "\\Z", i + 2
    if c == "Q" and not in_class:
        end = p.find("\\E", i + 2)
        literal = p[i + 2 :] if end < 0 else p[i + 2 : end]
        return re.escape(literal), len(p) if end < 0 else end + 2
    if c == "x":
        if p.startswith("{", i + 2):
            end = p.find("}", i + 3)
            digits = p[i + 3 : end] if end > 0 else ""
            if not digits or not all(ch in "0123456789abcdefABCDEF" for ch in digits) or int(digits, 16) > 0x10FFFF:
                raise Re2Error(f"invalid escape '{p[i : end + 1 if end > 0 else len(p)]}'")
            return _literal(chr(int(digits, 16))), end + 1
        digits = p[i + 2 : i + 4]
        if len(digits) != 2 or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
            raise Re2Error(f"invalid escape '{p[i : i + 4]}'")
        return p[i : i + 4], i + 4
    if c in "pP":
        raise Re2Error(f"Unicode class '\\{c}' is not supported (Python's re has none)")
    if c in "dDwWsSafnrtv" or (c in "AbB" and not in_class) or (c.isascii() and not c.isalnum()):
        return p[i : i + 2], i + 2
    raise Re2Error(f"escape '\\{c}' is not RE2 (or means something else to Python)")


def _literal(ch: str) -> str:
    return re.escape(ch) if ch.isprintable() else f"\\U{ord(ch):08x}"


def _char_class(p: str, i: int) -> tuple[str, int]:
    """A bracket expression at p[i] ('['): its Python text and the index after it."""
    out = ["["]
    j = i + 1
    if j < len(p) and p[j] == "^":
        out.append("^")
        j += 1
    first = True
    while j < len(p):
        c = p[j]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if c == "[" and p.startswith("[:", j):
            end = p.find(":]", j + 2)
            name = p[j + 2 : end] if end > 0 else ""
            negated = name.startswith("^")
            ranges = POSIX_CLASSES.get(name.lstrip("^"))
            if end < 0 or ranges is None:
                raise Re2Error(f"invalid character class range '{p[j : end + 2 if end > 0 else len(p)]}'")
            if negated:
                raise Re2Error(f"negated POSIX class '[:{name}:]' inside a class is not supported")
            out.append(ranges)
            j = end + 2
        elif c == "\\":
            text, j = _escape(p, j, in_class=True)
            out.append(text)
        elif c in "[&~|":
            # Literal in RE2; escaped so Python never reads a nested set or a set operation.
            out.append("\\" + c)
            j += 1
        elif c == "-" and p.startswith("--", j):
            raise Re2Error("'--' inside a character class (Python may read it as set difference)")
        else:
            out.append(c)
            j += 1
    raise Re2Error(f"missing closing ] in '{p[i:]}'")


def _group_open(p: str, i: int, at_start: bool) -> tuple[str, int]:
    """The text for a '(' at p[i] (plain, named or flag group) and the index after its opener."""
    if not p.startswith("(?", i):
        return "(", i + 1
    rest = p[i + 2 : i + 4]
    if p.startswith("(?P<", i) or (p.startswith("(?<", i) and rest[1:2] not in ("=", "!")):
        start = i + (4 if p.startswith("(?P<", i) else 3)
        end = p.find(">", start)
        name = p[start:end] if end > 0 else ""
        if not name or not all(ch.isalnum() or ch == "_" for ch in name) or not name.isascii():
            raise Re2Error(f"invalid named capture '{p[i : end + 1 if end > 0 else len(p)]}'")
        return f"(?P<{name}>", end + 1
    if rest[:1] in ("=", "!") or rest in ("<=", "<!"):
        raise Re2Error(f"lookaround '{p[i : i + 4]}' is not RE2")
    if rest[:1] in (">", "(", "#") or p.startswith("(?P=", i) or p.startswith("(?P>", i):
        raise Re2Error(f"'{p[i : i + 4]}' is not RE2")
    m = _FLAGS.match(p, i)
    if m is None:
        raise Re2Error(f"invalid or unsupported Perl syntax '{p[i : i + 3]}'")
    on, off, close = m.group(1), m.group(2) or "", m.group(3)
    bad = set(on + off) - set("ims")
    if bad:
        raise Re2Error(f"flag '{sorted(bad)[0]}' in '{m.group(0)}' is not supported (RE2 flags: i m s; U is refused)")
    if not on and not off:
        raise Re2Error(f"missing flags in '{m.group(0)}'")
    if close == ")" and (off or not at_start):
        # Python takes global flags only at the very start; RE2 applies them from here on.
        raise Re2Error(f"flags '{m.group(0)}' other than at the start of the pattern are not supported")
    return m.group(0), m.end()
