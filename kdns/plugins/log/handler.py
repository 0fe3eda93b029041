"""Log each query and its answer with CoreDNS's placeholders (plugin/pkg/replacer).

This is the one plugin that does work per query by design; a block using it takes the slow path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from time import perf_counter

from dnslib import QTYPE, RCODE

from kdns.plugins.log.config import EMPTY, Config, Rule
from kdns.request import Request
from kdns.response import Response
from kdns.server import wire
from kdns.types import Next

log = logging.getLogger("kdns.plugins.log")

Field = Callable[[Request, Response, float], str]


def _addr(host: str) -> str:
    # RFC 3986 section 3.2.2: an IPv6 literal is bracketed, so "[::1]:53" stays readable.
    return f"[{host}]" if ":" in host else host


def _flags(resp: Response, req: Request, elapsed: float) -> str:
    h = resp.msg.header
    names = (("qr", h.qr), ("aa", h.aa), ("tc", h.tc), ("rd", h.rd), ("ra", h.ra),
             ("z", h.z), ("ad", h.ad), ("cd", h.cd))
    return ",".join(name for name, bit in names if bit)


def _rcode(resp: Response) -> str:
    rcode = resp.rcode
    return str(RCODE.get(rcode, rcode))


def _rsize(req: Request, resp: Response) -> str:
    # CoreDNS reports the size of the message the plugins wrote, before the server cuts it to the
    # client's limit; packing a copy leaves the response the server will send untouched.
    msg = resp.copy().msg
    return str(len(wire.with_opt(req, msg).pack()))


def _duration(elapsed: float) -> str:
    # Go's strconv.FormatFloat(secs, 'f', -1, 64): shortest digits, never an exponent.
    return format(Decimal(repr(elapsed)), "f") + "s"


FIELDS: dict[str, Field] = {
    "{type}": lambda req, resp, t: req.type_name,
    "{name}": lambda req, resp, t: req.qname_lower,
    "{class}": lambda req, resp, t: req.class_name,
    "{proto}": lambda req, resp, t: req.proto,
    "{size}": lambda req, resp, t: str(len(req.wire)),
    "{remote}": lambda req, resp, t: _addr(req.client[0]),
    "{port}": lambda req, resp, t: str(req.client[1]),
    "{local}": lambda req, resp, t: _addr(req.local[0]),
    "{>id}": lambda req, resp, t: str(req.id),
    "{>opcode}": lambda req, resp, t: str(req.opcode),
    "{>do}": lambda req, resp, t: "true" if req.do else "false",
    "{>bufsize}": lambda req, resp, t: str(req.max_size),
    "{rcode}": lambda req, resp, t: _rcode(resp),
    "{rsize}": lambda req, resp, t: _rsize(req, resp),
    "{duration}": lambda req, resp, t: _duration(t),
    "{>rflags}": lambda req, resp, t: _flags(resp, req, t),
}


def compile_format(fmt: str) -> list[str | Field]:
    """Literals and fields of fmt, split the way CoreDNS's replacer does.

    The nearest "{" before each "}" opens a placeholder, so "{ {name} }" keeps its outer braces.
    Unknown placeholders stay as written; metadata ones ({/label}) print "-" (kdns has no metadata).
    """
    parts: list[str | Field] = []
    s = fmt
    while True:
        j = s.find("}")
        if j < 0:
            break
        i = s.rfind("{", 0, j)
        if i < 0:
            parts.append(s[: j + 1])
            s = s[j + 1 :]
            continue
        label = s[i : j + 1]
        field = FIELDS.get(label)
        if field is not None:
            if i:
                parts.append(s[:i])
            parts.append(field)
        elif label.startswith("{/"):
            parts.append(s[:i] + EMPTY)
        else:
            parts.append(s[: j + 1])
        s = s[j + 1 :]
    if s:
        parts.append(s)
    return parts


def response_class(req: Request, resp: Response) -> str:
    """success, denial or error, as CoreDNS's response.Typify and Classify sort answers."""
    msg = resp.msg
    rcode = resp.rcode
    if req.qtype in (QTYPE.AXFR, QTYPE.IXFR):
        return "error"
    if msg.rr and rcode == RCODE.NOERROR:
        if req.qtype in (QTYPE.A, QTYPE.AAAA) and not any(rr.rtype == req.qtype for rr in msg.rr):
            return "denial"  # only a CNAME chain: NODATA for the address asked
        return "success"
    soa = any(rr.rtype == QTYPE.SOA for rr in msg.auth)
    if soa and rcode in (RCODE.NOERROR, RCODE.NXDOMAIN):
        return "denial"
    if rcode == RCODE.NOERROR:
        return "success"  # a referral, or an empty NOERROR
    return "error"


class _CompiledRule:
    __slots__ = ("rule", "labels", "parts")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.labels = () if rule.name == "." else tuple(rule.name.rstrip(".").encode().split(b"."))
        self.parts = compile_format(rule.format)

    def matches(self, req: Request) -> bool:
        n = len(self.labels)
        if n == 0:
            return True
        if len(req.labels) < n:
            return False
        return tuple(label.lower() for label in req.labels[-n:]) == self.labels

    def wants(self, req: Request, resp: Response, elapsed: float) -> bool:
        classes = self.rule.classes
        if "all" in classes or response_class(req, resp) in classes:
            return True
        return 0 < self.rule.min_duration < elapsed

    def line(self, req: Request, resp: Response, elapsed: float) -> str:
        return "".join(p if isinstance(p, str) else p(req, resp, elapsed) for p in self.parts)


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        self.rules = [_CompiledRule(rule) for rule in config.rules]

    async def __call__(self, req: Request) -> Response:
        # As CoreDNS: the first rule whose name covers the query decides; the others are not asked.
        for rule in self.rules:
            if rule.matches(req):
                break
        else:
            return await self.next(req)
        start = perf_counter()
        try:
            resp = await self.next(req)
        except Exception:
            # The errors plugin (before us in the chain) turns this into SERVFAIL: log it as that.
            self._log(rule, req, req.answer(RCODE.SERVFAIL), perf_counter() - start)
            raise
        self._log(rule, req, resp, perf_counter() - start)
        return resp

    @staticmethod
    def _log(rule: _CompiledRule, req: Request, resp: Response, elapsed: float) -> None:
        if rule.wants(req, resp, elapsed) and log.isEnabledFor(logging.INFO):
            log.info("%s", rule.line(req, resp, elapsed))
