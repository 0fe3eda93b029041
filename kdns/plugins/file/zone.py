"""One loaded zone and the lookup that answers from it (CoreDNS plugin/file/lookup.go, RFC 1034).

Names are kept as tuples of lowercase labels (bytes, as on the wire), so matching is
case-insensitive (RFC 4343) and never confused by escaped dots. The lookup walks from the apex
down to the question name: a node with NS below the apex is a zone cut (RFC 1034 section 4.3.2,
step 3b: a referral); a missing name is NXDOMAIN unless the wildcard at its closest encloser exists
(RFC 4592 section 3.3.1); a name that exists only because names below it do is an empty
non-terminal (NODATA, RFC 4592 section 2.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, SOA, DNSLabel

from kdns.plugins.file.zonefile import Located, ZoneFileError

Labels = tuple[bytes, ...]
# CoreDNS plugin/file: at most 8 CNAMEs are followed inside the zone.
MAX_CHAIN = 8
ANY = 255
ADDRESS_TYPES = (QTYPE.A, QTYPE.AAAA)


def labels_of(name: DNSLabel) -> Labels:
    return tuple(label.lower() for label in name.label)


@dataclass
class Answer:
    rcode: int = RCODE.NOERROR
    aa: bool = True
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)
    # A CNAME chain left the zone here: the handler asks the server's chain for the rest.
    external: DNSLabel | None = None


def _rename(rr: RR, owner: DNSLabel) -> RR:
    return RR(owner, rr.rtype, rr.rclass, rr.ttl, rr.rdata)


class Zone:
    def __init__(self, origin: str, records: list[Located], file: str) -> None:
        self.origin_name = DNSLabel(origin)
        self.origin = labels_of(self.origin_name)
        self.file = file
        self.nodes: dict[Labels, dict[int, list[RR]]] = {}
        where: dict[Labels, Located] = {}
        for located in records:
            rr = located.rr
            name = labels_of(rr.rname)
            if name[len(name) - len(self.origin) :] != self.origin:
                raise ZoneFileError(
                    f"out of zone data: {rr.rname} is not in {origin}", located.file, located.line,
                )
            node = self.nodes.setdefault(name, {})
            if QTYPE.CNAME in node or (rr.rtype == QTYPE.CNAME and node):
                # RFC 2181 section 10.1: a CNAME owner has no other data.
                raise ZoneFileError(
                    f"{rr.rname} has a CNAME and other data (first at line {where[name].line})",
                    located.file, located.line,
                )
            where.setdefault(name, located)
            node.setdefault(rr.rtype, []).append(rr)
        apex = self.nodes.get(self.origin, {})
        if QTYPE.SOA not in apex:
            raise ZoneFileError(f"no SOA record for origin {origin}", file, 1)
        self.soa: RR = apex[QTYPE.SOA][0]
        soa_data: SOA = self.soa.rdata
        self.serial = int(soa_data.times[0])
        # RFC 2308 section 5: a negative answer's SOA lives min(SOA TTL, SOA MINIMUM) seconds.
        self.negative_soa = RR(
            self.soa.rname, QTYPE.SOA, self.soa.rclass, min(self.soa.ttl, soa_data.times[4]), soa_data,
        )
        self.ns: list[RR] = apex.get(QTYPE.NS, [])
        # Names between the apex and a node that have no records themselves.
        self.empty_non_terminals: set[Labels] = set()
        for name in self.nodes:
            for cut in range(1, len(name) - len(self.origin)):
                parent = name[cut:]
                if parent not in self.nodes:
                    self.empty_non_terminals.add(parent)

    def __len__(self) -> int:
        return sum(len(rrs) for node in self.nodes.values() for rrs in node.values())

    def entries_by_name(self) -> dict[str, int]:
        return {
            str(next(iter(node.values()))[0].rname): sum(map(len, node.values()))
            for node in self.nodes.values()
        }

    # -- lookup -------------------------------------------------------------------------------

    def _find(self, name: Labels, qtype: int) -> tuple[str, Labels]:
        """How name resolves: ("exact" | "ent" | "wildcard" | "nxdomain" | "referral", node name)."""
        n = len(self.origin)
        closest = self.origin
        for k in range(n + 1, len(name) + 1):
            here = name[len(name) - k :]
            node = self.nodes.get(here)
            if node is None:
                if here in self.empty_non_terminals:
                    closest = here
                    continue
                wildcard = (b"*",) + closest
                if wildcard in self.nodes:
                    return "wildcard", wildcard
                return "nxdomain", closest
            closest = here
            # A zone cut; the DS record of the cut itself is the parent's data (RFC 4035 3.1.4.1).
            if QTYPE.NS in node and not (qtype == QTYPE.DS and k == len(name)):
                return "referral", here
        if name in self.nodes:
            return "exact", name
        return "ent", name

    def lookup(self, qname: Labels, qtype: int, owner: DNSLabel) -> Answer:
        """The answer to (qname, qtype); owner is the question's own name, echoed in the answer."""
        kind, node_name = self._find(qname, qtype)
        if kind == "referral":
            return self._referral(node_name)
        if kind == "nxdomain":
            return Answer(RCODE.NXDOMAIN, authority=[self.negative_soa])
        if kind == "ent":
            return Answer(authority=[self.negative_soa])
        node = self.nodes[node_name]
        if qtype == ANY:
            every = [_rename(rr, owner) for rrset in node.values() for rr in rrset]
            return Answer(answer=every, authority=self._authority(qname, QTYPE.ANY))
        if QTYPE.CNAME in node and qtype != QTYPE.CNAME:
            return self._chain(_rename(node[QTYPE.CNAME][0], owner), qtype)
        rrs = node.get(qtype)
        if not rrs:
            return Answer(authority=[self.negative_soa])
        answer = [_rename(rr, owner) for rr in rrs]
        return Answer(
            answer=answer, authority=self._authority(qname, qtype), additional=self._additional(answer),
        )

    def _authority(self, qname: Labels, qtype: int) -> list[RR]:
        # CoreDNS puts the apex NS set in the authority section of every positive answer, except
        # when it already is the answer.
        if qtype == QTYPE.NS and qname == self.origin:
            return []
        return list(self.ns)

    def _referral(self, cut: Labels) -> Answer:
        # RFC 1034 section 4.3.2 step 3b: not authoritative; the child's NS set in the authority
        # section and the addresses of its servers we hold (glue, RFC 9471) in the additional.
        ns = self.nodes[cut][QTYPE.NS]
        return Answer(aa=False, authority=list(ns), additional=self._addresses(ns))

    def _chain(self, first: RR, qtype: int) -> Answer:
        """Follow a CNAME inside the zone, appending each step (RFC 1034 section 4.3.2 step 3a)."""
        answer = [first]
        seen = {labels_of(first.rname)}
        target: DNSLabel = first.rdata.label
        for _ in range(MAX_CHAIN):
            name = labels_of(target)
            if name[len(name) - len(self.origin) :] != self.origin:
                return Answer(answer=answer, authority=list(self.ns), external=target)
            if name in seen:
                break  # a loop: what we have is all there is
            seen.add(name)
            kind, node_name = self._find(name, qtype)
            if kind == "referral":
                # The target lives in a child zone: the client follows it from here.
                return Answer(answer=answer, authority=list(self.ns))
            if kind == "nxdomain":
                # RFC 6604 section 3: the RCODE describes the last name of the chain.
                return Answer(RCODE.NXDOMAIN, answer=answer, authority=[self.negative_soa])
            if kind == "ent":
                return Answer(answer=answer, authority=[self.negative_soa])
            node = self.nodes[node_name]
            if QTYPE.CNAME in node:
                step = _rename(node[QTYPE.CNAME][0], target)
                answer.append(step)
                target = step.rdata.label
                continue
            found = node.get(qtype)
            if not found:
                return Answer(answer=answer, authority=[self.negative_soa])
            final = [_rename(rr, target) if kind == "wildcard" else rr for rr in found]
            answer.extend(final)
            return Answer(answer=answer, authority=list(self.ns), additional=self._additional(final))
        return Answer(answer=answer, authority=list(self.ns))

    def _additional(self, answer: list[RR]) -> list[RR]:
        """A/AAAA of in-zone MX, SRV and NS targets (RFC 1035 section 3.3.9, RFC 2782)."""
        targets = [rr for rr in answer if rr.rtype in (QTYPE.MX, QTYPE.SRV, QTYPE.NS)]
        return self._addresses(targets) if targets else []

    def _addresses(self, rrs: list[RR]) -> list[RR]:
        out: list[RR] = []
        done: set[Labels] = set()
        for rr in rrs:
            target = labels_of(_target(rr))
            if target in done or target[len(target) - len(self.origin) :] != self.origin:
                continue
            done.add(target)
            node = self.nodes.get(target)
            if node:
                for rtype in ADDRESS_TYPES:
                    out.extend(node.get(rtype, ()))
        return out


def _target(rr: RR) -> DNSLabel:
    data = rr.rdata
    if rr.rtype == QTYPE.MX:
        return data.label
    if rr.rtype == QTYPE.SRV:
        return data.target
    return data.label
