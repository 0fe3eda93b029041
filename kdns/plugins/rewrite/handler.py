"""Run the rewrite rules over a query's question, pass the rewritten query on, restore the answer.

As CoreDNS's Rewrite.ServeDNS: rules run in order; a rule that changes something and is in `stop`
mode ends the run; a rewritten name that is no domain name is SERVFAIL. The answer always carries
the asker's own question (spelling included), and the response rules the matching rules left
(names mapped back, TTLs, RCODE, CNAME targets) are applied to a copy of it.

The fast path: the rules look only at the question, so an answer rewritten from the kubernetes
index keeps that answer's tags and is stored for the asker's question (server/fastpath.py keys on
the asker's bytes); a change to the service drops it as it drops the plain name. Rules that depend
on more than the question (edns0: client address, options; cname: a lookup through the chain)
take the tags away, so such an answer is never served to another asker.
"""

from __future__ import annotations

import logging

from dnslib import QTYPE, RCODE, RR, DNSLabel

from kdns.message import Message, Question, owner_labels
from kdns.plugins.rewrite.config import Config
from kdns.plugins.rewrite.names import BadName, to_labels
from kdns.plugins.rewrite.rules import (
    STOP, CnameTarget, RcodeResponseRule, RecordRule, Rewriting, Rule,
)
from kdns.request import Edns, Request, name_text
from kdns.response import Response
from kdns.server.packer import HEADER, QUESTION_TAIL, opt_record
from kdns.server.wire import join_options, wire_name
from kdns.types import Next

log = logging.getLogger(__name__)

_SERVFAIL = int(RCODE.SERVFAIL)
_CNAME = int(QTYPE.CNAME)
# The OPT record CoreDNS adds to a query that had none before an edns0 rule sets an option.
_DEFAULT_PAYLOAD = 4096


class Handler:
    next: Next
    rules: tuple[Rule, ...]

    def __init__(self, next: Next, config: Config) -> None:
        rules = config.rules
        if isinstance(next, Handler):
            # CoreDNS reads every rewrite line of a block into one plugin: one list of rules, so a
            # `stop` on one line ends the rewriting for the lines after it too. The chain is built
            # from the last line backwards: take over the rules of the line after this one.
            rules = rules + next.rules
            next = next.next
        self.next = next
        self.rules = rules

    async def __call__(self, req: Request) -> Response:
        st = Rewriting(req)
        labels = req.labels  # of st.name, read once when a rule changes it
        for rule in self.rules:
            before = st.name
            found = rule.rewrite(st)
            if found is None:
                continue
            st.response_rules.extend(found)
            if st.name != before:
                try:
                    labels = to_labels(st.name)
                except BadName:
                    resp = req.answer(_SERVFAIL, plugin="rewrite")
                    resp.error = f"invalid name after rewrite: {st.name}"
                    return resp
            if rule.mode == STOP:
                break
        query_changed = st.changed_question() or st.edns_touched
        if not (query_changed or st.response_rules):
            resp = await self.next(req)
            if st.asker_depends and resp.tags is not None:
                resp = resp.copy()
                resp.tags = None
            return resp
        if st.name == req.qname_lower:
            labels = req.labels  # a name rewritten back: the asker's own spelling
        resp = await self.next(rewritten_request(req, st, labels) if query_changed else req)
        return await self.revert(req, st, resp)

    async def revert(self, req: Request, st: Rewriting, resp: Response) -> Response:
        """A copy of resp with the asker's question and the response rules applied."""
        out = resp.copy()
        msg = out.msg
        msg.questions = [Question(DNSLabel(req.labels), req.qtype, req.qclass)]
        record_rules: list[RecordRule] = []
        for rule in st.response_rules:
            if isinstance(rule, RcodeResponseRule):
                # Once per answer, records or none (an empty NXDOMAIN is what one rewrites most);
                # resp.copy() made the header a kdns Header, whose RCODE is the bitmap's low bits.
                bitmap = msg.header.bitmap
                msg.header.bitmap = (bitmap & ~0xF) | rule.rcode(bitmap & 0xF)
            elif isinstance(rule, CnameTarget):
                if await self._cname(req, st, rule, msg):
                    st.asker_depends = True
            else:
                record_rules.append(rule)
        if record_rules:
            asked = tuple(label.lower() for label in req.labels)
            try:
                msg.auth = [_apply(record_rules, rr, req.labels, asked) for rr in msg.auth]
                msg.rr = [_apply(record_rules, rr, req.labels, asked) for rr in msg.rr]
                msg.ar = [_apply(record_rules, rr, req.labels, asked) for rr in msg.ar]
            except BadName as e:
                # An answer rule made a name no message can carry: as a bad question rewrite.
                resp = req.answer(_SERVFAIL, plugin="rewrite")
                resp.error = f"invalid name after rewrite: {e}"
                return resp
        if st.asker_depends:
            out.tags = None
        return out

    async def _cname(self, req: Request, st: Rewriting, rule: CnameTarget, msg: Message) -> bool:
        """CoreDNS's cname target rewrite: True when a CNAME was rewritten (and its target looked up)."""
        for rr in msg.rr:
            if rr.rtype != _CNAME:
                continue
            target = name_text(rr.rdata.label.label)
            new = rule.rule.replace(target)
            if new is None:
                continue
            try:
                labels = to_labels(new)
            except BadName:
                return False
            # The CNAMEs stay (every one now points at the new target), followed by the new target's
            # records of the asked type as the block's own chain answers them.
            answer: list[RR] = [
                RR(DNSLabel(owner_labels(c)), c.rtype, c.rclass, c.ttl, type(c.rdata)(DNSLabel(labels)))
                for c in msg.rr if c.rtype == _CNAME
            ]
            if req.resolve is not None:
                try:
                    found = await req.resolve(name_text(labels), st.qtype)
                except Exception as e:
                    # As CoreDNS: a failed upstream lookup leaves the CNAMEs alone in the answer.
                    log.debug("rewrite: looking up CNAME target %s failed: %s", name_text(labels), e)
                    found = None
                if found is not None:
                    wanted = tuple(label.lower() for label in labels)
                    answer.extend(
                        x for x in found.msg.rr
                        if tuple(label.lower() for label in owner_labels(x)) == wanted
                    )
            msg.rr = answer
            return True
        return False


