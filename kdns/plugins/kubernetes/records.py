"""Index hits -> DNS records, for every row of design.md section 4 (Kubernetes DNS spec 1.1.0).

Owner names are built from the question's own labels (as they came on the wire), so the answer
echoes the client's spelling and dnslib compresses them against the question. Every answer lists
the fast-path tags it depends on (see index.py); an answer whose content depends on nothing that
can change carries an empty tag set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from dnslib import AAAA, CNAME, NS, PTR, QTYPE, RCODE, RR, SOA, SRV, TXT, A, DNSLabel

from kdns.plugins.kubernetes.config import Config
from kdns.plugins.kubernetes.index import ClusterIndex, EndpointAddress, Tag
from kdns.plugins.kubernetes.names import Kind, Name, parse
from kdns.plugins.kubernetes.objects import Port, Service

DNS_SCHEMA_VERSION = "1.1.0"
# RFC 2308 section 5 lets the SOA's own TTL be the negative TTL; CoreDNS caps it at 300 s.
MAX_SOA_TTL = 300
# The name server service the apex NS record names (CoreDNS finds it through its own pod IP; the
# kubeadm name is what every cluster uses).
NS_SERVICE = ("kube-system", "kube-dns")
# SOA records kept (one per zone spelling and serial); the 0x20 spellings of a zone are few in practice.
MAX_SOAS = 1024

_A, _AAAA, _SRV, _PTR, _TXT, _SOA, _NS, _CNAME = (
    QTYPE.A, QTYPE.AAAA, QTYPE.SRV, QTYPE.PTR, QTYPE.TXT, QTYPE.SOA, QTYPE.NS, QTYPE.CNAME,
)


@dataclass(slots=True)
class Answer:
    rcode: int = RCODE.NOERROR
    rr: list[RR] = field(default_factory=list)
    auth: list[RR] = field(default_factory=list)
    ar: list[RR] = field(default_factory=list)
    tags: set[Tag] = field(default_factory=set)
    # An ExternalName target still to chase for A/AAAA: lowercase, without the trailing dot.
    chase: str = ""


class Records:
    def __init__(self, index: ClusterIndex, config: Config, zones: Sequence[str]) -> None:
        self.index = index
        self.config = config
        self.ttl = config.ttl
        self.zones = tuple(zones)
        forward = [z for z in self.zones if not z.endswith(".arpa.")]
        # PTR targets live in the first forward zone (CoreDNS primaryZone).
        self.primary = (forward or list(self.zones) or ["cluster.local."])[0]
        # The SOA of each zone spelling at the current serial: every negative answer carries one.
        # Records are never changed in place once answered (a plugin copies a Response first).
        self._soas: dict[tuple[tuple[bytes, ...], int], RR] = {}

    def lookup(self, wire_labels: Sequence[bytes], labels: Sequence[str], zone_len: int, qtype: int) -> Answer:
        """The answer for a name (wire_labels as asked, labels lowercased) in a zone of ours."""
        name = parse(labels, zone_len)
        kind = name.kind
        qname = DNSLabel(tuple(wire_labels))
        zone = list(wire_labels[len(wire_labels) - zone_len :])
        if kind is Kind.APEX:
            return self._apex(zone, qtype)
        if kind is Kind.SERVICE or kind is Kind.ENDPOINT or kind is Kind.PORT:
            return self._service(name, wire_labels, qname, zone, qtype)
        if kind is Kind.REVERSE:
            return self._reverse(name.ip, qname, zone, qtype)
        if kind is Kind.POD:
            return self._pod(name, qname, zone, qtype)
        if kind is Kind.NAMESPACE:
            tags: set[Tag] = {("ns", name.namespace)}
            return self._nodata(zone, tags) if self.index.namespace_exposed(name.namespace) else self._nx(zone, tags)
        if kind is Kind.POD_NAMESPACE:
            tags = {("ns", name.namespace)}
            if self.config.pods != "disabled" and self.index.namespace_exposed(name.namespace):
                return self._nodata(zone, tags)
            return self._nx(zone, tags)
        if kind is Kind.SVC_ROOT or kind is Kind.POD_ROOT:
            return self._nodata(zone, set())
        if kind is Kind.DNS_VERSION:
            if qtype == _TXT:
                return Answer(rr=[RR(qname, _TXT, ttl=self.ttl, rdata=TXT(DNS_SCHEMA_VERSION))])
            return self._nodata(zone, set())
        if kind is Kind.NS_DNS:
            tags = {("svc", *NS_SERVICE), ("ns", NS_SERVICE[0])}
            svc = self._ns_service()
            rr = self._addresses(qname, svc.cluster_ips if svc else (), qtype)
            return Answer(rr=rr, tags=tags) if rr else self._nodata(zone, tags)
        return self._nx(zone, set())

    # -- negative answers (RFC 2308): the zone's SOA in the authority section ----------------

    def soa(self, zone: list[bytes]) -> RR:
        key = (tuple(zone), self.index.serial)
        rr = self._soas.get(key)
        if rr is None:
            if len(self._soas) >= MAX_SOAS:
                self._soas.clear()
            rr = self._soas[key] = self._new_soa(zone)
        return rr

    def _new_soa(self, zone: list[bytes]) -> RR:
        minimum = self.ttl
        return RR(
            DNSLabel(zone),
            _SOA,
            ttl=min(minimum, MAX_SOA_TTL),
            rdata=SOA(
                DNSLabel([b"ns", b"dns"] + zone),
                DNSLabel([b"hostmaster"] + zone),
                (self.index.serial, 7200, 1800, 86400, minimum),
            ),
        )

    def _nx(self, zone: list[bytes], tags: set[Tag]) -> Answer:
        return Answer(RCODE.NXDOMAIN, auth=[self.soa(zone)], tags=tags)

    def _nodata(self, zone: list[bytes], tags: set[Tag]) -> Answer:
        return Answer(RCODE.NOERROR, auth=[self.soa(zone)], tags=tags)

    # -- rows ---------------------------------------------------------------------------------

    def _apex(self, zone: list[bytes], qtype: int) -> Answer:
        if qtype == _SOA:
            return Answer(rr=[self.soa(zone)], tags={("soa",)})
        if qtype == _NS:
            tags: set[Tag] = {("svc", *NS_SERVICE), ("ns", NS_SERVICE[0])}
            svc = self._ns_service()
            if svc is None:
                target = DNSLabel([b"ns", b"dns"] + zone)
                return Answer(rr=[RR(DNSLabel(zone), _NS, ttl=self.ttl, rdata=NS(target))], tags=tags)
            target = DNSLabel(f"{svc.name}.{svc.namespace}.svc.{self.primary}")
            glue = self._addresses(target, svc.cluster_ips, None)
            return Answer(rr=[RR(DNSLabel(zone), _NS, ttl=self.ttl, rdata=NS(target))], ar=glue, tags=tags)
        return self._nodata(zone, set())

    def _ns_service(self) -> Service | None:
        svc = self.index.service(*NS_SERVICE)
        if svc is None or not svc.cluster_ips or not self.index.namespace_exposed(NS_SERVICE[0]):
            return None
        return svc

    def _addresses(self, owner: DNSLabel, ips: Sequence[str], qtype: int | None) -> list[RR]:
        """A/AAAA records of owner for the ips of the asked family (both when qtype is None)."""
        out: list[RR] = []
        seen: set[str] = set()
        for ip in ips:
            if ip in seen:
                continue
            seen.add(ip)
            if ":" in ip:
                if qtype is None or qtype == _AAAA:
                    out.append(RR(owner, _AAAA, ttl=self.ttl, rdata=_address(ip)))
            elif qtype is None or qtype == _A:
                out.append(RR(owner, _A, ttl=self.ttl, rdata=_address(ip)))
        return out

    def _service(
        self, name: Name, wire_labels: Sequence[bytes], qname: DNSLabel, zone: list[bytes], qtype: int
    ) -> Answer:
        ns, svc_name = name.namespace, name.service
        tags: set[Tag] = {("ns", ns), ("svc", ns, svc_name)}
        if not self.index.namespace_exposed(ns):
            return self._nx(zone, tags)
        svc = self.index.service(ns, svc_name)
        if svc is None:
            return self._nx(zone, tags)
        if svc.is_external:
            # External services cannot have endpoints or ports below them (surprise 1 in
            # k8s-api/FIELDS.md: stale slices of an ExternalName service are ignored).
            if name.kind is not Kind.SERVICE:
                return self._nx(zone, tags)
            target = DNSLabel(svc.external_name + ".")
            answer = Answer(rr=[RR(qname, _CNAME, ttl=self.ttl, rdata=CNAME(target))], tags=tags)
            if qtype in (_A, _AAAA):
                answer.chase = svc.external_name
            return answer
        endpoints = self.index.endpoints(ns, svc_name)
        uses_endpoints = svc.headless or name.kind is Kind.ENDPOINT
        if uses_endpoints and self.config.noendpoints:
            return self._nx(zone, tags)
        if (
            self.config.ignore_empty_service
            and not svc.headless
            and not endpoints.addresses
        ):
            return self._nx(zone, tags)
        if name.kind is Kind.ENDPOINT:
            found = endpoints.by_label.get(name.endpoint, ())
            if not found:
                return self._nx(zone, tags)
            if qtype == _SRV:
                return self._srv_endpoints(found, None, "", qname, qname, zone, tags, own_name=True)
            rr = self._addresses(qname, [a.ip for a in found], qtype)
            return Answer(rr=rr, tags=tags) if rr else self._nodata(zone, tags)
        base = list(wire_labels[2:]) if name.kind is Kind.PORT else list(wire_labels)
        if svc.headless:
            if not endpoints.addresses:
                return self._nx(zone, tags)
            if name.kind is Kind.PORT:
                matching = [a for a in endpoints.addresses if _matching(a.ports, name.port, name.protocol)]
                if not matching:
                    return self._nx(zone, tags)
                if qtype != _SRV:
                    return self._nodata(zone, tags)
                return self._srv_endpoints(
                    matching, name.port, name.protocol, qname, DNSLabel(base), zone, tags
                )
            if qtype == _SRV:
                return self._srv_endpoints(endpoints.addresses, None, "", qname, qname, zone, tags)
            rr = self._addresses(qname, [a.ip for a in endpoints.addresses], qtype)
            return Answer(rr=rr, tags=tags) if rr else self._nodata(zone, tags)
        # ClusterIP, NodePort, LoadBalancer: the cluster IPs, with or without endpoints.
        if name.kind is Kind.PORT:
            ports = _matching(svc.ports, name.port, name.protocol)
            if not ports:
                return self._nx(zone, tags)
            if qtype != _SRV:
                return self._nodata(zone, tags)
            return self._srv_cluster(ports, DNSLabel(base), qname, svc, tags)
        if qtype == _SRV:
            if not svc.ports:
                return self._nodata(zone, tags)
            return self._srv_cluster(list(svc.ports), qname, qname, svc, tags)
        rr = self._addresses(qname, svc.cluster_ips, qtype)
        return Answer(rr=rr, tags=tags) if rr else self._nodata(zone, tags)

    def _srv_cluster(
        self, ports: Sequence[Port], target: DNSLabel, qname: DNSLabel, svc: Service, tags: set[Tag]
    ) -> Answer:
        numbers = list(dict.fromkeys(p.port for p in ports if p.port is not None))
        weight = _weight(len(numbers))
        rr = [RR(qname, _SRV, ttl=self.ttl, rdata=SRV(0, weight, n, target)) for n in numbers]
        return Answer(rr=rr, ar=self._addresses(target, svc.cluster_ips, None), tags=tags)

    def _srv_endpoints(
        self,
        addresses: Sequence[EndpointAddress],
        port: str | None,
        protocol: str,
        qname: DNSLabel,
        service_name: DNSLabel,
        zone: list[bytes],
        tags: set[Tag],
        own_name: bool = False,
    ) -> Answer:
        """One SRV per endpoint x port (port None: every port), target the endpoint's name."""
        base = list(service_name.label)
        targets: dict[str, list[str]] = {}
        records: list[tuple[str, int]] = []
        for a in addresses:
            ports = a.ports if port is None else _matching(a.ports, port, protocol)
            for p in ports:
                if p.port is not None and (a.label, p.port) not in records:
                    records.append((a.label, p.port))
            targets.setdefault(a.label, []).append(a.ip)
        if not records:
            return self._nodata(zone, tags)
        weight = _weight(len(records))
        rr = []
        ar = []
        for label, number in records:
            target = qname if own_name else DNSLabel([label.encode()] + base)
            rr.append(RR(qname, _SRV, ttl=self.ttl, rdata=SRV(0, weight, number, target)))
        for label, ips in targets.items():
            if any(r[0] == label for r in records):
                target = qname if own_name else DNSLabel([label.encode()] + base)
                ar.extend(self._addresses(target, ips, None))
        return Answer(rr=rr, ar=ar, tags=tags)

    def _pod(self, name: Name, qname: DNSLabel, zone: list[bytes], qtype: int) -> Answer:
        ns, ip = name.namespace, name.ip
        if self.config.pods == "disabled":
            return self._nx(zone, set())
        tags: set[Tag] = {("ns", ns)}
        if not self.index.namespace_exposed(ns):
            return self._nx(zone, tags)
        if self.config.pods == "verified":
            tags.add(("pod", ns, ip))
            if not any(p.namespace == ns and p.running for p in self.index.pods_by_ip(ip)):
                return self._nx(zone, tags)
        rr = self._addresses(qname, [ip], qtype)
        return Answer(rr=rr, tags=tags) if rr else self._nodata(zone, tags)

    def _reverse(self, ip: str, qname: DNSLabel, zone: list[bytes], qtype: int) -> Answer:
        tags: set[Tag] = {("ip", ip)}
        targets: list[str] = []
        for svc in self.index.services_by_ip(ip):
            if self.index.namespace_exposed(svc.namespace):
                targets.append(f"{svc.name}.{svc.namespace}.svc.{self.primary}")
        if not targets:
            for (ns, svc_name), address in self.index.endpoints_by_ip(ip):
                owner = self.index.service(ns, svc_name)
                if owner is None or owner.is_external or not self.index.namespace_exposed(ns):
                    continue
                target = f"{address.label}.{svc_name}.{ns}.svc.{self.primary}"
                if target not in targets:
                    targets.append(target)
        if not targets:
            return self._nx(zone, tags)
        if qtype != _PTR:
            return self._nodata(zone, tags)
        rr = [RR(qname, _PTR, ttl=self.ttl, rdata=PTR(DNSLabel(t))) for t in targets]
        return Answer(rr=rr, tags=tags)


@lru_cache(maxsize=1 << 16)
def _address(ip: str) -> A | AAAA:
    """The rdata of an address, parsed once: rdata objects are shared, never changed in place."""
    return AAAA(ip) if ":" in ip else A(ip)


def _matching(ports: Sequence[Port], name: str, protocol: str) -> list[Port]:
    """Named ports whose name and protocol match an SRV query (spec 1.1.0 section 2.4.2)."""
    return [p for p in ports if p.name and p.name == name and p.protocol.lower() == protocol]


def _weight(count: int) -> int:
    # CoreDNS plugin/backend_lookup.go SRV(): equal weights summing to about 100.
    return int(100 / count) if count else 0
