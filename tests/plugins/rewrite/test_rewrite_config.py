"""Parsing rewrite rules: every row of CoreDNS's TestNewRule (rewrite_test.go), TestNewNameRule
(name_test.go), TestNewTTLRule (ttl_test.go), TestNewRCodeRule (rcode_test.go) and the cname rule set
(cname_target_test.go); RE2 patterns; Corefile errors naming file, line and word."""

from __future__ import annotations

import pytest
from plugins.rewrite.rewrite_cases import directive

from kdns.errors import ConfigError
from kdns.plugins.rewrite import rules as r
from kdns.plugins.rewrite.config import RuleError, new_rule, parse

# (words, kind of rule or None when CoreDNS refuses it): TestNewRule, row by row.
NEW_RULE = [
    ([], None),
    (["foo"], None),
    (["name"], None),
    (["name", "a.com"], None),
    (["name", "a.com", "b.com", "c.com"], None),
    (["name", "a.com", "b.com"], r.NameRule),
    (["name", "exact", "a.com", "b.com"], r.NameRule),
    (["name", "prefix", "a.com", "b.com"], r.NameRule),
    (["name", "suffix", "a.com", "b.com"], r.NameRule),
    (["name", "suffix", "foo3.bar", "google.com", "answer", "name", "g(o+)gle(.*)", "f{1}{2}"], r.NameRule),
    (["name", "substring", "a.com", "b.com"], r.NameRule),
    (["name", "regex", "([a])\\.com", "new-{1}.com"], r.NameRule),
    (["name", "regex", "([a]\\.com", "new-{1}.com"], None),
    (["name", "regex", "(dns)\\.(core)\\.(rocks)", "{2}.{1}.{3}", "answer", "name", "(core)\\.(dns)\\.(rocks)", "{2}.{1}.{3}"], r.NameRule),
    (["name", "regex", "(adns)\\.(core)\\.(rocks)", "{2}.{1}.{3}", "answer", "name", "(core)\\.(adns)\\.(rocks)", "{2}.{1}.{3}", "too.long", "way.too.long"], None),
    (["name", "regex", "(bdns)\\.(core)\\.(rocks)", "{2}.{1}.{3}", "NoAnswer", "name", "(core)\\.(bdns)\\.(rocks)", "{2}.{1}.{3}"], None),
    (["name", "regex", "(cdns)\\.(core)\\.(rocks)", "{2}.{1}.{3}", "answer", "ttl", "(core)\\.(cdns)\\.(rocks)", "{2}.{1}.{3}"], None),
    (["name", "regex", "(ddns)\\.(core)\\.(rocks)", "{2}.{1}.{3}", "answer", "name", "\xecore\\.(ddns)\\.(rocks)", "{2}.{1}.{3}"], None),
    (["name", "regex", "\xedns\\.(core)\\.(rocks)", "{2}.{1}.{3}", "answer", "name", "(core)\\.(edns)\\.(rocks)", "{2}.{1}.{3}"], None),
    (["name", "substring", "fcore.dns.rocks", "dns.fcore.rocks", "answer", "name", "(fcore)\\.(dns)\\.(rocks)", "{2}.{1}.{3}"], r.NameRule),
    (["name", "substring", "a.com", "b.com", "c.com"], None),
    (["type"], None),
    (["type", "a"], None),
    (["type", "any", "a", "a"], None),
    (["type", "any", "a"], r.TypeRule),
    (["type", "XY", "WV"], None),
    (["type", "ANY", "WV"], None),
    (["class"], None),
    (["class", "IN"], None),
    (["class", "ch", "in", "in"], None),
    (["class", "ch", "in"], r.ClassRule),
    (["class", "XY", "WV"], None),
    (["class", "IN", "WV"], None),
    (["edns0"], None),
    (["edns0", "local"], None),
    (["edns0", "local", "set"], None),
    (["edns0", "local", "set", "0xffee"], None),
    (["edns0", "local", "set", "65518", "abcdefg"], r.Edns0Rule),
    (["edns0", "local", "set", "0xffee", "abcdefg"], r.Edns0Rule),
    (["edns0", "local", "append", "0xffee", "abcdefg"], r.Edns0Rule),
    (["edns0", "local", "replace", "0xffee", "abcdefg"], r.Edns0Rule),
    (["edns0", "local", "foo", "0xffee", "abcdefg"], None),
    (["edns0", "local", "set", "0xffee", "0xabcdefg"], None),
    (["edns0", "nsid", "set", "junk"], None),
    (["edns0", "nsid", "set"], r.Edns0Rule),
    (["edns0", "nsid", "append"], r.Edns0Rule),
    (["edns0", "nsid", "replace"], r.Edns0Rule),
    (["edns0", "nsid", "foo"], None),
    (["edns0", "subnet", "set", "-1", "56"], None),
    (["edns0", "subnet", "set", "24", "-56"], None),
    (["edns0", "subnet", "set", "33", "56"], None),
    (["edns0", "subnet", "set", "24", "129"], None),
    (["edns0", "subnet", "set", "24", "56"], r.Edns0Rule),
    (["edns0", "subnet", "append", "24", "56"], r.Edns0Rule),
    (["edns0", "subnet", "replace", "24", "56"], r.Edns0Rule),
    (["unknown-action", "name", "a.com", "b.com"], None),
    (["stop", "name", "a.com", "b.com"], r.NameRule),
    (["continue", "name", "a.com", "b.com"], r.NameRule),
    (["unknown-action", "type", "any", "a"], None),
    (["stop", "type", "any", "a"], r.TypeRule),
    (["continue", "type", "any", "a"], r.TypeRule),
    (["unknown-action", "class", "ch", "in"], None),
    (["stop", "class", "ch", "in"], r.ClassRule),
    (["continue", "class", "ch", "in"], r.ClassRule),
    (["unknown-action", "edns0", "local", "set", "0xffee", "abcedef"], None),
    (["stop", "edns0", "local", "set", "0xffee", "abcdefg"], r.Edns0Rule),
    (["continue", "edns0", "local", "set", "0xffee", "abcdefg"], r.Edns0Rule),
    (["unknown-action", "edns0", "nsid", "set"], None),
    (["stop", "edns0", "nsid", "set"], r.Edns0Rule),
    (["continue", "edns0", "nsid", "set"], r.Edns0Rule),
    (["unknown-action", "edns0", "local", "set", "0xffee", "{qname}"], None),
    (["unknown-action", "edns0", "subnet", "set", "24", "64"], None),
    (["stop", "edns0", "subnet", "set", "24", "56"], r.Edns0Rule),
    (["stop", "edns0", "subnet", "append", "24", "56"], r.Edns0Rule),
    (["stop", "edns0", "subnet", "replace", "24", "56"], r.Edns0Rule),
    (["continue", "edns0", "subnet", "set", "24", "56"], r.Edns0Rule),
    (["continue", "edns0", "subnet", "append", "24", "56"], r.Edns0Rule),
    (["continue", "edns0", "subnet", "replace", "24", "56"], r.Edns0Rule),
    # edns0 unset (CoreDNS 1.11): removes the option.
    (["edns0", "local", "unset", "0xffee"], r.Edns0Rule),
    (["edns0", "nsid", "unset"], r.Edns0Rule),
    (["edns0", "subnet", "unset"], r.Edns0Rule),
    (["edns0", "local", "unset", "0xffee", "abc"], None),
]
# The variable rows of TestNewRule: every action and mode with every variable; {dummy} is refused.
VARIABLES = ["{qname}", "{qtype}", "{client_ip}", "{client_port}", "{protocol}", "{server_ip}", "{server_port}"]
for _action in ("set", "append", "replace"):
    NEW_RULE.append((["edns0", "local", _action, "0xffee", "{dummy}"], None))
    NEW_RULE += [(["edns0", "local", _action, "0xffee", v], r.Edns0Rule) for v in VARIABLES]
