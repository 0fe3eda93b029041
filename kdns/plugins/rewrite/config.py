"""`rewrite [continue|stop] FIELD [TYPE] [(FROM TO)|TTL] [OPTIONS]` and `rewrite [continue|stop] { ... }`.

Read as CoreDNS reads it (plugin/rewrite setup.go, rewrite.go newRule): a line with fewer than two
arguments takes the words of its block as the rest of the rule, all lines joined, so
`rewrite stop { name regex A B \\n answer name C D }` is one rule. kdns extension: when the joined
words are not one valid rule and the block has several lines, each line is a rule of its own (a
line starting with `answer` belongs to the rule above it), all with the block's mode. Every mistake is a ConfigError naming file, line and the word at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dnslib import QTYPE, RCODE

from kdns.corefile.tree import Directive, Token
from kdns.errors import ConfigError
from kdns.message import CLASSES
from kdns.plugins.rewrite import rules as r
from kdns.plugins.rewrite.names import normalize
from kdns.re2 import BACKTRACKS_WARNING, Re2Error, backtracks, compile_re2

# miekg/dns StringToRcode; kdns writes a 4-bit RCODE, so only 0-15 can be a rewrite's result.
RCODES = {name: int(code) for code, name in RCODE.forward.items()} | {
    "BADSIG": 16, "BADVERS": 16, "BADKEY": 17, "BADTIME": 18, "BADMODE": 19, "BADNAME": 20,
    "BADALG": 21, "BADTRUNC": 22, "BADCOOKIE": 23,
}
MAX_TTL = 2147483647


@dataclass(frozen=True)
class Config:
    rules: tuple[r.Rule, ...]


class RuleError(ValueError):
    """A rule CoreDNS would refuse; index: which of its words is at fault (None: the rule as a whole)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


def parse(d: Directive) -> Config:
    """One `rewrite` line (or block): its rules, in order."""
    config = _parse(d)
    for rule in config.rules:
        for pattern in _patterns(rule):
            if backtracks(pattern):
                d.warn(BACKTRACKS_WARNING.format(pattern.pattern))
    return config


def _patterns(rule: r.Rule) -> list[re.Pattern[str]]:
    found = []
    if isinstance(rule, (r.NameRule, r.CnameRule)):
        found.append(rule.replace.pattern)
    if isinstance(rule, r.AnswerRule):
        found.append(rule.matches.pattern)
    if isinstance(rule, r.NameRule):
        for answer in rule.answers:
            if isinstance(answer, (r.NameResponseRule, r.ValueResponseRule)) and isinstance(answer.rewrite, r.RegexRewriter):
                found.append(answer.rewrite.pattern)
    return [p for p in found if p is not None]


def _parse(d: Directive) -> Config:
    tokens = list(d.args)
    if len(tokens) >= 2:
        if d.block is not None:
            raise d.error("a rewrite rule on one line takes no block")
        return Config((_rule(d, tokens),))
    lines = [[opt.name, *opt.args] for opt in d.options()]
    joined = tokens + [t for line in lines for t in line]
    try:
        return Config((new_rule([t.text for t in joined]),))
    except RuleError as first:
        if len(lines) < 2:
            raise _error(d, joined, first) from None
    rules = []
    for group in _rule_lines(lines):
        rules.append(_rule(d, tokens + group))
    return Config(tuple(rules))


def _rule_lines(lines: list[list[Token]]) -> list[list[Token]]:
    groups: list[list[Token]] = []
    for line in lines:
        if line[0].text.lower() == "answer" and groups:
            groups[-1].extend(line)
        else:
            groups.append(list(line))
    return groups


def _rule(d: Directive, tokens: list[Token]) -> r.Rule:
    try:
        return new_rule([t.text for t in tokens])
    except RuleError as e:
        raise _error(d, tokens, e) from None


def _error(d: Directive, tokens: list[Token], e: RuleError) -> ConfigError:
    token = tokens[e.index] if e.index is not None and e.index < len(tokens) else (tokens[0] if tokens else None)
    return d.error(str(e), token)


