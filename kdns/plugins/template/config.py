"""`template CLASS TYPE [ZONE...] { match REGEX...; answer RR; additional RR; authority RR;
rcode CODE; ederror CODE [REASON]; fallthrough [ZONE...]; upstream }` (CoreDNS plugin/template/setup.go).

Each `template` line is one template; a server block's templates are tried in Corefile order (each
is a link of the chain, falling to the next one). Regexes are RE2 in CoreDNS: kdns.re2 runs them the
same way or refuses them; RR texts are Go templates: gotemplate.py runs the documented subset or
refuses them. Both are checked here, so a Corefile kdns cannot run exactly fails to load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dnslib import QTYPE, RCODE

from kdns.corefile.tree import Directive
from kdns.message import CLASSES
from kdns.plugins.template import gotemplate
from kdns.re2 import BACKTRACKS_WARNING, Re2Error, backtracks, compile_re2

ANY = 255
# miekg/dns StringToRcode, restricted to the codes a DNS header can carry without EDNS (kdns writes
# no extended RCODE from a plugin).
RCODES = {name: int(value) for name, value in RCODE.reverse.items()}
EXTENDED_RCODES = ("BADSIG", "BADVERS", "BADKEY", "BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE")
SECTIONS = ("answer", "additional", "authority")


@dataclass(frozen=True)
class RRTemplate:
    section: str
    template: gotemplate.Template
    # Where it was written, for the one log line a failing template gets.
    file: str
    line: int


@dataclass(frozen=True)
class Config:
    qclass: int
    qtype: int
    # Empty: the zones of the server block (given to the handler by attach()).
    zones: tuple[str, ...] = ()
    # Tried in order; the first that matches the (lowercased) name wins. The default is `.*`.
    regexes: tuple[re.Pattern[str], ...] = ()
    # As written in the Corefile: the `.Regex` of the data.
    patterns: tuple[str, ...] = ()
    records: tuple[RRTemplate, ...] = ()
    rcode: int = 0
    # RFC 8914 extended error: (INFO-CODE, EXTRA-TEXT).
    ederror: tuple[int, str] | None = None
    # None: no fallthrough; (".",) for every zone.
    fallthrough: tuple[str, ...] | None = None

    @property
    def per_request(self) -> bool:
        """An answer may depend on more than the question (the client, the whole message, metadata)."""
        return any(r.template.fields & gotemplate.PER_REQUEST for r in self.records)


def parse(d: Directive) -> Config:
    if len(d.args) < 2:
        raise d.error("wrong argument count: 'template' takes CLASS TYPE [ZONE...]")
    class_text, type_text = d.args[0].text, d.args[1].text
    qclass = CLASSES.get(class_text)
    if qclass is None:
        raise d.error(f"invalid query class {class_text}", d.args[0])
    qtype = QTYPE.reverse.get(type_text) if type_text == type_text.upper() else None
    if qtype is None:
        raise d.error(f"invalid RR type {type_text}", d.args[1])
    zones = _split_zones(d, 2)
    regexes: list[re.Pattern[str]] = []
    patterns: list[str] = []
    records: list[RRTemplate] = []
    rcode = 0
    ederror: tuple[int, str] | None = None
    fallthrough: tuple[str, ...] | None = None
    for opt in d.options():
        name = opt.name.text
        if name == "match":
            opt.no_block()
            opt.expect_args(1)
            for token in opt.args:
                try:
                    regex = compile_re2(token.text)
                except Re2Error as e:
                    raise opt.error(f"could not parse regex: {token.text}, {e}", token) from None
                if backtracks(regex):
                    opt.warn(BACKTRACKS_WARNING.format(token.text), token)
                regexes.append(regex)
                patterns.append(token.text)
        elif name in SECTIONS:
            opt.no_block()
            opt.expect_args(1)
            for token in opt.args:
                try:
                    template = gotemplate.parse(token.text)
                except gotemplate.TemplateError as e:
                    raise opt.error(f"could not compile template: {e}", token) from None
                unknown = sorted(template.fields - gotemplate.DATA_FIELDS - {"Meta"})
                if unknown:
                    # CoreDNS loads it and fails every query it matches: kdns does the same, and says so now.
                    opt.warn(
                        f"template uses .{unknown[0]}, which the data does not have: queries it matches will fail",
                        token,
                    )
                records.append(RRTemplate(name, template, token.file, token.line))
        elif name == "rcode":
            opt.no_block()
            (text,) = opt.expect_args(1, 1)
            if text in EXTENDED_RCODES:
                raise opt.error(
                    f"rcode {text} is an extended RCODE, which kdns's template cannot answer", opt.args[0]
                )
            if text not in RCODES:
                raise opt.error(f"unknown rcode {text}", opt.args[0])
            rcode = RCODES[text]
        elif name == "ederror":
            opt.no_block()
            opt.expect_args(1, 2)
            code = opt.integer(0, 0, 65535)
            ederror = (code, opt.args[1].text if len(opt.args) == 2 else "")
        elif name == "fallthrough":
            opt.no_block()
            fallthrough = _split_zones(opt, 0) or (".",)
        elif name == "upstream":
            # Deprecated in CoreDNS and ignored (it eats its arguments): a CNAME answer to an A or
            # AAAA question is always followed through the server's own chain.
            opt.no_block()
        else:
            raise opt.unknown_option()
    if not regexes:
        regexes.append(re.compile(".*"))
        patterns.append(".*")
    return Config(
        qclass=qclass, qtype=qtype, zones=zones, regexes=tuple(regexes), patterns=tuple(patterns),
        records=tuple(records), rcode=rcode, ederror=ederror, fallthrough=fallthrough,
    )


def _split_zones(d: Directive, start: int) -> tuple[str, ...]:
    """The zone arguments from start on; one quoted argument may hold several, space separated
    (CoreDNS's plugin.OriginsFromArgsOrServerBlock splits them)."""
    tokens = [
        type(token)(part, token.file, token.line, token.quoted)
        for token in d.args[start:]
        for part in token.text.split()
    ]
    return Directive(d.name, tokens, plugin=d.plugin).zones()
