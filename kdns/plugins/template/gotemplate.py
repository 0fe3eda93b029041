"""The part of Go's text/template that CoreDNS's template plugin documents, parsed and run in Python.

A Corefile never gets code run: the RR text is parsed into a small tree (text, and actions made of
pipelines of commands) and the tree is evaluated against the query's data. Supported inside `{{ }}`:
- fields of the data: `.Name .Zone .Class .Type .Regex .Remote .Match .Group .Group.NAME .Question`
  (and `.Question.Name/.Qtype/.Qclass`), `.Message` (and its header fields, `.Message.Id` ...);
- the method `.Meta "KEY"`;
- functions `parseInt S BASE BITS` (Go's strconv.ParseUint, as CoreDNS registers it), `index`, `len`,
  `print`, `printf`; string, raw string, integer and true/false literals; `|` pipelines;
  parentheses; `{{- -}}` trim markers and `{{/* comments */}}`.
Anything else (if/range/with/define/template/block, variables, other functions) is refused at load
time with a TemplateError naming the construct. What Go only finds when it runs the template (an
index out of range, a field the data does not have, a bad number for parseInt) is an ExecError at
query time, as in CoreDNS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kdns.errors import KdnsError


class TemplateError(KdnsError):
    """A template kdns refuses to load (Go's parse errors, and constructs kdns does not run)."""


class ExecError(KdnsError):
    """Running a template failed (CoreDNS counts these in coredns_template_template_failures_total)."""


# Top-level fields of CoreDNS's templateData; the ones that depend on more than the question name,
# type and class (so an answer using them is not a pure function of the question).
DATA_FIELDS = frozenset(("Zone", "Name", "Regex", "Match", "Group", "Class", "Type", "Message", "Question", "Remote"))
PER_REQUEST = frozenset(("Message", "Question", "Remote", "Meta"))
FUNCTIONS = frozenset(("parseInt", "index", "len", "print", "printf"))
GO_BUILTINS = frozenset((
    "and", "call", "html", "js", "not", "or", "println", "slice", "urlquery", "eq", "ne", "lt", "le", "gt", "ge",
))
KEYWORDS = frozenset(("if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"))


class Missing:
    """Go's invalid reflect.Value: what a missing map key gives; printed "<no value>"."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = Missing()


# The tree.


@dataclass(frozen=True)
class Field:
    path: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + p for p in self.path) or "."


@dataclass(frozen=True)
class Literal:
    value: Any
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Ident:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Command:
    args: tuple[Any, ...]  # Field | Literal | Ident | Pipe

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, Pipe) else str(a) for a in self.args)


@dataclass(frozen=True)
class Pipe:
    commands: tuple[Command, ...]

    def __str__(self) -> str:
        return " | ".join(str(c) for c in self.commands)


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Pipe, ...]
    # Top-level data fields and methods used (for the fast-path rule and load-time warnings).
    fields: frozenset[str]

    def __str__(self) -> str:
        """The template as Go's Tree.Root.String() writes it (CoreDNS's `template` metric label)."""
        return "".join(p if isinstance(p, str) else "{{" + str(p) + "}}" for p in self.parts)

    def execute(self, data: Any) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(go_print(_pipe(part, data)))
        return "".join(out)


# Parsing.

_TOKEN = re.compile(
    r"""\s+|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<raw>`[^`]*`)|(?P<char>'(?:[^'\\]|\\.)*')"""
    r"""|(?P<num>[-+]?(?:0[xX][0-9a-fA-F_]+|0[oObB]?[0-9_]+|[0-9][0-9_]*)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"""
    r"""|(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)|(?P<var>\$[A-Za-z0-9_]*)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|(?P<op>[|()]|:=|=|,)"""
)
_SPACE = (" ", "\t", "\r", "\n")  # what must follow `{{-` (else it is a negative number)
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}


def parse(text: str) -> Template:
    """text as a Go template, or TemplateError naming what is wrong or unsupported."""
    parts: list[str | Pipe] = []
    fields: set[str] = set()
    pos = 0
    trim_next = False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            chunk = chunk.lstrip(" \t\r\n")
        if start < 0:
            if chunk:
                parts.append(chunk)
            break
        inner_start = start + 2
        if text[inner_start : inner_start + 1] == "-" and text[inner_start + 1 : inner_start + 2] in _SPACE:
            chunk = chunk.rstrip(" \t\r\n")
            inner_start += 2
        if chunk:
            parts.append(chunk)
        end = _action_end(text, inner_start)
        if end < 0:
            raise TemplateError(f"unclosed action in '{text[start:]}'")
        inner_end = end
        trim_next = False
        if end - inner_start >= 2 and text[end - 1] == "-" and text[end - 2] in " \t\r\n":
            inner_end = end - 1
            trim_next = True
        inner = text[inner_start:inner_end].strip()
        pos = end + 2
        if inner.startswith("/*"):
            if not inner.endswith("*/"):
                raise TemplateError(f"unclosed comment in '{text[start:pos]}'")
            continue
        if not inner:
            raise TemplateError(f"missing value for command in '{text[start:pos]}'")
        pipe = _Parser(inner, text[start:pos], fields).pipeline(top=True)
        parts.append(pipe)
    return Template(tuple(parts), frozenset(fields))


def _action_end(text: str, i: int) -> int:
    """Index of the `}}` closing the action that starts at i (quotes may hold braces)."""
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\"'`":
            close = text.find(c, i + 1) if c == "`" else _quoted_end(text, i)
            if close < 0:
                return -1
            i = close + 1
        elif text.startswith("}}", i):
            return i
        else:
            i += 1
    return -1