def new_rule(args: list[str]) -> r.Rule:
    """A rule from its words (CoreDNS's newRule): `[continue|stop] FIELD ...`."""
    if not args:
        raise RuleError("no rule type specified for rewrite")
    first = args[0].lower()
    mode = r.STOP
    start = 1
    if first in (r.CONTINUE, r.STOP):
        if len(args) < 2:
            raise RuleError(f"{first} rule must begin with a rule type", 0)
        mode = first
        start = 2
    field = args[start - 1].lower()
    rest = args[start:]

    def shifted(e: RuleError) -> RuleError:
        return RuleError(str(e), None if e.index is None else e.index + start)

    try:
        if field == "answer":
            raise RuleError("response rewrites must begin with a name rule", -1)
        if field == "name":
            return name_rule(mode, rest)
        if field in ("class", "type"):
            if len(rest) != 2:
                raise RuleError(f"{field} rules must have exactly two arguments", -1)
            return class_rule(mode, rest) if field == "class" else type_rule(mode, rest)
        if field == "edns0":
            return edns0_rule(mode, rest)
        if field == "ttl":
            return ttl_rule(mode, rest)
        if field == "cname":
            return cname_rule(mode, rest)
        if field == "rcode":
            return rcode_rule(mode, rest)
    except RuleError as e:
        raise shifted(e) from None
    raise RuleError(f"invalid rule type {args[start - 1]!r}", start - 1)


def regex(pattern: str, index: int, what: str = "regex matching pattern") -> re.Pattern[str]:
    try:
        return compile_re2(pattern)
    except Re2Error as e:
        raise RuleError(f"invalid {what}: {pattern}: {e}", index) from None


def _sub_expression_usage(template: str) -> int:
    """How many distinct {0}..{100} template uses (CoreDNS's getSubExprUsage)."""
    return sum(1 for i in range(101) if "{" + str(i) + "}" in template)


def valid_regex(pattern: str, template: str, index: int) -> re.Pattern[str]:
    """CoreDNS's isValidRegexPattern: pattern compiles, and template uses no more groups than it has."""
    compiled = regex(pattern, index)
    if _sub_expression_usage(template) > compiled.groups:
        raise RuleError(
            f"the rewrite regex pattern ({template}) uses more subexpressions than its corresponding "
            f"matching regex pattern ({pattern})", index + 1,
        )
    return compiled


def name_rule(mode: str, args: list[str]) -> r.NameRule:
    if len(args) < 2:
        raise RuleError("too few arguments for a name rule", -1)
    if len(args) == 2:
        match, source, target = r.EXACT, normalize(args[0]), normalize(args[1])
        at = 0
    else:
        match, source, target = args[0].lower(), _operand(args[0], args[1]), _operand(args[0], args[2])
        at = 1
    if match not in r.MATCH_TYPES:
        raise RuleError(
            f"name rule supports only exact, prefix, suffix, substring, and regex name matching, received: {args[0]}", 0,
        )
    if match == r.REGEX:
        source, target = args[1], args[2]
    auto = False
    answers: tuple[r.ResponseRule, ...] = ()
    if len(args) > 3:
        auto, answers = answer_rules(match, args[3:], 3)
    if match == r.EXACT:
        # As CoreDNS: the replacement is compiled as a pattern too (isValidRegexPattern(to, from)).
        valid_regex(target, source, at + 1)
        return r.NameRule(mode, r.Replacer(match, source, target), auto=True, answers=answers)
    if match == r.REGEX:
        pattern = valid_regex(source, target, 1)
        return r.NameRule(mode, r.Replacer(match, "", normalize(target), pattern), auto=auto, answers=answers)
    if match == r.SUFFIX and auto:
        # CoreDNS: for a suffix the answer is mapped back by swapping the suffixes.
        back = r.SuffixRewriter(target, source)
        answers = (r.NameResponseRule(back), r.ValueResponseRule(back), *answers)
        auto = False
    return r.NameRule(mode, r.Replacer(match, source, target), auto=auto, answers=answers)


def answer_rules(match: str, args: list[str], offset: int) -> tuple[bool, tuple[r.ResponseRule, ...]]:
    """CoreDNS's parseAnswerRules: `answer (auto | (name|value FROM TO)) {[answer] (auto | ...)}`."""
    if len(args) < 2:
        raise RuleError(f"invalid arguments for {match} rule", offset)
    auto = False
    rules: list[r.ResponseRule] = []
    name_rules = 0
    last = ""
    i = 0
    while i < len(args):
        if last == "" and args[i] != "answer":
            raise RuleError(f"exceeded the number of arguments for a non-answer rule argument for {match} rule", offset + i)
        if args[i] == "answer":
            i += 1
        if i >= len(args):
            raise RuleError(f"type missing for answer rule for {match} rule", offset + i - 1)
        last = args[i]
        i += 1
        if last == "auto":
            auto = True
            continue
        if last not in ("name", "value"):
            raise RuleError(f"invalid type {last!r} for answer rule for {match} rule", offset + i - 1)
        if len(args) - i < 2:
            raise RuleError(f"{last} answer rule for {match} rule: 2 arguments required", offset + i - 1)
        pattern = valid_regex(args[i], args[i + 1], offset + i)
        rewriter = r.RegexRewriter(pattern, normalize(args[i + 1]))
        if last == "name":
            rules.append(r.NameResponseRule(rewriter))
            name_rules += 1
        else:
            rules.append(r.ValueResponseRule(rewriter))
        i += 2
    if auto and name_rules:
        raise RuleError("auto name answer rule cannot be combined with explicit name answer rules", offset)
    return auto, tuple(rules)