def _apply(rules: list[RecordRule], rr: RR, labels: tuple[bytes, ...], asked: tuple[bytes, ...]) -> RR:
    """rr through the rules; an owner mapped back to the asked name takes the asker's spelling
    (CoreDNS writes it lowercased): it then compresses to the question, so a 0x20 asker sees its own
    case, the fast path echoes each asker's, and loadbalance's shuffle can move the records."""
    if rr.rtype == 41:  # OPT: its TTL field is the extended RCODE and flags
        return rr
    for rule in rules:
        rr = rule.apply(rr)
    owner = owner_labels(rr)
    if owner != labels and tuple(label.lower() for label in owner) == asked:
        rr = RR(DNSLabel(labels), rr.rtype, rr.rclass, rr.ttl, rr.rdata)
    return rr


def rewritten_request(req: Request, st: Rewriting, labels: tuple[bytes, ...]) -> Request:
    """The query the rest of the chain sees: the rewritten question (labels: of st.name) and EDNS
    options, as bytes too, since forward sends a request's own wire upstream."""
    edns = req.edns
    if st.edns_touched:
        options = join_options(st.edns_options())
        edns = Edns(_DEFAULT_PAYLOAD, 0, False, options) if edns is None else edns._replace(options=options)
    name = wire_name(labels)
    question_end = 12 + len(name) + 4
    parts = [
        HEADER.pack(req.id, req.flags, 1, 0, 0, 0 if edns is None else 1),
        name, QUESTION_TAIL.pack(st.qtype, st.qclass),
    ]
    if edns is not None:
        # Version 0: mux answers any other with BADVERS before the chain runs.
        parts.append(opt_record(edns.payload, edns.do, edns.options))
    inner = Request(b"".join(parts), req.id, req.flags, labels, st.qtype, st.qclass, question_end, edns)
    return inner.context_from(req)