def _quoted_end(text: str, i: int) -> int:
    q = text[i]
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == q:
            return j
        elif text[j] == "\n":
            return -1
        else:
            j += 1
    return -1


class _Parser:
    def __init__(self, inner: str, action: str, fields: set[str]) -> None:
        self.action = action
        self.fields = fields
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(inner):
            m = _TOKEN.match(inner, pos)
            if m is None:
                raise TemplateError(f"unexpected '{inner[pos]}' in '{action}'")
            pos = m.end()
            if m.lastgroup is not None:
                self.tokens.append((m.lastgroup, m.group(m.lastgroup)))
        self.i = 0

    def fail(self, what: str) -> TemplateError:
        return TemplateError(f"{what} in '{self.action}'")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def pipeline(self, top: bool) -> Pipe:
        commands = [self.command()]
        while True:
            tok = self.peek()
            if tok is None:
                if not top:
                    raise self.fail("unclosed left paren")
                break
            if tok == ("op", ")"):
                if top:
                    raise self.fail("unexpected right paren")
                break
            if tok == ("op", "|"):
                self.i += 1
                commands.append(self.command())
                if not isinstance(commands[-1].args[0], (Ident, Field)):
                    raise self.fail(f"non executable command in pipeline stage {len(commands)}")
                continue
            raise self.fail(f"unexpected '{tok[1]}'")
        return Pipe(tuple(commands))

    def command(self) -> Command:
        args: list[Any] = []
        while True:
            tok = self.peek()
            if tok is None or tok in (("op", "|"), ("op", ")")):
                break
            args.append(self.operand())
        if not args:
            raise self.fail("missing value for command")
        head = args[0]
        if isinstance(head, Literal) and len(args) > 1:
            raise self.fail(f"can't give argument to non-function {head}")
        if isinstance(head, Field) and len(args) > 1 and head.path != ("Meta",):
            raise self.fail(f"{head} is not a method but has arguments")
        return Command(tuple(args))

    def operand(self) -> Any:
        kind, text = self.tokens[self.i]
        self.i += 1
        if kind == "field":
            path = tuple(p for p in text.split(".") if p)
            if not path:
                raise self.fail("'.' (the whole data) is not supported")
            self.fields.add(path[0])
            return Field(path)
        if kind == "str":
            return Literal(_go_unquote(text, self), text)
        if kind == "raw":
            return Literal(text[1:-1], text)
        if kind == "num":
            try:
                return Literal(int(text, 0), text)
            except ValueError:
                raise self.fail(f"number '{text}' is not supported (integers only)") from None
        if kind == "ident":
            if text in ("true", "false"):
                return Literal(text == "true", text)
            if text in KEYWORDS:
                raise self.fail(f"'{text}' is not supported (kdns runs no template control structures)")
            if text in GO_BUILTINS:
                raise self.fail(f"function '{text}' is not supported")
            if text not in FUNCTIONS:
                raise self.fail(f'function "{text}" not defined')
            return Ident(text)
        if kind == "var":
            raise self.fail(f"variable '{text}' is not supported")
        if kind == "char":
            raise self.fail(f"character constant {text} is not supported")
        if text == "(":
            pipe = self.pipeline(top=False)
            self.i += 1  # the ')'
            tok = self.peek()
            if tok is not None and tok[0] == "field" and self.action.find(")" + tok[1]) >= 0:
                raise self.fail("fields of a parenthesized pipeline are not supported")
            return pipe
        raise self.fail(f"'{text}' is not supported")


