"""CoreDNS's plugin/template setup_test.go rows, and what kdns refuses at load time: a regex Python
would read differently from RE2, a template construct kdns does not run. Every error names the file,
the line and the plugin."""

from __future__ import annotations

import pytest
from plugins.template.template_cases import chain

from conftest import plugin_config
from kdns.config import config_from_text
from kdns.errors import ConfigError

# Server block keys as CoreDNS's TestSetupParse gives them.
BLOCK = "domain.com.:8053 dynamic.domain.com.:8053 {{\n{}\n}}"

SETUP_ROWS = [
    # parse errors
    ("template", True),
    ("template X", True),
    ("template ANY", True),
    ("template ANY X", True),
    ("template ANY ANY (?P<x>", True),
    ("template ANY ANY .* {\n notavailable\n }", True),
    ("template ANY ANY {\n answer\n }", True),
    ("template ANY ANY {\n additional\n }", True),
    ("template ANY ANY {\n rcode\n }", True),
    ("template ANY ANY {\n rcode UNDEFINED\n }", True),
    ('template ANY ANY {\n answer\t"{{"\n }', True),
    ('template ANY ANY {\n additional "{{"\n }', True),
    ('template ANY ANY {\n authority "{{"\n }', True),
    # An empty block answers NODATA (CoreDNS 1.6+, coredns/coredns#2855; older tables refused it).
    ("template ANY ANY {\n\n }", False),
    # examples
    ("""template ANY A example.com {
        match ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]com
        answer "{{ .Name }} A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Grup.d }}."
        fallthrough
    }""", False),
    ("""template ANY AAAA example.com {
        match ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]com
        authority "example.com 60 IN SOA ns.example.com hostmaster.example.com (1 60 60 60 60)"
        fallthrough
    }""", False),
    ("""template IN ANY example.com {
        match "[.](example[.]com[.]dc1[.]example[.]com[.])$"
        rcode NXDOMAIN
        authority "{{ index .Match 1 }} 60 IN SOA ns.{{ index .Match 1 }} hostmaster.example.com (1 60 60 60 60)"
        fallthrough example.com
    }""", False),
    ("""template IN A example {
        match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
        answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
    }
    template IN MX example. {
        match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
        answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"
        additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
    }""", False),
    ("""template IN MX example {
        match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
        answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"
        additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
        authority  "example. 60 IN NS ns0.example."
        authority  "example. 60 IN NS ns1.example."
        additional "ns0.example. 60 IN A 203.0.113.8"
        additional "ns1.example. 60 IN A 198.51.100.8"
    }""", False),
    ("""template ANY ANY up.stream.local {
        answer "up.stream.local 5 IN CNAME up.river.local"
        upstream
    }""", False),
    # Rows of later versions: ederror takes a code and an optional reason.
    ('template ANY ANY invalid {\n rcode NXDOMAIN\n ederror 21 "Blocked according to RFC2606"\n }', False),
    ("template ANY ANY invalid {\n ederror\n }", True),
    ("template ANY ANY invalid {\n ederror x\n }", True),
    ("template ANY ANY invalid {\n ederror 65536\n }", True),
    ("template ANY ANY invalid {\n ederror 1 a b\n }", True),
]


@pytest.mark.parametrize(("text", "should_err"), SETUP_ROWS)
def test_coredns_setup_rows(text: str, should_err: bool) -> None:
    corefile = BLOCK.format(text)
    if should_err:
        with pytest.raises(ConfigError) as e:
            config_from_text(corefile, "Corefile")
        assert e.value.file == "Corefile" and e.value.line > 0 and e.value.directive == "template"
    else:
        config_from_text(corefile, "Corefile")


@pytest.mark.parametrize("zones", [
    "a.example.com b.example.com c.example.com",
    '" a.example.com  b.example.com\t c.example.com "',
])
def test_coredns_setup_zones(zones: str) -> None:
    """TestSetupParseZones: several zones, or one quoted argument holding them."""
    config = config_from_text(f".:8053 {{\n template ANY ANY {zones} {{\n rcode NXDOMAIN\n }}\n}}")
    assert config.blocks[0].plugins[0].config.zones == ("a.example.com.", "b.example.com.", "c.example.com.")


def test_defaults() -> None:
    use = config_from_text(". {\n template IN AAAA\n}").blocks[0].plugins[0]
    c = use.config
    assert (c.qclass, c.qtype, c.zones, c.patterns, c.records, c.rcode, c.fallthrough) == (1, 28, (), (".*",), (), 0, None)
    c = config_from_text(". {\n template ANY ANY { \nfallthrough\n }\n}").blocks[0].plugins[0].config
    assert (c.qclass, c.qtype, c.fallthrough) == (255, 255, (".",))


