"""One template of a server block (CoreDNS plugin/template/template.go, ServeDNS and match).

- Not our zone, or not our class or type (ANY on either side matches): the next link, which is the
  block's next template or the next plugin.
- Our zone, class and type, but no regex matches the lowercased name: the next link with
  `fallthrough` (for the name's zone), else NXDOMAIN. (CoreDNS returns NXDOMAIN without writing
  it, which its server then never sends; kdns sends it.)
- A match with `rcode SERVFAIL`: SERVFAIL, with no records (CoreDNS leaves it to the server).
- A match: AA, the rcode, and each RR template run and parsed as zone text into its section. A
  CNAME answer to an A or AAAA question is followed through the block's whole chain and the
  target's answer records appended (CoreDNS's upstream lookup). A template that fails to run or
  writes text that is no record: SERVFAIL, the failure metric, one log line per template.

An answer that depends only on the question (no `.Remote`, `.Message`, `.Question`, `.Meta`, no
followed CNAME) never changes until a reload: it carries empty fast-path tags, so the server keeps it
packed and repeats skip the chain; a reload swaps the table out (Listener.set_routes clears it).
"""

from __future__ import annotations

import contextvars
import logging
import struct

from dnslib import QTYPE, RCODE, RR, DNSLabel

from kdns.plugins.file.zonefile import ZoneFileError, parse_zone
from kdns.plugins.template import metrics
from kdns.plugins.template.config import ANY, Config, RRTemplate
from kdns.plugins.template.data import CLASS_NAMES, TemplateData
from kdns.plugins.template.gotemplate import ExecError
from kdns.request import Request
from kdns.response import Response
from kdns.types import BlockInfo, Next
from kdns.zones import in_zones, matching_zone

log = logging.getLogger(__name__)

PLUGIN = "template"
_NXDOMAIN, _SERVFAIL = int(RCODE.NXDOMAIN), int(RCODE.SERVFAIL)
_A, _AAAA, _CNAME = 1, 28, 5
EDE = 15  # the Extended DNS Error option code (RFC 8914 section 2)
_TYPE_NAMES: dict[int, str] = dict(QTYPE.forward)
NO_TAGS: tuple[str, ...] = ()
# CNAMEs a template may have followed through the chain within one query (a template answering
# its own target with a CNAME again would otherwise never end).
MAX_CHASE = 8
_chase_depth: contextvars.ContextVar[int] = contextvars.ContextVar("template_chase_depth", default=0)


