"""The Corefile parser: words -> server blocks of directives (CoreDNS's caddyfile grammar).

    Corefile    := ( serverblock | snippet | import )*
    serverblock := KEY [,] KEY ... ( "{" line* "}" | line* EOF )     keys end at the line's end,
                                                                      unless the last ends in ','
    snippet     := "(" NAME ")" "{" word* "}"                        replayed by `import NAME`
    line        := NAME ARG* [ "{" line* "}" ]                        nested to any depth
    import      := "import" FILE|GLOB|SNIPPET                         at the start of any line

`import` is replaced by the words of the snippet of that name, else of the file or the files the
glob matches (relative to the importing file's directory; a glob that matches nothing is fine, a
missing plain file is an error, as in CoreDNS). Imports are expanded as the parser meets them,
so a snippet must be defined before it is used. CoreDNS's `import` takes exactly one argument
(no snippet arguments: its caddy fork has none), and so does kdns's.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from kdns import plugins
from kdns.corefile.keys import parse_key, unreachable, unreachable_warning
from kdns.corefile.lexer import Word, tokenize
from kdns.corefile.tree import Directive, ServerBlock, ServerKey, Token
from kdns.errors import ConfigError

log = logging.getLogger(__name__)

# Cap on import expansions in one parse: stops an exponential fan-out (a file importing another
# twice, that one importing a third twice, ...) the way CoreDNS's maxSnippetExpansions does.
MAX_IMPORTS = 1000
_GLOB_CHARS = frozenset("*?[")


@dataclass(slots=True)
class Parsed:
    """A parse result: the server blocks and every file read (the main one first)."""

    blocks: list[ServerBlock]
    files: list[str] = field(default_factory=list)


def parse(
    text: str, filename: str, *, known: Callable[[str], bool] | None = None
) -> list[ServerBlock]:
    """The server blocks of a Corefile text. known(name) says whether a directive exists
    (default: kdns has a plugin of that name)."""
    return parse_text(text, filename, known=known).blocks


def load(path: str, *, known: Callable[[str], bool] | None = None) -> list[ServerBlock]:
    """The server blocks of the Corefile at path."""
    return load_parsed(path, known=known).blocks


def load_parsed(path: str, *, known: Callable[[str], bool] | None = None) -> Parsed:
    """Like load(), and also the list of files read (the Corefile and every imported file)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read Corefile {path}: {_reason(e)}") from None
    return parse_text(text, path, known=known)


def parse_text(
    text: str, filename: str, *, known: Callable[[str], bool] | None = None
) -> Parsed:
    parser = _Parser(filename, known or _has_plugin)
    parser.words = [_Placed(w, parser.root) for w in tokenize(text, filename)]
    blocks = parser.parse_all()
    return Parsed(blocks, parser.files)


