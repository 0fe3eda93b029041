"""The Go template subset on its own: what each construct prints, Go's rendering of the tree (the
metrics' `template` label), and the run-time errors Go reports."""

from __future__ import annotations

import pytest

from kdns.plugins.template.gotemplate import ExecError, TemplateError, parse, parse_uint


class Data:
    """A stand-in for the query's data: plain fields, and Meta."""

    def __init__(self) -> None:
        self.fields = {
            "Name": "ip-10-1-2-3.example.", "Zone": "example.", "Class": "IN", "Type": "A",
            "Match": ["ip-10-1-2-3.example.", "10", "1"], "Group": {"0": "ip-10-1-2-3.example.", "1": "10", "a": "1"},
        }

    def __getattr__(self, name: str) -> object:
        return self.fields[name]

    def meta(self, key: str) -> str:
        return f"meta:{key}"


def run(text: str) -> str:
    from kdns.plugins.template import gotemplate

    tree = parse(text)
    data = Data()

    class Struct(gotemplate.GoStruct):
        go_type = "*template.templateData"

        def fields(self) -> list[str]:
            return list(data.fields)

        def __getattr__(self, name: str) -> object:
            return data.fields[name]

        def meta(self, key: str) -> str:
            return data.meta(key)

    return tree.execute(Struct())


@pytest.mark.parametrize(("text", "out"), [
    ("plain text", "plain text"),
    ("{{ .Name }} 60 IN A 10.{{ .Group.a }}", "ip-10-1-2-3.example. 60 IN A 10.1"),
    ("{{.Name}}", "ip-10-1-2-3.example."),
    ("{{ index .Match 1 }}", "10"),
    ('{{ index .Group "1" }}', "10"),
    ('{{ index .Group "nope" }}', ""),
    ("{{ .Group.nope }}", "<no value>"),
    ("{{ .Match }}", "[ip-10-1-2-3.example. 10 1]"),
    ("{{ .Group }}", "map[0:ip-10-1-2-3.example. 1:10 a:1]"),
    ("{{ parseInt \"ff\" 16 8 }}", "255"),
    ("{{ parseInt (index .Match 1) 10 8 }}", "10"),
    ("{{ .Group.a | printf \"%03s\" }}", "001"),
    ("{{ .Group.a | printf \"%3s|%-3s|\" .Type }}", "  A|1  |"),
    ("{{ printf \"%s-%d-%02x\" .Type 7 10 }}", "A-7-0a"),
    ("{{ printf \"%5d|%99999999d|%s\" 1 2 .Type }}", "    1|%!(NOVERB)%!(EXTRA int=2, string=A)"),
    ("{{ printf \"%.123456789s|\" .Type }}", "%!(NOVERB)%!(EXTRA string=A)"),
    ("{{ print 1 2 \"x\" 3 }}", "1 2x3"),
    ("{{ len .Match }}", "3"),
    ('{{ .Meta "kubernetes/client-namespace" }}', "meta:kubernetes/client-namespace"),
    ("a  {{- .Type -}}  b", "aAb"),
    ("a{{/* a comment */}}b", "ab"),
    ("{{ `raw \\n` }}", "raw \\n"),
    ('{{ "a\\tb" }}', "a\tb"),
    ("{{ true }} {{ 0x10 }}", "true 16"),
    ('{{ "}}" }}', "}}"),
])
def test_prints(text: str, out: str) -> None:
    assert run(text) == out


@pytest.mark.parametrize(("text", "rendered"), [
    ("{{ .Name }} 60 IN A {{ .Group.a }}", "{{.Name}} 60 IN A {{.Group.a}}"),
    ("{{ parseInt .Group.b 16 8 }}", "{{parseInt .Group.b 16 8}}"),
    ('{{ .Meta "x" }}', '{{.Meta "x"}}'),
    ("{{ index .Match 1 | printf \"%s\" }}", '{{index .Match 1 | printf "%s"}}'),
    ("{{ parseInt (index .Match 1) 10 8 }}", "{{parseInt (index .Match 1) 10 8}}"),
])
def test_rendered_as_go_prints_the_tree(text: str, rendered: str) -> None:
    assert str(parse(text)) == rendered


@pytest.mark.parametrize(("text", "error"), [
    ("{{ index .Match 5 }}", "error calling index: index out of range: 5"),
    ("{{ .Grup.d }}", "can't evaluate field Grup in type *template.templateData"),
    ("{{ .Name.x }}", "can't evaluate field x in type string"),
    ("{{ parseInt .Group.a 16 }}", "wrong number of args for parseInt: want 3 got 2"),
    ("{{ parseInt .Group.nope 16 8 }}", "invalid value"),
    ('{{ parseInt "zz" 16 8 }}', 'parsing "zz": invalid syntax'),
    ('{{ parseInt "1ff" 16 8 }}', 'parsing "1ff": value out of range'),
    ('{{ parseInt "1" 1 8 }}', "invalid base 1"),
    ('{{ parseInt "1" 10 65 }}', "invalid bit size 65"),
    ('{{ parseInt "1" "10" 8 }}', "expected int"),
    ("{{ index .Match \"a\" }}", "cannot index slice/array with type string"),
])
def test_run_time_errors(text: str, error: str) -> None:
    with pytest.raises(ExecError) as e:
        run(text)
    assert error in str(e.value)


@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("255", 255), ("0x1F", 31), ("0o17", 15), ("017", 15), ("0b101", 5), ("1_000", 1000),
])
def test_parse_uint_base_zero_reads_prefixes_as_go(text: str, value: int) -> None:
    assert parse_uint(text, 0, 64) == value


@pytest.mark.parametrize("text", ["", "+1", "-1", " 1", "1 ", "1__0", "0x", "٣"])
def test_parse_uint_refuses_what_go_refuses(text: str) -> None:
    with pytest.raises(ExecError):
        parse_uint(text, 0 if "_" in text or "x" in text else 10, 64)


@pytest.mark.parametrize(("text", "out"), [
    ('{{ "\\x41\\u00e9\\101" }}', "A\u00e9A"), ('{{ "\\U0001F600" }}', "\U0001F600"),
])
def test_string_escapes_as_go_reads_them(text: str, out: str) -> None:
    assert run(text) == out


@pytest.mark.parametrize("text", [
    '{{ "\\x+f" }}', '{{ "\\x4" }}', '{{ "\\400" }}', '{{ "\\18" }}', '{{ "\\ud800" }}', '{{ "\\U00110000" }}',
])
def test_string_escapes_go_refuses(text: str) -> None:
    with pytest.raises(TemplateError, match="invalid escape"):
        parse(text)


def test_refused_constructs_raise_template_error() -> None:
    for text in ("{{ if .Name }}{{ end }}", "{{ $ }}", "{{ nope }}", "{{ .Name", "{{ 1 2 }}", "{{ ) }}", "{{ (.Name }}"):
        with pytest.raises(TemplateError):
            parse(text)
