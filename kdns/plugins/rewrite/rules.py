"""The rewrite rules and the response rules they leave behind (CoreDNS plugin/rewrite).

A rule looks at the question as it stands (a Rewriting) and either leaves it (returns None) or
changes it and returns the response rules that must be applied to the answer; the handler then
restores the asker's question and applies them. Rules are frozen: they are shared by every query.

Names are matched as CoreDNS matches them: the question's name in presentation form, lowercased,
with its trailing dot (config.py reads FROM and TO the same way).
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from dnslib import CNAME, MX, NS, RR, SOA, SRV, DNSLabel

from kdns.message import owner_labels
from kdns.plugins.rewrite.names import to_labels
from kdns.request import name_text
from kdns.server.wire import split_options

if TYPE_CHECKING:
    from kdns.request import Request

STOP, CONTINUE = "stop", "continue"
EXACT, PREFIX, SUFFIX, SUBSTRING, REGEX = "exact", "prefix", "suffix", "substring", "regex"
MATCH_TYPES = (EXACT, PREFIX, SUFFIX, SUBSTRING, REGEX)


class Rewriting:
    """One query's question while the rules run over it, and what they leave for the answer."""

    __slots__ = ("req", "name", "qtype", "qclass", "options", "edns_touched", "response_rules", "asker_depends")

    def __init__(self, req: Request) -> None:
        self.req = req
        self.name = req.qname_lower
        self.qtype = req.qtype
        self.qclass = req.qclass
        # EDNS options as (code, data), parsed on first use by an edns0 rule.
        self.options: list[tuple[int, bytes]] | None = None
        self.edns_touched = False
        self.response_rules: list[ResponseRule] = []
        # Set when the answer depends on more than the question (the client's address, its EDNS
        # options, a lookup through the chain): it must then never be kept for other askers.
        self.asker_depends = False

    def changed_question(self) -> bool:
        req = self.req
        return self.name != req.qname_lower or self.qtype != req.qtype or self.qclass != req.qclass

    def spelling(self, name: str) -> str:
        """name, in the asker's own spelling when it is the asker's name (CoreDNS's state.QName())."""
        return self.req.qname if name == self.req.qname_lower else name

    def edns_options(self) -> list[tuple[int, bytes]]:
        if self.options is None:
            edns = self.req.edns
            self.options = split_options(edns.options) if edns is not None else []
        return self.options


class RecordRule(Protocol):
    """A response rule applied to each record of the answer, authority and additional sections."""

    def apply(self, rr: RR) -> RR: ...


# ----- string rewriters: how a response name or value is mapped back ------------------------------


def substitute(template: str, match: re.Match[str]) -> str:
    """CoreDNS's {N} substitution: each group in turn, every occurrence (an unmatched group is "")."""
    s = template
    for index in range(len(match.groups()) + 1):
        s = s.replace("{" + str(index) + "}", match.group(index) or "")
    return s


@dataclass(frozen=True)
class RegexRewriter:
    pattern: re.Pattern[str]
    replacement: str

    def __call__(self, src: str) -> str:
        m = self.pattern.search(src)
        return src if m is None else substitute(self.replacement, m)


@dataclass(frozen=True)
class RemapRewriter:
    """The name the question was rewritten to (and names below it) back to the asked one."""

    orig: str
    replacement: str

    def __call__(self, src: str) -> str:
        if src == self.orig:
            return self.replacement
        if src.endswith("." + self.orig):
            return src[: len(src) - len(self.orig)] + self.replacement
        return src


@dataclass(frozen=True)
class SuffixRewriter:
    suffix: str
    replacement: str

    def __call__(self, src: str) -> str:
        if src.endswith(self.suffix):
            return src[: len(src) - len(self.suffix)] + self.replacement
        return src


Rewriter = Callable[[str], str]


@dataclass(frozen=True)
class NameResponseRule:
    """Rewrites the owner name of every record (answer, authority, additional)."""

    rewrite: Rewriter

    def apply(self, rr: RR) -> RR:
        name = name_text(owner_labels(rr))
        new = self.rewrite(name)
        return rr if new == name else _with(rr, owner=new)


@dataclass(frozen=True)
class ValueResponseRule:
    """Rewrites the name in the rdata of CNAME, NS, MX, SRV and SOA (MNAME) records."""

    rewrite: Rewriter

    def apply(self, rr: RR) -> RR:
        target = _target(rr)
        if target is None:
            return rr
        name = name_text(target.label)
        new = self.rewrite(name)
        return rr if new == name else _with(rr, target=new)