def _go_unquote(text: str, parser: _Parser) -> str:
    body = text[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in _GO_ESCAPES:
            out.append(_GO_ESCAPES[e])
            i += 2
        elif e in "xuU" or e in "01234567":
            # strconv.UnquoteChar: exactly 2, 4 or 8 hex digits, or 3 octal ones up to \377; a
            # valid code point (no surrogate).
            octal = e not in "xuU"
            width = 3 if octal else {"x": 2, "u": 4, "U": 8}[e]
            start = i + 1 if octal else i + 2
            digits = body[start : start + width]
            allowed = "01234567" if octal else "0123456789abcdefABCDEF"
            value = int(digits, 8 if octal else 16) if len(digits) == width and all(c in allowed for c in digits) else -1
            if value < 0 or (octal and value > 255) or value > 0x10FFFF or 0xD800 <= value < 0xE000:
                raise parser.fail(f"invalid escape in {text}")
            out.append(chr(value))
            i = start + width
        else:
            raise parser.fail(f"unknown escape sequence '\\{e}' in {text}")
    return "".join(out)


# Running.


def _pipe(pipe: Pipe, data: Any) -> Any:
    value: Any = None
    for n, command in enumerate(pipe.commands):
        value = _command(command, data, value if n else None, piped=n > 0)
    return value


def _command(command: Command, data: Any, last: Any, piped: bool) -> Any:
    head, *rest = command.args
    args = [_operand(a, data) for a in rest]
    if piped:
        args.append(last)
    if isinstance(head, Ident):
        return _call(head.name, args)
    if isinstance(head, Field):
        if head.path == ("Meta",):
            if len(args) != 1 or not isinstance(args[0], str):
                raise ExecError(f"wrong number or type of args for Meta: want 1 string, got {len(args)}")
            return data.meta(args[0])
        if args:
            raise ExecError(f"{head} is not a method but has arguments")
        return _field(head, data)
    if isinstance(head, Pipe):
        if args:
            raise ExecError("can't give argument to non-function")
        return _pipe(head, data)
    if args:
        raise ExecError(f"can't give argument to non-function {head}")
    return head.value


def _operand(node: Any, data: Any) -> Any:
    if isinstance(node, Field):
        if node.path == ("Meta",):
            raise ExecError("wrong number of args for Meta: want 1 got 0")
        return _field(node, data)
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Pipe):
        return _pipe(node, data)
    raise ExecError(f"can't use function {node} as an argument without calling it")


def _field(node: Field, data: Any) -> Any:
    value: Any = data
    for name in node.path:
        if isinstance(value, dict):
            value = value.get(name, MISSING)
        elif isinstance(value, GoStruct):
            if name not in value.fields():
                raise ExecError(f"can't evaluate field {name} in type {value.go_type}")
            value = getattr(value, name)
        elif value is MISSING:
            raise ExecError(f"nil pointer evaluating {node}")
        else:
            raise ExecError(f"can't evaluate field {name} in type {go_type(value)}")
    return value


class GoStruct:
    """A Go struct seen from a template: readable fields by Go name."""

    go_type = "struct"

    def fields(self) -> Sequence[str]:
        return ()

    def go_string(self) -> str:
        """What Go prints for it (its String() method)."""
        return "{}"


def go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]string"
    if isinstance(value, dict):
        return "map[string]string"
    if isinstance(value, GoStruct):
        return value.go_type
    return "interface {}"