def type_rule(mode: str, args: list[str]) -> r.TypeRule:
    values = []
    for i, text in enumerate(args):
        value = QTYPE.reverse.get(text.upper())
        if value is None or text.upper() == "OPT":
            raise RuleError(f"invalid type {text.upper()!r}", i)
        values.append(int(value))
    return r.TypeRule(mode, values[0], values[1])


def class_rule(mode: str, args: list[str]) -> r.ClassRule:
    values = []
    for i, text in enumerate(args):
        value = CLASSES.get(text.upper())
        if value is None:
            raise RuleError(f"invalid class {text.upper()!r}", i)
        values.append(value)
    return r.ClassRule(mode, values[0], values[1])


def _name_match(args: list[str], what: str) -> r.Replacer:
    """The FROM part of a ttl or rcode rule: `[TYPE] NAME`."""
    if len(args) == 1:
        return r.Replacer(r.EXACT, normalize(args[0]), "")
    match = args[0].lower()
    if match == r.REGEX:
        return r.Replacer(match, "", "", regex(args[1], 1, f"regex pattern in a {what} rule"))
    if match not in r.MATCH_TYPES:
        raise RuleError(f"{what} rule supports only exact, prefix, suffix, substring, and regex name matching", 0)
    return r.Replacer(match, _operand(match, args[1]), "")


def _operand(match: str, text: str) -> str:
    """FROM or TO of a non-regex match, as CoreDNS reads it: whole names (exact, suffix) lowercased
    and fully qualified; prefix and substring lowercased only, so they may match within a label
    (`prefix api- svc-` rewrites api-prod.example; CoreDNS partial_test.go)."""
    return text.lower() if match.lower() in (r.PREFIX, r.SUBSTRING) else normalize(text)


def ttl_rule(mode: str, args: list[str]) -> r.AnswerRule:
    if len(args) < 2:
        raise RuleError(f"too few ({len(args)}) arguments for a ttl rule", -1)
    if len(args) > 3:
        raise RuleError("too many arguments for a ttl rule", 3)
    text = args[-1]
    span = ttl_span(text)
    if span is None:
        raise RuleError(f"invalid TTL '{text}' for a ttl rule", len(args) - 1)
    return r.AnswerRule(mode, _name_match(args[:-1], "ttl"), r.TtlResponseRule(*span))


def ttl_span(text: str) -> tuple[int, int] | None:
    """CoreDNS's isValidTTL: `N`, `MIN-MAX`, `MIN-` or `-MAX` (32-bit unsigned)."""

    def number(s: str) -> int | None:
        return int(s) if re.fullmatch(r"[0-9]{1,10}", s) and int(s) <= 0xFFFFFFFF else None

    parts = text.split("-")
    if len(parts) == 1:
        value = number(parts[0])
        return None if value is None else (value, value)
    if len(parts) != 2 or parts == ["", ""]:
        return None
    low = 0 if parts[0] == "" else number(parts[0])
    high = MAX_TTL if parts[1] == "" else number(parts[1])
    if low is None or high is None or low > high:
        return None
    return low, high


def rcode_rule(mode: str, args: list[str]) -> r.AnswerRule:
    if len(args) < 3:
        raise RuleError(f"too few ({len(args)}) arguments for a rcode rule", -1)
    if len(args) > 4:
        raise RuleError("too many arguments for a rcode rule", 4)
    old, new = rcode_value(args[-2]), rcode_value(args[-1])
    if old is None:
        raise RuleError(f"invalid matching RCODE '{args[-2]}' for a rcode rule", len(args) - 2)
    if new is None:
        raise RuleError(f"invalid replacement RCODE '{args[-1]}' for a rcode rule", len(args) - 1)
    if new > 15:
        raise RuleError(f"replacement RCODE '{args[-1]}' is an extended RCODE, which kdns does not write", len(args) - 1)
    return r.AnswerRule(mode, _name_match(args[:-2], "rcode"), r.RcodeResponseRule(old, new))