class TemplateFailure(Exception):
    def __init__(
        self, record: RRTemplate, message: str, metric: dict[tuple[str, str, str, str, str, str, str], int],
    ) -> None:
        super().__init__(message)
        self.record = record
        self.metric = metric


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        self.zones: tuple[str, ...] = config.zones or (".",)
        self.info: BlockInfo | None = None
        # Its answers are a pure function of the question: kept on the fast path until a reload.
        self.question_only = not config.per_request
        self.matches_any_class = config.qclass == ANY
        self.matches_any_type = config.qtype == ANY
        # The Extended DNS Error option (code, length, INFO-CODE, EXTRA-TEXT), in wire form.
        self.ede = b""
        if config.ederror is not None:
            code, reason = config.ederror
            text = reason.encode()
            self.ede = struct.pack("!HHH", EDE, 2 + len(text), code) + text
        # RR templates already reported in the log (one line each, not one per query).
        self.reported: set[int] = set()

    def attach(self, info: BlockInfo) -> None:
        self.info = info
        if not self.config.zones:
            self.zones = tuple(info.zones)

    async def __call__(self, req: Request) -> Response:
        c = self.config
        name = req.qname_lower
        zone = matching_zone(name, self.zones)
        if zone is None:
            return await self.next(req)
        qclass, qtype = req.qclass, req.qtype
        if not (self.matches_any_class or qclass == ANY or qclass == c.qclass):
            return await self.next(req)
        if not (self.matches_any_type or qtype == ANY or qtype == c.qtype):
            return await self.next(req)
        for regex, pattern in zip(c.regexes, c.patterns):
            m = regex.search(name)
            if m is not None:
                break
        else:
            if c.fallthrough is not None and in_zones(name, c.fallthrough):
                return await self.next(req)
            return Response(req.reply(_NXDOMAIN), plugin=PLUGIN, tags=NO_TAGS)
        class_name = CLASS_NAMES.get(qclass if qclass != ANY else c.qclass, "")
        type_name = _TYPE_NAMES.get(qtype if qtype != ANY else c.qtype, "")
        key = (req.server, zone, "", class_name, type_name)
        metrics.matches[key] = metrics.matches.get(key, 0) + 1
        if c.rcode == _SERVFAIL:
            return Response(req.reply(_SERVFAIL), plugin=PLUGIN, tags=NO_TAGS)
        groups = m.groups("")
        match = [m.group(0), *groups]
        group = {str(i): text for i, text in enumerate(match)}
        for group_name, index in regex.groupindex.items():
            group[group_name] = match[index]
        data = TemplateData(req, zone, pattern, match, group, class_name, type_name)
        sections: dict[str, list[RR]] = {"answer": [], "additional": [], "authority": []}
        try:
            for record in c.records:
                sections[record.section].append(self._record(record, data))
        except TemplateFailure as e:
            return self._failed(req, e, key)
        answer = sections["answer"]
        tags = NO_TAGS if self.question_only else None
        if qtype in (_A, _AAAA) and any(rr.rtype == _CNAME for rr in answer):
            answer = await self._follow_cnames(answer, qtype)
            tags = None
        msg = req.reply(c.rcode, aa=True, rr=answer, auth=sections["authority"], ar=sections["additional"])
        # RFC 8914: the server puts the option in its OPT record, so only a client that sent EDNS
        # gets it (RFC 6891 section 7); CoreDNS adds an OPT record even to one that did not.
        return Response(msg, plugin=PLUGIN, tags=tags, edns_options=self.ede)

    def _record(self, record: RRTemplate, data: TemplateData) -> RR:
        """The record an RR template writes for this query, or TemplateFailure."""
        try:
            text = record.template.execute(data)
        except ExecError as e:
            raise TemplateFailure(record, f"template: {record.section}: {e}", metrics.template_failures) from None
        try:
            records = parse_zone(text, ".", "template")
            if not records:
                raise ZoneFileError("no record", "template", 1)
            rr = records[0].rr
            bad = long_name(rr)
        except ZoneFileError as e:
            bad = e.message
        if bad:
            shown = text if len(text) <= 120 else text[:117] + "..."
            message = f"template: {record.section}: bad record {shown!r}: {bad}"
            raise TemplateFailure(record, message, metrics.rr_failures)
        return rr

    def _failed(self, req: Request, e: TemplateFailure, match_key: tuple[str, str, str, str, str]) -> Response:
        record = e.record
        key = (*match_key, record.section, str(record.template))
        e.metric[key] = e.metric.get(key, 0) + 1
        if id(record) not in self.reported:
            self.reported.add(id(record))
            log.warning("%s:%d: %s (for %s %s)", record.file, record.line, e, req.qname, req.type_name)
        resp = Response(req.reply(_SERVFAIL), plugin=PLUGIN, tags=NO_TAGS if self.question_only else None)
        resp.error = str(e)
        return resp

    async def _follow_cnames(self, answer: list[RR], qtype: int) -> list[RR]:
        resolve = self.info.resolve if self.info is not None else None
        depth = _chase_depth.get()
        if resolve is None or depth >= MAX_CHASE:
            return answer
        out = list(answer)
        token = _chase_depth.set(depth + 1)
        try:
            for rr in answer:
                if rr.rtype != _CNAME:
                    continue
                try:
                    up = await resolve(str(rr.rdata.label), qtype)
                except Exception as e:
                    log.debug("following CNAME %s failed: %s", rr.rdata.label, e)
                    continue
                out.extend(up.msg.rr)
        finally:
            _chase_depth.reset(token)
        return out


def long_name(rr: RR) -> str | None:
    """Why rr cannot be sent (a name over 255 octets, RFC 1035 section 2.3.4), or None."""
    names = [rr.rname]
    if rr.rdata is not None:
        names += [value for value in vars(rr.rdata).values() if isinstance(value, DNSLabel)]
    for label in names:
        size = sum(len(part) + 1 for part in label.label) + 1
        if size > 255:
            return f"a name of {size} octets is longer than 255"
        if any(len(part) > 63 for part in label.label):
            return "a label is longer than 63 octets"
    return None