def test_a_misspelt_field_loads_with_a_warning_naming_its_line(caplog: pytest.LogCaptureFixture) -> None:
    """CoreDNS loads `.Grup` (its setup test does) and fails when it runs: kdns warns at load too."""
    config_from_text(BLOCK.format(SETUP_ROWS[14][0]), "Corefile")
    assert any("Corefile:4" in r.getMessage() and ".Grup" in r.getMessage() for r in caplog.records)


async def test_the_misspelt_field_fails_at_query_time() -> None:
    templates = chain(BLOCK.format(SETUP_ROWS[14][0]))
    resp = await templates.ask("ip-1-2-3-4.example.com.", "A")
    assert resp.rcode == 2 and resp.error is not None and "can't evaluate field Grup" in resp.error


# What kdns refuses at load time, each with the construct it names.
REFUSED = [
    # RE2 syntax Python reads differently, or Python syntax RE2 does not have
    ('match "^(?=ip-)ip"', "lookaround"),
    ('match "^(?<!x)ip"', "lookaround"),
    ('match "(a)\\1"', "backreferences"),
    ('match "(?P<x>a)(?P=x)"', "(?P="),
    ('match "a*+"', "nested repetition"),
    ('match "(?>a)"', "(?>"),
    ('match "a{1001}"', "1001"),
    ('match "\\pL"', "Unicode class"),
    ('match "a\\Z"', "\\Z"),
    ('match "(?x)a b"', "flag 'x'"),
    ('match "a(?i)b"', "(?i)"),
    ('match "a(?U)b"', "flag 'U'"),
    ('match "[a"', "missing closing ]"),
    ('match "(a"', "could not parse regex"),
    # template constructs kdns does not run
    ('answer "{{ if .Name }}x{{ end }}"', "'if'"),
    ('answer "{{ range .Match }}x{{ end }}"', "'range'"),
    ('answer "{{ with .Name }}x{{ end }}"', "'with'"),
    ('answer "{{ define \\"x\\" }}x{{ end }}"', "'define'"),
    ('answer "{{ template \\"x\\" }}"', "'template'"),
    ('answer "{{ $x := .Name }}"', "variable '$x'"),
    ('answer "{{ html .Name }}"', "function 'html'"),
    ('answer "{{ call .Name }}"', "function 'call'"),
    ('answer "{{ exec .Name }}"', 'function "exec" not defined'),
    ('answer "{{ . }}"', "the whole data"),
    ('answer "{{ .Name"', "unclosed action"),
    ('answer "{{ }}"', "missing value"),
    ('answer "{{ 1.5 }}"', "integers only"),
    ('answer "{{ \'a\' }}"', "character constant"),
    ('answer "{{ .Name 1 }}"', "not a method"),
    ('answer "{{ (index .Match 1).X }}"', "parenthesized"),
    # options
    ("rcode BADVERS", "extended RCODE"),
    ("rcode noerror", "unknown rcode noerror"),
    ("nonsense", "unknown property 'nonsense'"),
    ("fallthrough {\n}", "takes no block"),
]


@pytest.mark.parametrize(("line", "named"), REFUSED)
def test_refused_at_load_naming_file_line_and_construct(line: str, named: str) -> None:
    with pytest.raises(ConfigError) as e:
        plugin_config("template", f"    template IN A {{\n        {line}\n    }}")
    assert (e.value.file, e.value.line, e.value.directive) == ("Corefile", 4, "template")
    assert named in e.value.message
    assert str(e.value).startswith("Corefile:4: template: ")


@pytest.mark.parametrize(("text", "named"), [
    ("template in A", "invalid query class in"),
    ("template IN a", "invalid RR type a"),
    ("template IN NOPE", "invalid RR type NOPE"),
    ("template IN A exa..mple", "exa..mple"),
])
def test_bad_class_type_or_zone(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as e:
        plugin_config("template", text)
    assert e.value.line == 3 and named in e.value.message


def test_nested_repeats_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    # The question name is the client's: a backtracking shape loads (CoreDNS takes it) with a warning.
    caplog.set_level("WARNING")
    plugin_config("template", '    template IN A {\n        match "^(a+)+\\.example\\.$"\n    }')
    assert "Corefile:4" in caplog.text and "repeats a repeat" in caplog.text
    caplog.clear()
    plugin_config("template", '    template IN A {\n        match "^ip-(.*)\\.example\\.$"\n    }')
    assert "repeats a repeat" not in caplog.text