for _mode in ("stop", "continue"):
    NEW_RULE += [([_mode, "edns0", "local", "set", "0xffee", v], r.Edns0Rule) for v in VARIABLES]

# TestNewNameRule
NAME_RULES = [
    ("stop", ["exact", "srv3.coredns.rocks", "srv4.coredns.rocks"], False),
    ("stop", ["srv1.coredns.rocks", "srv2.coredns.rocks"], False),
    ("stop", ["suffix", "coredns.rocks", "coredns.rocks."], False),
    ("stop", ["suffix", "coredns.rocks.", "coredns.rocks"], False),
    ("stop", ["suffix", "coredns.rocks.", "coredns.rocks."], False),
    ("stop", ["regex", "srv1.coredns.rocks", "10"], False),
    ("stop", ["regex", "(.*).coredns.rocks", "10"], False),
    ("stop", ["regex", "(.*).coredns.rocks", "{1}.coredns.rocks"], False),
    ("stop", ["regex", "(.*).coredns.rocks", "{1}.{2}.coredns.rocks"], True),
    ("stop", ["regex", "staging.mydomain.com", "aws-loadbalancer-id.us-east-1.elb.amazonaws.com"], False),
]
# TestNewTTLRule
TTL_RULES = [
    ("stop", ["srv1.coredns.rocks", "10"], False),
    ("stop", ["exact", "srv1.coredns.rocks", "15"], False),
    ("stop", ["prefix", "coredns.rocks", "20"], False),
    ("stop", ["suffix", "srv1", "25"], False),
    ("stop", ["substring", "coredns", "30"], False),
    ("stop", ["regex", r"(srv1)\.(coredns)\.(rocks)", "35"], False),
    ("continue", ["srv1.coredns.rocks", "10"], False),
    ("continue", ["exact", "srv1.coredns.rocks", "15"], False),
    ("continue", ["prefix", "coredns.rocks", "20"], False),
    ("continue", ["suffix", "srv1", "25"], False),
    ("continue", ["substring", "coredns", "30"], False),
    ("continue", ["regex", r"(srv1)\.(coredns)\.(rocks)", "35"], False),
    ("stop", ["srv1.coredns.rocks", "12345678901234567890"], True),
    ("stop", ["srv1.coredns.rocks", "coredns.rocks"], True),
    # The table before TTL ranges refused "-1"; with them (ttl.go isValidTTL) it is the range 0-1.
    ("stop", ["srv1.coredns.rocks", "-1"], False),
    # TTL ranges (CoreDNS isValidTTL): MIN-MAX, MIN-, -MAX; "-" and a reversed range are refused.
    ("stop", ["srv1.coredns.rocks", "30-300"], False),
    ("stop", ["srv1.coredns.rocks", "30-"], False),
    ("stop", ["srv1.coredns.rocks", "-300"], False),
    ("stop", ["srv1.coredns.rocks", "-"], True),
    ("stop", ["srv1.coredns.rocks", "300-30"], True),
    ("stop", ["srv1.coredns.rocks", "1-2-3"], True),
]
# TestNewRCodeRule
RCODE_RULES = [
    ("stop", ["numeric.rcode.coredns.rocks", "2", "0"], False),
    ("stop", ["too.few.rcode.coredns.rocks", "2"], True),
    ("stop", ["exact", "too.many.rcode.coredns.rocks", "2", "1", "0"], True),
    ("stop", ["exact", "match.string.rcode.coredns.rocks", "SERVFAIL", "NOERROR"], False),
    ("continue", ["regex", r"(regex)\.rcode\.(coredns)\.(rocks)", "FORMERR", "NOERROR"], False),
    ("stop", ["invalid.rcode.coredns.rocks", "random", "nothing"], True),
]
# TestCNameTargetRewrite's rule set, and what CoreDNS refuses.
CNAME_RULES = [
    (["continue", "cname", "exact", "def.example.com.", "xyz.example.com."], False),
    (["continue", "cname", "prefix", "chat.openai.com", "bard.google.com"], False),
    (["continue", "cname", "suffix", "uvw.", "xyz."], False),
    (["continue", "cname", "substring", "efgh", "zzzz.www"], False),
    (["continue", "cname", "regex", r"(.*)\.web\.(.*)\.site\.", "{1}.webapp.{2}.org."], False),
    (["continue", "cname", "wildcard", "a.", "b."], True),
    (["continue", "cname", "a."], True),
]