def _has_plugin(name: str) -> bool:
    return plugins.get(name) is not None


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e)


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where a word came from: the chain of imports (files, snippets) that brought it in."""

    chain: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Placed:
    word: Word
    frame: _Frame

    @property
    def token(self) -> Token:
        return self.word.token

    @property
    def text(self) -> str:
        return self.word.token.text

    @property
    def kind(self) -> str:
        return self.word.kind

    @property
    def newline(self) -> bool:
        return self.word.newline


def _err(token: Token, message: str, directive: str = "") -> ConfigError:
    return ConfigError(message, token.file, token.line, directive)


class _Parser:
    def __init__(self, filename: str, known: Callable[[str], bool]) -> None:
        self.filename = filename
        self.known = known
        self.root = _Frame((_file_id(filename),))
        self.words: list[_Placed] = []
        self.pos = 0
        self.snippets: dict[str, list[_Placed]] = {}
        self.files: list[str] = [filename]
        self.expansions = 0

    # -- the word cursor -------------------------------------------------------------------

    def peek(self) -> _Placed | None:
        return self.words[self.pos] if self.pos < len(self.words) else None

    def take(self) -> _Placed:
        placed = self.words[self.pos]
        self.pos += 1
        return placed

    def last_token(self) -> Token:
        """The last word read, for errors at the end of the input."""
        if self.words:
            return self.words[min(self.pos, len(self.words)) - 1].token
        return Token("", self.filename, 1)

    # -- top level --------------------------------------------------------------------------

    def parse_all(self) -> list[ServerBlock]:
        blocks: list[ServerBlock] = []
        while (w := self.peek()) is not None:
            if w.kind == "word" and w.text == "import" and not w.token.quoted:
                self.expand_import()
                continue
            if w.kind == "close":
                raise _err(w.token, "unexpected '}' with no matching '{'")
            if w.kind == "open":
                raise _err(w.token, "a server block with no keys (a '{' before any key)")
            block = self.server_block()
            if block is not None:
                blocks.append(block)
        return blocks

    def server_block(self) -> ServerBlock | None:
        key_tokens = self.keys()
        if len(key_tokens) == 1 and _is_snippet(key_tokens[0].text):
            self.define_snippet(key_tokens[0])
            return None
        first = key_tokens[0]
        keys: list[ServerKey] = []
        for token in key_tokens:
            if _is_snippet(token.text):
                raise _err(token, f"snippet definition '{token.text}' must be the only key")
            parsed = parse_key(token)
            if any(unreachable(key.zone) for key in parsed):
                log.warning("%s:%d: %s", token.file, token.line, unreachable_warning(token.text))
            keys.extend(parsed)
        w = self.peek()
        if w is not None and w.kind == "open":
            opening = self.take()
            directives = self.lines(opening, plugin="")
        else:
            # A block without braces runs to the end of the file (Caddy: single-server configs).
            directives = self.lines(None, plugin="")
        return ServerBlock(keys, directives, first.file, first.line)

    def keys(self) -> list[Token]:
        """The keys of a server block: up to the line's end, or further while a key ends in ','."""
        found: list[Token] = []
        expecting = False
        first = True
        while (w := self.peek()) is not None:
            if w.kind == "open":
                if expecting:
                    raise _err(w.token, "expected another key after ',' but found '{'")
                break
            if w.kind == "close":
                raise _err(w.token, "unexpected '}' with no matching '{'")
            if not first and w.newline and not expecting:
                break
            first = False
            self.take()
            token = w.token
            parts = [token.text] if token.quoted else token.text.split(",")
            expecting = len(parts) > 1 and parts[-1] == ""
            for part in parts:
                if part:
                    found.append(Token(part, token.file, token.line, token.quoted))
        if expecting:
            raise _err(self.last_token(), "expected another key after ',' but the file ended")
        if not found:
            # Only empty keys ("" or an unset {$VAR}): CoreDNS skips them, leaving no block.
            raise _err(self.last_token(), "a server block with no keys")
        return found

    def define_snippet(self, key: Token) -> None:
        name = key.text[1:-1]
        if name in self.snippets:
            raise _err(key, f"redeclaration of previously declared snippet '{name}'")
        w = self.peek()
        if w is None or w.kind != "open":
            raise _err(key, f"snippet '{name}' must be followed by '{{'")
        opening = self.take()
        body: list[_Placed] = []
        depth = 1
        while (w := self.peek()) is not None:
            self.take()
            if w.kind == "open":
                depth += 1
            elif w.kind == "close":
                depth -= 1
                if depth == 0:
                    self.snippets[name] = body
                    return
            body.append(w)
        raise _err(opening.token, f"unclosed '{{' of snippet '{name}'")

    # -- directive lines --------------------------------------------------------------------

    def lines(self, opening: _Placed | None, plugin: str) -> list[Directive]:
        """Lines up to the '}' matching opening (or to the end of input when opening is None).

        plugin is "" for the lines of a server block (each line is a plugin), else the plugin the
        nested option lines belong to.
        """
        result: list[Directive] = []
        while True:
            w = self.peek()
            if w is None:
                if opening is not None:
                    raise _err(opening.token, "unclosed '{' (no matching '}' before the end)")
                return result
            if w.kind == "close":
                if opening is None:
                    raise _err(w.token, "unexpected '}' with no matching '{'")
                self.take()
                if plugin:
                    self.after_close()
                return result
            if w.kind == "open":
                raise _err(w.token, "unexpected '{': a block opens on its directive's line")
            if w.text == "import" and not w.token.quoted:
                self.expand_import()
                continue
            result.append(self.line(plugin))

    def line(self, plugin: str) -> Directive:
        name = self.take()
        owner = plugin or name.text
        if not plugin and not self.known(name.text):
            raise _err(name.token, f"unknown directive '{name.text}'")
        args: list[Token] = []
        while (w := self.peek()) is not None and w.kind == "word" and not w.newline:
            args.append(self.take().token)
        block: list[Directive] | None = None
        w = self.peek()
        if w is not None and w.kind == "open" and not w.newline:
            opening = self.take()
            block = self.lines(opening, owner)
        return Directive(name.token, args, block, owner)

    def after_close(self) -> None:
        """After a '}' only a new line, another '}' or the end of input may follow."""
        w = self.peek()
        if w is None or w.newline or w.kind == "close":
            return
        raise _err(w.token, f"unexpected '{w.text}' after '}}' on the same line")

    # -- import -----------------------------------------------------------------------------

    def expand_import(self) -> None:
        """Replace `import ARG` (at self.pos) by the words it names."""
        start = self.pos
        keyword = self.take()
        arg = self.peek()
        if arg is None or arg.kind != "word" or arg.newline:
            raise _err(keyword.token, "import needs one argument: a snippet, a file or a glob")
        self.take()
        extra = self.peek()
        if extra is not None and extra.kind == "word" and not extra.newline:
            raise _err(extra.token, "import takes only one argument (a snippet, a file or a glob)")
        pattern = arg.text
        if not pattern:
            raise _err(arg.token, "import requires a non-empty file path")
        self.expansions += 1
        if self.expansions > MAX_IMPORTS:
            raise _err(arg.token, f"more than {MAX_IMPORTS} imports: an import loop?")

        chain = keyword.frame.chain
        if pattern in self.snippets:
            frame_id = f"snippet {pattern}"
            if frame_id in chain:
                raise _err(arg.token, f"import cycle: {_cycle(chain, frame_id)}")
            frame = _Frame((*chain, frame_id))
            words = [_Placed(p.word, frame) for p in self.snippets[pattern]]
            if words:
                # The replayed words start a line of their own, wherever they were defined.
                words[0] = _Placed(_with_newline(words[0].word), frame)
        else:
            words = []
            for path in self.import_paths(arg.token):
                file_id = _file_id(path)
                if file_id in chain:
                    raise _err(arg.token, f"import cycle: {_cycle(chain, file_id)}")
                frame = _Frame((*chain, file_id))
                words.extend(_Placed(w, frame) for w in self.read_import(path, arg.token))
        self.words[start : self.pos] = words
        self.pos = start

    def import_paths(self, at: Token) -> list[str]:
        pattern = at.text
        if not os.path.isabs(pattern):
            base = os.path.dirname(os.path.abspath(at.file))
            pattern = os.path.join(base, pattern)
        if _GLOB_CHARS.intersection(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                # Not an error, as in CoreDNS: a conf.d directory may be empty.
                log.warning("%s:%d: no files match import pattern %s", at.file, at.line, at.text)
            return matches
        if not os.path.exists(pattern):
            raise _err(at, f"file to import not found: {at.text}")
        return [pattern]

    def read_import(self, path: str, at: Token) -> list[Word]:
        if os.path.isdir(path):
            raise _err(at, f"could not import {path}: is a directory")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise _err(at, f"could not import {path}: {_reason(e)}") from None
        path = os.path.abspath(path)
        if path not in self.files:
            self.files.append(path)
        return tokenize(text, path)


def _is_snippet(text: str) -> bool:
    return len(text) > 2 and text.startswith("(") and text.endswith(")")


def _with_newline(word: Word) -> Word:
    return Word(word.token, True, word.kind)


def _cycle(chain: tuple[str, ...], again: str) -> str:
    """'snippet a -> snippet b -> snippet a': the part of the chain that loops."""
    return " -> ".join((*chain[chain.index(again) :], again))


def _file_id(path: str) -> str:
    return "file " + os.path.realpath(path)