@dataclass(frozen=True)
class TtlResponseRule:
    minimum: int
    maximum: int

    def apply(self, rr: RR) -> RR:
        if rr.ttl < self.minimum:
            return _with(rr, ttl=self.minimum)
        if rr.ttl > self.maximum:
            return _with(rr, ttl=self.maximum)
        return rr


@dataclass(frozen=True)
class RcodeResponseRule:
    """Applied to the message, not a record (the handler calls rcode())."""

    old: int
    new: int

    def rcode(self, rcode: int) -> int:
        return self.new if rcode == self.old else rcode


def _target(rr: RR) -> DNSLabel | None:
    rdata = rr.rdata
    if type(rdata) in (CNAME, NS):  # dnslib's PTR is a CNAME subclass; CoreDNS leaves PTR alone
        return rdata.label
    if isinstance(rdata, MX):
        return rdata.label
    if isinstance(rdata, SRV):
        return rdata.target
    if isinstance(rdata, SOA):
        return rdata.mname
    return None


def _with(rr: RR, owner: str | None = None, target: str | None = None, ttl: int | None = None) -> RR:
    """A copy of rr with a new owner, rdata name or TTL (records in an answer are never changed in place)."""
    rdata = rr.rdata
    if target is not None:
        label = DNSLabel(to_labels(target))
        if isinstance(rdata, SRV):
            rdata = SRV(rdata.priority, rdata.weight, rdata.port, label)
        elif isinstance(rdata, MX):
            rdata = MX(label, rdata.preference)
        elif isinstance(rdata, SOA):
            rdata = SOA(label, rdata.rname, rdata.times)
        else:
            rdata = type(rdata)(label)
    rname = DNSLabel(to_labels(owner)) if owner is not None else DNSLabel(owner_labels(rr))
    return RR(rname, rr.rtype, rr.rclass, rr.ttl if ttl is None else ttl, rdata)


# ----- the rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replacer:
    """What a name becomes under a match type (name rules, CNAME targets; ttl and rcode rules use
    only whether it matches): None when the name does not match."""

    match: str  # one of MATCH_TYPES
    source: str  # normalized FROM (exact, prefix, suffix, substring)
    replacement: str
    pattern: re.Pattern[str] | None = None  # regex

    def __call__(self, name: str) -> str | None:
        if self.match == EXACT:
            return self.replacement if name == self.source else None
        if self.match == PREFIX:
            return self.replacement + name[len(self.source) :] if name.startswith(self.source) else None
        if self.match == SUFFIX:
            return name[: len(name) - len(self.source)] + self.replacement if name.endswith(self.source) else None
        if self.match == SUBSTRING:
            return name.replace(self.source, self.replacement) if self.source in name else None
        assert self.pattern is not None
        m = self.pattern.search(name)
        return None if m is None else substitute(self.replacement, m)


@dataclass(frozen=True)
class NameRule:
    mode: str
    replace: Replacer
    auto: bool = False
    answers: tuple[ResponseRule, ...] = ()

    def rewrite(self, st: Rewriting) -> tuple[ResponseRule, ...] | None:
        name = st.name
        new = self.replace(name)
        if new is None:
            return None
        st.name = new
        if not self.auto:
            return self.answers
        # CoreDNS's auto answer: the new name, and names below it, mapped back to the old one.
        remap = RemapRewriter(new, name)
        return (NameResponseRule(remap), ValueResponseRule(remap), *self.answers)


@dataclass(frozen=True)
class AnswerRule:
    """`ttl` and `rcode` rules: the query is left as it is; a matching name leaves a response rule."""

    mode: str
    matches: Replacer  # only whether it matches counts (its replacement is "")
    response: TtlResponseRule | RcodeResponseRule

    def rewrite(self, st: Rewriting) -> tuple[ResponseRule, ...] | None:
        return None if self.matches(st.name) is None else (self.response,)


@dataclass(frozen=True)
class TypeRule:
    mode: str
    source: int
    target: int

    def rewrite(self, st: Rewriting) -> tuple[ResponseRule, ...] | None:
        if st.qtype != self.source:
            return None
        st.qtype = self.target
        return ()


@dataclass(frozen=True)
class ClassRule:
    mode: str
    source: int
    target: int

    def rewrite(self, st: Rewriting) -> tuple[ResponseRule, ...] | None:
        if st.qclass != self.source:
            return None
        st.qclass = self.target
        return ()