@pytest.mark.parametrize("words,kind", NEW_RULE, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_new_rule(words: list[str], kind: type | None) -> None:
    if kind is None:
        with pytest.raises(RuleError):
            new_rule(words)
    else:
        assert type(new_rule(words)) is kind


@pytest.mark.parametrize(
    "field,table", [("name", NAME_RULES), ("ttl", TTL_RULES), ("rcode", RCODE_RULES)],
)
def test_field_rule_tables(field: str, table: list[tuple[str, list[str], bool]]) -> None:
    for mode, args, fails in table:
        for words in ([mode, field, *args], [field, *args] if mode == "stop" else [mode, field, *args]):
            if fails:
                with pytest.raises(RuleError):
                    new_rule(words)
            else:
                rule = new_rule(words)
                assert rule.mode == mode


def test_cname_rules() -> None:
    for words, fails in CNAME_RULES:
        if fails:
            with pytest.raises(RuleError):
                new_rule(words)
        else:
            assert type(new_rule(words)) is r.CnameRule


def test_modes_default_to_stop() -> None:
    assert new_rule(["name", "a.com", "b.com"]).mode == "stop"
    assert new_rule(["continue", "name", "a.com", "b.com"]).mode == "continue"
    with pytest.raises(RuleError, match="must begin with a rule type"):
        new_rule(["continue"])


def test_edns0_local_data_must_fit_an_option() -> None:
    # An option's length is 16 bits: longer data could never be packed into a query.
    assert new_rule(["edns0", "local", "set", "0xffee", "0x" + "ab" * 0xFFFF]).data == b"\xab" * 0xFFFF
    with pytest.raises(RuleError, match="EDNS0 local data of 65536 bytes: at most 65535"):
        new_rule(["edns0", "local", "set", "0xffee", "a" * 0x10000])


def test_auto_and_explicit_answer_name_do_not_mix() -> None:
    with pytest.raises(RuleError, match="cannot be combined"):
        new_rule(["name", "regex", "(.*)", "{1}", "answer", "auto", "answer", "name", "(.*)", "{1}"])
    # value rules may follow auto, and `answer` may be left out after the first one (README).
    rule = new_rule(["name", "regex", "(a)\\.b", "{1}.c", "answer", "auto", "value", "(.*)", "{1}"])
    assert isinstance(rule, r.NameRule) and rule.auto


def test_corefile_errors_name_file_line_and_word() -> None:
    with pytest.raises(ConfigError) as info:
        parse(directive("rewrite name regex ([a]\\.com new-{1}.com"))
    e = info.value
    assert (e.file, e.line, e.directive) == ("Corefile", 2, "rewrite")
    assert "([a]\\.com" in str(e)
    with pytest.raises(ConfigError) as info:
        parse(directive("rewrite stop {\n  name regex (.*)\\.a {1}.b\n  answer nme (.*) {1}\n}"))
    assert info.value.line == 4 and "'nme'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse(directive("rewrite sideways a.com b.com"))
    assert "invalid rule type 'sideways'" in str(info.value) and info.value.line == 2
    with pytest.raises(ConfigError) as info:
        parse(directive("rewrite"))
    assert "no rule type" in str(info.value)


def test_block_forms() -> None:
    # CoreDNS joins the block's words into one rule: a name rule and its answer rule.
    config = parse(directive(
        "rewrite stop {\n  name regex (.*)-(us-west-1)\\.coredns\\.rocks {1}.service.{2}.consul\n"
        "  answer name (.*)\\.service\\.(us-west-1)\\.consul {1}-{2}.coredns.rocks\n}"
    ))
    assert len(config.rules) == 1 and isinstance(config.rules[0], r.NameRule) and config.rules[0].answers
    config = parse(directive("rewrite continue {\n  ttl regex (.*)\\.coredns\\.rocks 15\n}"))
    assert [type(x) for x in config.rules] == [r.AnswerRule] and config.rules[0].mode == "continue"
    # kdns extension: several rules in one block, each line a rule (answer lines join the one above).
    config = parse(directive(
        "rewrite continue {\n  name suffix .example.com .svc.cluster.local answer auto\n"
        "  type ANY A\n  name regex (.*)\\.x {1}.y\n  answer name (.*)\\.y {1}.x\n}"
    ))
    assert [type(x) for x in config.rules] == [r.NameRule, r.TypeRule, r.NameRule]
    assert all(x.mode == "continue" for x in config.rules)
    with pytest.raises(ConfigError) as info:
        parse(directive("rewrite {\n  name a.com b.com\n  type ANY WV\n}"))
    assert info.value.line == 4 and "WV" in str(info.value)


# A pattern CoreDNS's Go regexp refuses is a rule CoreDNS refuses (kdns.re2 is tested in tests/test_re2.py).
@pytest.mark.parametrize("pattern", [r"(?<=a)b", r"(a)\1", r"a*+", r"\pL", r"a{1001}", "\\"])
def test_refused_regex_is_an_invalid_rule(pattern: str) -> None:
    with pytest.raises(RuleError, match="invalid regex"):
        new_rule(["name", "regex", pattern, "x.y"])


# TestParse (setup_test.go), as Corefile text.
@pytest.mark.parametrize("text,ok", [
    ("rewrite", False),
    ("rewrite name", False),
    ("rewrite name a.com b.com", True),
    ("rewrite stop {\n    name regex foo bar\n    answer name bar foo\n}", True),
    ("rewrite stop name regex foo bar answer name bar foo", True),
    ("rewrite stop {\n    answer name bar foo\n    name regex foo bar\n}", False),
])
def test_setup_table(text: str, ok: bool) -> None:
    if ok:
        assert parse(directive(text)).rules
    else:
        with pytest.raises(ConfigError):
            parse(directive(text))


def test_setup_answer_rule_first_names_the_rule() -> None:
    with pytest.raises(ConfigError, match="must begin with a name rule"):
        parse(directive("rewrite stop {\n    answer name bar foo\n    name regex foo bar\n}"))


def test_setup_trailing_name_line_is_another_answer_rule() -> None:
    # setup_test.go's parser of 2019 refused a `name` line after the answer rule ("unexpected
    # trailing arguments"); the current one (parseAnswerRules: `answer` may be left out after the
    # first) reads it as a second answer name rule, and so does kdns.
    config = parse(directive("rewrite stop {\n    name regex foo bar\n    answer name bar foo\n    name baz qux\n}"))
    (rule,) = config.rules
    assert isinstance(rule, r.NameRule) and len(rule.answers) == 2


def test_nested_repeats_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    # RE2 matches in linear time; Python's re backtracks. The textbook exponential shapes load (CoreDNS
    # takes them) with one warning naming the line; ordinary patterns load silently.
    caplog.set_level("WARNING")
    parse(directive(r"rewrite name regex ^(a+)+\.example\.$ b.example answer auto"))
    assert [r.getMessage() for r in caplog.records if "repeats a repeat" in r.getMessage()] != []
    assert "Corefile:2" in caplog.text
    caplog.clear()
    for text in (r"rewrite name regex (.*)-(us-west-1)\.example\.org {1}.service.{2}.consul",
                 r"rewrite ttl regex ([a-z]+\.)*example\. 30"):
        parse(directive(text))
    assert "repeats a repeat" not in caplog.text
