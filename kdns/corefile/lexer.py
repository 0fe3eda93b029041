"""The Corefile lexer: text -> words, each a Token with file and line.

The rules are those of the Caddy v1 caddyfile lexer that CoreDNS uses (github.com/coredns/caddy),
with two additions from Caddy v2's lexer:

- Words are separated by whitespace. `{` and `}` are structure only when they stand alone.
- `#` outside quotes starts a comment that runs to the end of the line; as in CoreDNS it may
  start anywhere, also inside a word ("Comments may be started anywhere on a line", corefile(5)).
- `"..."` is one word that may hold whitespace and span lines; inside it only `\\"` is an escape,
  every other backslash is kept as written (Caddy: "No other chars may be escaped").
  A quote that is not the first character of a word is an ordinary character.
- (Caddy v2) a backtick-quoted word `...` is raw: no escapes at all, may span lines.
- (Caddy v2) a backslash right before a newline, outside quotes, continues the logical line, so
  a long directive can be written over several physical lines. Tokens keep their physical line
  number for error messages.
- `{$NAME}` and `{%NAME%}` inside unquoted and double-quoted words are replaced by the environment
  variable NAME; an unset variable gives the empty string (CoreDNS's replaceEnvVars).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from kdns.corefile.tokens import Token
from kdns.errors import ConfigError

Kind = Literal["word", "open", "close"]


@dataclass(frozen=True, slots=True)
class Word:
    """A token plus what the parser needs to know about its place.

    newline: the word is the first of a logical line (the first word of a file is too).
    kind: "open"/"close" for a structural `{`/`}` (unquoted, written alone), else "word".
    """

    token: Token
    newline: bool
    kind: Kind = "word"

    @property
    def text(self) -> str:
        return self.token.text


def tokenize(text: str, filename: str, env: Mapping[str, str] | None = None) -> list[Word]:
    """The words of a Corefile text; ConfigError for an unterminated quoted string."""
    environ = os.environ if env is None else env
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n")
    words: list[Word] = []
    n = len(text)
    i = 0
    line = 1
    at_line_start = True
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            at_line_start = True
            i += 1
            continue
        if ch == "\\" and i + 1 < n and text[i + 1] == "\n":
            # Line continuation: the next physical line belongs to this logical line.
            line += 1
            i += 2
            continue
        if ch.isspace():
            i += 1
            continue
        if ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        start_line = line
        if ch == '"' or ch == "`":
            value, i, line = _quoted(text, i, line, filename)
            if ch == '"':
                value = replace_env(value, environ)
            token = Token(value, filename, start_line, quoted=True)
            words.append(Word(token, at_line_start))
        else:
            j = i
            while j < n:
                c = text[j]
                if c.isspace() or c == "#":
                    break
                if c == "\\" and j + 1 < n and text[j + 1] == "\n":
                    break
                j += 1
            raw = text[i:j]
            i = j
            kind: Kind = "open" if raw == "{" else "close" if raw == "}" else "word"
            value = raw if kind != "word" else replace_env(raw, environ)
            words.append(Word(Token(value, filename, start_line), at_line_start, kind))
        at_line_start = False
    return words


def tokens(text: str, filename: str, env: Mapping[str, str] | None = None) -> list[Token]:
    """Only the tokens of tokenize(): handy for tests and tools."""
    return [w.token for w in tokenize(text, filename, env)]


def _quoted(text: str, i: int, line: int, filename: str) -> tuple[str, int, int]:
    """Read the quoted word that starts at text[i]; returns (value, next index, line)."""
    quote = text[i]
    start_line = line
    n = len(text)
    out: list[str] = []
    j = i + 1
    while j < n:
        c = text[j]
        if quote == '"' and c == "\\" and j + 1 < n and text[j + 1] == '"':
            out.append('"')
            j += 2
            continue
        if c == quote:
            return "".join(out), j + 1, line
        if c == "\n":
            line += 1
        out.append(c)
        j += 1
    raise ConfigError(f"unterminated quoted string (opened with {quote})", filename, start_line)


def replace_env(value: str, environ: Mapping[str, str]) -> str:
    """Replace {$NAME} and {%NAME%} with the environment's value ('' when unset).

    One left-to-right pass: a value brought in from the environment is not scanned again, so a
    variable that holds "{$X}" cannot loop. "{$}" and "{%%}" (no name) stay as written, as in Caddy.
    """
    if "{" not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        if value.startswith("{$", i):
            end = value.find("}", i + 2)
            if end > i + 2:
                out.append(environ.get(value[i + 2 : end], ""))
                i = end + 1
                continue
        elif value.startswith("{%", i):
            end = value.find("%}", i + 2)
            if end > i + 2:
                out.append(environ.get(value[i + 2 : end], ""))
                i = end + 2
                continue
        out.append(value[i])
        i += 1
    return "".join(out)