@dataclass(frozen=True)
class CnameRule:
    """`cname [TYPE] FROM TO`: a CNAME target in the answer is replaced, and the records after it
    are the new target's, looked up through the server's own chain (CoreDNS's upstream lookup)."""

    mode: str
    replace: Replacer

    def rewrite(self, st: Rewriting) -> tuple[ResponseRule, ...] | None:
        return (CnameTarget(self),)


@dataclass(frozen=True)
class CnameTarget:
    """Marks the answer for the handler, which does the lookup (it needs to await)."""

    rule: CnameRule


# ----- EDNS0 ------------------------------------------------------------------------------------

SET, APPEND, REPLACE, UNSET = "set", "append", "replace", "unset"
EDNS0_NSID, EDNS0_SUBNET = 3, 8
VARIABLES = ("{qname}", "{qtype}", "{client_ip}", "{client_port}", "{protocol}", "{server_ip}", "{server_port}")


@dataclass(frozen=True)
class Edns0Rule:
    """`edns0 local|nsid|subnet ACTION ...`: sets, appends, replaces or removes an option of the
    request. Such an answer depends on more than the question, so it never reaches the fast path."""

    mode: str
    kind: str  # "local", "nsid" or "subnet"
    action: str
    code: int = 0
    data: bytes = b""
    variable: str = ""  # "{client_ip}" ...: data taken from the query
    v4_bits: int = 0
    v6_bits: int = 0

    def rewrite(self, st: Rewriting) -> tuple[ResponseRule, ...] | None:
        # Whether it applies depends on the asker's options and address, which the fast path's key
        # does not hold: an answer that went through this rule is never kept for others.
        st.asker_depends = True
        options = st.edns_options()
        code = EDNS0_NSID if self.kind == "nsid" else EDNS0_SUBNET if self.kind == "subnet" else self.code
        if self.variable:
            value = _variable(self.variable, st)
            if not value:
                return None
        for i, (existing, old) in enumerate(options):
            if existing != code:
                continue
            if self.action == UNSET:
                del options[i]
                return self._done(st)
            if self.action not in (SET, REPLACE):
                return None
            if self.kind == "nsid":
                options[i] = (code, b"")
            elif self.kind == "subnet":
                data = self._subnet(st, old)
                if data is None:
                    return None
                options[i] = (code, data)
            else:
                options[i] = (code, value if self.variable else self.data)
            return self._done(st)
        if self.action not in (SET, APPEND):
            return None
        if self.kind == "nsid":
            options.append((code, b""))
        elif self.kind == "subnet":
            data = self._subnet(st, None)
            if data is None:
                return None
            options.append((code, data))
        else:
            options.append((code, value if self.variable else self.data))
        return self._done(st)

    def _done(self, st: Rewriting) -> tuple[ResponseRule, ...]:
        st.edns_touched = True
        return ()

    def _subnet(self, st: Rewriting, old: bytes | None) -> bytes | None:
        """RFC 7871 section 6 option data for the client's address, cut to the rule's prefix length
        (or the existing option's, when shorter: CoreDNS keeps the smaller SOURCE PREFIX-LENGTH)."""
        try:
            ip = ipaddress.ip_address(st.req.client[0].split("%", 1)[0])
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        bits = self.v4_bits if ip.version == 4 else self.v6_bits
        current = old[2] if old is not None and len(old) >= 3 else 128
        prefix = min(bits, current)
        network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
        address = network.network_address.packed[: (prefix + 7) // 8]
        return struct.pack("!HBB", 1 if ip.version == 4 else 2, prefix, 0) + address


def _variable(name: str, st: Rewriting) -> bytes:
    """The bytes CoreDNS puts in a local option for a {variable}; b"" when there are none."""
    req = st.req
    if name == "{qname}":
        return st.spelling(st.name).encode()
    if name == "{qtype}":
        return struct.pack("!H", st.qtype)
    if name in ("{client_ip}", "{server_ip}"):
        host = (req.client if name == "{client_ip}" else req.local)[0]
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return b""
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.packed
    if name == "{client_port}":
        return struct.pack("!H", req.client[1])
    if name == "{server_port}":
        return struct.pack("!H", req.local[1])
    if name == "{protocol}":
        return req.proto.encode()
    return b""  # a metadata label: kdns has no metadata plugin, so CoreDNS's empty value


ResponseRule = NameResponseRule | ValueResponseRule | TtlResponseRule | RcodeResponseRule | CnameTarget
Rule = NameRule | AnswerRule | TypeRule | ClassRule | CnameRule | Edns0Rule