def rcode_value(text: str) -> int | None:
    if re.fullmatch(r"[0-9]{1,10}", text):
        value = int(text)
        return value if value <= 23 else None
    return RCODES.get(text.upper())


def cname_rule(mode: str, args: list[str]) -> r.CnameRule:
    if len(args) == 2:
        match, source, target = r.EXACT, args[0].lower(), args[1].lower()
    elif len(args) == 3:
        match, source, target = args[0].lower(), args[1].lower(), args[2].lower()
        if match not in r.MATCH_TYPES:
            raise RuleError(f"unknown cname rewrite type: {match}", 0)
    else:
        raise RuleError(f"too few ({len(args)}) arguments for a cname rule", -1)
    pattern = regex(source, 1) if match == r.REGEX else None
    return r.CnameRule(mode, r.Replacer(match, source, target, pattern))


def _uint(text: str, bits: int) -> int | None:
    """Go's strconv.ParseUint(text, 0, bits): 0x / 0o / 0b prefixes, and a leading 0 for octal."""
    m = re.fullmatch(r"0[xX]([0-9a-fA-F]+)|0[oO]?([0-7]+)|0[bB]([01]+)|([0-9]+)", text)
    if m is None:
        return None
    hexa, octal, binary, decimal = m.groups()
    value = int(hexa, 16) if hexa else int(octal, 8) if octal else int(binary, 2) if binary else int(decimal)
    return value if value < 1 << bits else None


def edns0_rule(mode: str, args: list[str]) -> r.Edns0Rule:
    if len(args) < 2:
        raise RuleError("too few arguments for an EDNS0 rule", -1)
    kind, action = args[0].lower(), args[1].lower()
    if action not in (r.SET, r.APPEND, r.REPLACE, r.UNSET):
        raise RuleError(f"invalid action: {action!r}", 1)
    if kind == "local":
        if len(args) != (3 if action == r.UNSET else 4):
            raise RuleError("EDNS0 local rules require exactly three args" if action != r.UNSET
                            else "EDNS0 local unset rules require exactly one arg", -1)
        code = _uint(args[2], 16)
        if code is None:
            raise RuleError(f"invalid EDNS0 local option code {args[2]!r}", 2)
        if action == r.UNSET:
            return r.Edns0Rule(mode, kind, action, code=code)
        data = args[3]
        if data.startswith("{") and data.endswith("}"):
            if data not in r.VARIABLES and not re.fullmatch(r"\{[^/{}]+/[^/{}]+\}", data):
                raise RuleError(f"unsupported variable name {data!r}", 3)
            return r.Edns0Rule(mode, kind, action, code=code, variable=data)
        if data.startswith("0x"):
            if not re.fullmatch(r"([0-9A-Fa-f]{2})*", data[2:]):
                raise RuleError(f"invalid hex data {data!r}", 3)
            value = bytes.fromhex(data[2:])
        else:
            value = data.encode()
        if len(value) > 0xFFFF:  # an option's length is 16 bits (RFC 6891 section 6.1.2)
            raise RuleError(f"EDNS0 local data of {len(value)} bytes: at most 65535", 3)
        return r.Edns0Rule(mode, kind, action, code=code, data=value)
    if kind == "nsid":
        if len(args) != 2:
            raise RuleError("EDNS0 NSID rules do not accept args", 2)
        return r.Edns0Rule(mode, kind, action)
    if kind == "subnet":
        if action == r.UNSET:
            if len(args) != 2:
                raise RuleError("EDNS0 subnet unset rules do not accept args", 2)
            return r.Edns0Rule(mode, kind, action)
        if len(args) != 4:
            raise RuleError("EDNS0 subnet rules require exactly three args", -1)
        v4, v6 = _uint(args[2], 16), _uint(args[3], 16)
        if v4 is None or v4 > 32:
            raise RuleError(f"invalid IPv4 bit mask length {args[2]}", 2)
        if v6 is None or v6 > 128:
            raise RuleError(f"invalid IPv6 bit mask length {args[3]}", 3)
        return r.Edns0Rule(mode, kind, action, v4_bits=v4, v6_bits=v6)
    raise RuleError(f"invalid rule type {kind!r}", 0)