def go_print(value: Any) -> str:
    """value as Go's fmt prints it with %v (text/template's default)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_print(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, GoStruct):
        return value.go_string()
    if value is None or value is MISSING:
        return "<no value>"
    return str(value)


def _call(name: str, args: list[Any]) -> Any:
    for a in args:
        if a is MISSING:
            raise ExecError(f"error calling {name}: invalid value; expected a value")
    return _FUNCS[name](args)


def _index(args: list[Any]) -> Any:
    if not args:
        raise ExecError("wrong number of args for index: want at least 1 got 0")
    item, *indices = args
    for key in indices:
        if isinstance(item, list | str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise ExecError(f"error calling index: cannot index slice/array with type {go_type(key)}")
            if not 0 <= key < len(item):
                raise ExecError(f"error calling index: index out of range: {key}")
            item = item[key] if isinstance(item, list) else ord(item[key])
        elif isinstance(item, dict):
            if not isinstance(key, str):
                raise ExecError(f"error calling index: value has type {go_type(key)}; should be string")
            item = item.get(key, "")
        else:
            raise ExecError(f"error calling index: can't index item of type {go_type(item)}")
    return item


def _len(args: list[Any]) -> int:
    if len(args) != 1:
        raise ExecError(f"wrong number of args for len: want 1 got {len(args)}")
    if not isinstance(args[0], str | list | dict):
        raise ExecError(f"error calling len: len of type {go_type(args[0])}")
    return len(args[0])


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def parse_uint(s: Any, base: Any, bits: Any) -> int:
    """Go's strconv.ParseUint(s, base, bitSize): the errors are Go's, in its words."""
    if not isinstance(s, str):
        raise ExecError(f"wrong type for value; expected string; got {go_type(s)}")
    for v in (base, bits):
        if not isinstance(v, int) or isinstance(v, bool):
            raise ExecError(f"wrong type for value; expected int; got {go_type(v)}")
    fn = "strconv.ParseUint"
    if not s:
        raise ExecError(f'error calling parseInt: {fn}: parsing "": invalid syntax')
    text = s
    underscores = False
    if base == 0:
        base = 10
        underscores = True
        lower = s.lower()
        if s[0] == "0":
            if len(s) >= 3 and lower[1] in "box":
                base = {"b": 2, "o": 8, "x": 16}[lower[1]]
                text = s[2:]
            else:
                base = 8
                text = s[1:] or "0"
    elif not 2 <= base <= 36:
        raise ExecError(f'error calling parseInt: {fn}: parsing "{s}": invalid base {base}')
    if bits == 0:
        bits = 64
    elif not 0 < bits <= 64:
        raise ExecError(f'error calling parseInt: {fn}: parsing "{s}": invalid bit size {bits}')
    digits = text.replace("_", "") if underscores else text
    if not digits or any(c.lower() not in _DIGITS[:base] for c in digits) or (underscores and "__" in text):
        raise ExecError(f'error calling parseInt: {fn}: parsing "{s}": invalid syntax')
    value = int(digits, base)
    if value >= 1 << bits:
        raise ExecError(f'error calling parseInt: {fn}: parsing "{s}": value out of range')
    return value


def _parse_int(args: list[Any]) -> int:
    if len(args) != 3:
        raise ExecError(f"wrong number of args for parseInt: want 3 got {len(args)}")
    return parse_uint(*args)


def _sprint(args: list[Any]) -> str:
    # fmt.Sprint: a space between operands when neither side is a string.
    out: list[str] = []
    for n, a in enumerate(args):
        if n and not isinstance(a, str) and not isinstance(args[n - 1], str):
            out.append(" ")
        out.append(go_print(a))
    return "".join(out)


_VERB = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d+))?([a-zA-Z%])")
_MAX_FMT_NUMBER = 1_000_000  # Go's fmt tooLarge()


def _too_large(digits: str | None) -> bool:
    """Go's parsenum overflows when the number read before the last digit is over a million."""
    return digits is not None and len(digits) > 1 and int(digits[:-1]) > _MAX_FMT_NUMBER


def _sprintf(args: list[Any]) -> str:
    if not args or not isinstance(args[0], str):
        raise ExecError("wrong type for value; expected string")
    fmt, rest = args[0], list(args[1:])

    def verb(m: re.Match[str]) -> str:
        flags, width, precision, v = m.groups()
        if v == "%":
            return "%"
        if not rest:
            return f"%!{v}(MISSING)"
        a = rest.pop(0)
        if v in "dxXob" and isinstance(a, int) and not isinstance(a, bool):
            body = format(a, {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[v])
        elif v in "sv":
            body = go_print(a)
            if precision is not None and v == "s":
                body = body[: int(precision)]
        elif v == "q" and isinstance(a, str):
            body = '"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            return f"%!{v}({go_type(a)}={go_print(a)})"
        if width:
            # Go pads with zeros for the 0 flag whatever the verb (fmt.Sprintf("%03s", "1") is "001").
            fill = "0" if "0" in flags and "-" not in flags else " "
            body = body.ljust(int(width)) if "-" in flags else body.rjust(int(width), fill)
        return body

    out: list[str] = []
    pos = 0
    for m in _VERB.finditer(fmt):
        if _too_large(m.group(2)) or _too_large(m.group(3)):
            # Go's fmt gives up on a width or precision past ten million (parsenum): the rest of
            # the format is "%!(NOVERB)". Also what keeps a format from the question (`printf .Name`)
            # from asking for a gigabyte of padding.
            out += (fmt[pos : m.start()], "%!(NOVERB)")
            pos = len(fmt)
            break
        out += (fmt[pos : m.start()], verb(m))
        pos = m.end()
    text = "".join(out) + fmt[pos:]
    if rest:
        text += "%!(EXTRA " + ", ".join(f"{go_type(a)}={go_print(a)}" for a in rest) + ")"
    return text


_FUNCS: dict[str, Callable[[list[Any]], Any]] = {
    "index": _index, "len": _len, "parseInt": _parse_int, "print": _sprint, "printf": _sprintf,
}
