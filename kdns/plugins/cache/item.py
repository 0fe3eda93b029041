"""What the cache keeps of an answer, how long, and how it turns back into a reply.

Classification and lifetimes follow CoreDNS (plugin/pkg/response/typify.go, plugin/cache/cache.go)
and RFC 2308: a negative answer lives as long as its SOA says (section 5: the smaller of the SOA
record's TTL and its MINIMUM field), capped by the denial TTL; one without a SOA is not cached.
"""

from __future__ import annotations

import struct

from dnslib import QTYPE, RCODE, RR, DNSLabel, DNSRecord

from kdns.message import Header, Labels, Message, Question, Record, owner_labels
from kdns.plugins.cache.config import MIN_TTL
from kdns.request import Request
from kdns.response import Lease

SUCCESS, DENIAL = "success", "denial"
_OPT = 41
_SOA = int(QTYPE.SOA)
_NS = int(QTYPE.NS)
_NOERROR, _NXDOMAIN, _SERVFAIL = int(RCODE.NOERROR), int(RCODE.NXDOMAIN), int(RCODE.SERVFAIL)
# Header flags read straight from the bitmap (RFC 1035 section 4.1.1; AD: RFC 4035 section 3.2.3):
# dnslib's flag properties cost a function call each.
_TC_OR_OPCODE = 0x7A00
# Zone transfers and dynamic updates are never cached (CoreDNS response.Meta / response.Update).
_META_TYPES = frozenset((int(QTYPE.AXFR), int(QTYPE.IXFR)))
_U32 = struct.Struct("!I")

Section = list[tuple[RR, bool]]


def classify(msg: DNSRecord) -> str | None:
    """"success", "denial", "servfail" or None (not cacheable), as CoreDNS's response.Typify."""
    bitmap = msg.header.bitmap
    if bitmap & _TC_OR_OPCODE:
        return None
    if msg.questions and msg.questions[0].qtype in _META_TYPES:
        return None
    rcode = bitmap & 0xF
    if rcode == _NOERROR and msg.rr:
        return SUCCESS
    has_soa = any(rr.rtype == _SOA for rr in msg.auth)
    if has_soa and rcode in (_NOERROR, _NXDOMAIN):
        return DENIAL  # NODATA or NXDOMAIN
    if rcode == _SERVFAIL:
        return "servfail"
    if rcode == _NOERROR:
        return SUCCESS  # a referral (NS in authority) or an empty NOERROR
    return None  # FORMERR, REFUSED, NOTIMP, NXDOMAIN without SOA...


def minimal_ttl(msg: DNSRecord, kind: str) -> int:
    """The TTL the answer allows: RFC 2308 section 5 for denials, else the smallest record TTL."""
    if kind == DENIAL:
        for rr in msg.auth:
            if rr.rtype == _SOA:
                return int(min(rr.ttl, _soa_minimum(rr)))
    ttls = [rr.ttl for section in (msg.rr, msg.auth, msg.ar) for rr in section if rr.rtype != _OPT]
    # CoreDNS dnsutil.MinimalTTL: no records at all gets the minimal default as a fail-safe.
    return int(min(ttls)) if ttls else MIN_TTL


def _soa_minimum(rr: RR) -> int:
    """The MINIMUM field of a SOA record; a Record's straight from its packed times."""
    if type(rr) is Record and not isinstance(rr.parts, bytes):
        times = rr.parts[2]
        if isinstance(times, bytes) and len(times) == 20:
            return int(_U32.unpack_from(times, 16)[0])
    return int(rr.rdata.times[4])


class Item:
    """One cached answer. Owner names equal to the question are re-spelled as each asker spelled it."""

    __slots__ = (
        "kind", "rcode", "aa", "ra", "ad", "answer", "authority", "additional", "orig_ttl", "stored",
        "hits", "last_hit", "refreshing", "lease",
    )

    def __init__(self, msg: DNSRecord, kind: str, labels: Labels, ttl: int, now: float) -> None:
        """labels: the question's name as asked."""
        self.kind = kind
        bitmap = msg.header.bitmap
        self.rcode = bitmap & 0xF
        self.aa = bitmap >> 10 & 1
        self.ra = bitmap >> 7 & 1
        self.ad = bitmap >> 5 & 1
        self.answer = _section(msg.rr, labels)
        self.authority = _section(msg.auth, labels)
        # OPT is hop-by-hop (RFC 6891 section 6.1.1): the server adds its own to each reply.
        self.additional = _section([rr for rr in msg.ar if rr.rtype != _OPT], labels)
        self.orig_ttl = ttl
        self.stored = now
        # Prefetch popularity (CoreDNS plugin/cache/freq): hits with no gap longer than the duration.
        self.hits = 0
        self.last_hit = now
        self.refreshing = False
        # Its fast-path tag once an answer was made from it (handler.py); invalidated when it goes.
        self.lease: Lease | None = None

    def ttl(self, now: float) -> int:
        """Seconds left; zero or less once expired (whole seconds, as CoreDNS counts)."""
        return self.orig_ttl - int(now - self.stored)

    def to_msg(self, req: Request, ttl: int) -> DNSRecord:
        """A reply to req from this item, every record with the given TTL."""
        # The header as one bitmap (dnslib's per-bit setters cost more than the rest of a hit):
        # QR, the query's opcode, RD and CD, the stored AA, RA and rcode. AD only for a client that
        # asked for DNSSEC (DO) or set AD itself (CoreDNS; RFC 6840 sections 5.7-5.8).
        flags = req.flags
        ad = self.ad and (req.do or flags & 0x0020)
        bitmap = (
            0x8000 | (flags & 0x7800) | (flags & 0x0110) | (self.aa << 10) | (self.ra << 7)
            | (0x0020 if ad else 0) | (self.rcode & 0xF)
        )
        labels = req.labels
        owner = DNSLabel(labels)
        # kdns.message's classes: plain slots, no per-field validation (the packer counts sections).
        return Message(
            Header(req.id, bitmap, 1), [Question(owner, req.qtype, req.qclass)],
            _records(self.answer, labels, owner, ttl), _records(self.authority, labels, owner, ttl),
            _records(self.additional, labels, owner, ttl),
        )


def _records(section: Section, labels: Labels, owner: DNSLabel, ttl: int) -> list[RR]:
    """The section's records with the given TTL; those owned by the question carry the asker's
    spelling. A Record (a forwarded answer's) stays one: its rdata parts are packed as they are."""
    return [
        Record(labels if is_q else rr.owner, rr.rtype, ttl, rr.parts, rr.rclass) if type(rr) is Record
        else RR(owner if is_q else rr.rname, rr.rtype, rr.rclass, ttl, rr.rdata)
        for rr, is_q in section
    ]


def _section(rrs: list[RR], labels: Labels) -> Section:
    # Labels as asked are the question's name whatever its case; other owners are compared lowercased.
    lowered: Labels | None = None
    out = []
    for rr in rrs:
        owner = owner_labels(rr)
        if owner != labels and len(owner) == len(labels):
            if lowered is None:
                lowered = tuple(label.lower() for label in labels)
            is_q = tuple(label.lower() for label in owner) == lowered
        else:
            is_q = owner == labels
        out.append((rr, is_q))
    return out
