"""Index hits -> DNS records, for every row of design.md section 4 (Kubernetes DNS spec 1.1.0).

Owner names are built from the question's own labels (as they came on the wire), so the answer
echoes the client's spelling and the packer compresses them against the question. Records are
kdns.message Records (label tuples and packed rdata), which the packer writes without taking dnslib
objects apart. Every answer lists the fast-path tags it depends on (see index.py); an answer whose
content depends on nothing that can change carries an empty tag set.
"""

from __future__ import annotations

import ipaddress
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from socket import AF_INET, AF_INET6, inet_pton

from dnslib import QTYPE, RCODE, RR

from kdns.corefile.keys import unreachable
from kdns.message import Labels, Parts, Record, labels_of
from kdns.plugins.kubernetes import reasons
from kdns.plugins.kubernetes.config import Config
from kdns.plugins.kubernetes.index import NO_ENDPOINTS, ClusterIndex, EndpointAddress, Tag
from kdns.plugins.kubernetes.multicluster import ServiceImports
from kdns.plugins.kubernetes.names import Kind, Name, parse
from kdns.plugins.kubernetes.objects import Port, Service

log = logging.getLogger(__name__)

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
_NOERROR, _NXDOMAIN = int(RCODE.NOERROR), int(RCODE.NXDOMAIN)
_NS_DNS = (b"ns", b"dns")
_SOA_TIMES = struct.Struct("!IIIII")
_SRV_FIXED = struct.Struct("!HHH")
# RFC 1035 section 3.3.14: one character-string.
_VERSION_TXT = bytes((len(DNS_SCHEMA_VERSION),)) + DNS_SCHEMA_VERSION.encode()


@dataclass(slots=True)
class Answer:
    rcode: int = RCODE.NOERROR
    rr: list[RR] = field(default_factory=list)
    auth: list[RR] = field(default_factory=list)
    ar: list[RR] = field(default_factory=list)
    tags: set[Tag] = field(default_factory=set)
    # An ExternalName target still to chase for A/AAAA: lowercase, without the trailing dot.
    chase: str = ""
    # A negative answer's rule (reasons.py), for `kdns explain`.
    why: str = ""


class Records:
    def __init__(self, index: ClusterIndex, config: Config, zones: Sequence[str]) -> None:
        self.index = index
        self.config = config
        self.ttl = config.ttl
        self.zones = tuple(zones)
        forward = [z for z in self.zones if not z.endswith(".arpa.") and not unreachable(z)]
        # PTR targets live in the first forward zone (CoreDNS primaryZone). Not in a zone written
        # with a leading dot, which CoreDNS would pick when listed first, making PTR targets no
        # message can carry: that zone serves nothing else either.
        self.primary = (forward or list(self.zones) or ["cluster.local."])[0]
        # The SOA of each zone spelling at the current serial: every negative answer carries one.
        # Records are never changed in place once answered (a plugin copies a Response first).
        self._soas: dict[tuple[Labels, int], Record] = {}
        # ExternalName services whose target is an IP address, logged once each (not per query).
        self._ip_targets_logged: set[tuple[str, str, str]] = set()
        # `multicluster`: the zones (as lowercase label tuples) answered from ServiceImports.
        self._mc_zones = frozenset(
            tuple(z.rstrip(".").split(".")) for z in config.multicluster_zones(self.zones) if z != "."
        )
        imports = index.imports
        self._imports = imports if isinstance(imports, ServiceImports) else ServiceImports()

    def _in_multicluster_zone(self, labels: Sequence[str], zone_len: int) -> bool:
        return bool(self._mc_zones) and tuple(labels[len(labels) - zone_len :]) in self._mc_zones

    def name_of(self, labels: Sequence[str], zone_len: int) -> Name:
        """What a name (lowercase labels) under a zone of ours is, with this plugin's options."""
        multicluster = self._in_multicluster_zone(labels, zone_len)
        return parse(labels, zone_len, multicluster, self.config.zonal and not multicluster)

    def lookup(self, wire_labels: Sequence[bytes], labels: Sequence[str], zone_len: int, qtype: int) -> Answer:
        """The answer for a name (wire_labels as asked, labels lowercased) in a zone of ours."""
        # Checked here first: without `multicluster` (nearly always) no call per query.
        multicluster = bool(self._mc_zones) and self._in_multicluster_zone(labels, zone_len)
        name = parse(labels, zone_len, multicluster, self.config.zonal and not multicluster)
        kind = name.kind
        qname = tuple(wire_labels)
        zone = qname[len(qname) - zone_len :]
        if kind is Kind.APEX:
            return self._apex(zone, qtype)
        if kind is Kind.SERVICE or kind is Kind.ENDPOINT or kind is Kind.PORT:
            return self._service(name, qname, zone, qtype, self._imports if multicluster else None)
        if kind is Kind.ZONAL:
            return self._zonal(name, qname, zone, qtype)
        if kind is Kind.REVERSE:
            return self._reverse(name.ip, qname, zone, qtype)
        if kind is Kind.POD:
            return self._pod(name, qname, zone, qtype)
        if kind is Kind.NAMESPACE:
            tags: set[Tag] = {("ns", name.namespace)}
            if self.index.namespace_exposed(name.namespace):
                return self._nodata(zone, tags, reasons.NO_TYPE)
            return self._nx(zone, tags, reasons.NO_NAMESPACE)
        if kind is Kind.POD_NAMESPACE:
            tags = {("ns", name.namespace)}
            if self.config.pods != "disabled" and self.index.namespace_exposed(name.namespace):
                return self._nodata(zone, tags, reasons.NO_TYPE)
            disabled = self.config.pods == "disabled"
            return self._nx(zone, tags, reasons.PODS_DISABLED if disabled else reasons.NO_NAMESPACE)
        if kind is Kind.SVC_ROOT or kind is Kind.POD_ROOT:
            return self._nodata(zone, set(), reasons.NO_TYPE)
        if kind is Kind.DNS_VERSION:
            if qtype == _TXT:
                return Answer(rr=[Record(qname, _TXT, self.ttl, _VERSION_TXT)])
            return self._nodata(zone, set(), reasons.NO_TYPE)
        if kind is Kind.NS_DNS:
            tags = {("svc", *NS_SERVICE), ("ns", NS_SERVICE[0])}
            svc = self._ns_service()
            rr = self._addresses(qname, svc.cluster_ips if svc else (), qtype)
            return Answer(rr=rr, tags=tags) if rr else self._nodata(zone, tags, reasons.NO_TYPE)
        return self._nx(zone, set(), reasons.NOT_A_NAME)

    # -- negative answers (RFC 2308): the zone's SOA in the authority section ----------------

    def soa(self, zone: Labels) -> Record:
        key = (zone, self.index.serial)
        rr = self._soas.get(key)
        if rr is None:
            if len(self._soas) >= MAX_SOAS:
                self._soas.clear()
            rr = self._soas[key] = self._new_soa(zone)
        return rr

    def _new_soa(self, zone: Labels) -> Record:
        minimum = self.ttl
        times = _SOA_TIMES.pack(self.index.serial, 7200, 1800, 86400, minimum)
        return Record(zone, _SOA, min(minimum, MAX_SOA_TTL), (_NS_DNS + zone, (b"hostmaster",) + zone, times))

    def _nx(self, zone: Labels, tags: set[Tag], reason: str) -> Answer:
        return Answer(_NXDOMAIN, auth=[self.soa(zone)], tags=tags, why=reason)

    def _nodata(self, zone: Labels, tags: set[Tag], reason: str) -> Answer:
        return Answer(_NOERROR, auth=[self.soa(zone)], tags=tags, why=reason)

    # -- rows ---------------------------------------------------------------------------------

    def _apex(self, zone: Labels, qtype: int) -> Answer:
        if qtype == _SOA:
            return Answer(rr=[self.soa(zone)], tags={("soa",)})
        if qtype == _NS:
            tags: set[Tag] = {("svc", *NS_SERVICE), ("ns", NS_SERVICE[0])}
            svc = self._ns_service()
            if svc is None:
                return Answer(rr=[Record(zone, _NS, self.ttl, (_NS_DNS + zone,))], tags=tags)
            target = labels_of(f"{svc.name}.{svc.namespace}.svc.{self.primary}")
            glue = self._addresses(target, svc.cluster_ips, None)
            return Answer(rr=[Record(zone, _NS, self.ttl, (target,))], ar=glue, tags=tags)
        return self._nodata(zone, set(), reasons.NO_TYPE)

    def _ns_service(self) -> Service | None:
        svc = self.index.service(*NS_SERVICE)
        if svc is None or not svc.cluster_ips or not self.index.namespace_exposed(NS_SERVICE[0]):
            return None
        return svc

    def _addresses(self, owner: Labels, ips: Sequence[str], qtype: int | None) -> list[RR]:
        return address_records(owner, ips, qtype, self.ttl)

    def _service(
        self, name: Name, qname: Labels, zone: Labels, qtype: int, imports: ServiceImports | None = None
    ) -> Answer:
        """A service's names; in a multicluster zone (imports) the ServiceImport's."""
        ns, svc_name = name.namespace, name.service
        source: ClusterIndex | ServiceImports = self.index if imports is None else imports
        tags: set[Tag] = {("ns", ns), ("svc" if imports is None else imports.tag, ns, svc_name)}
        if not self.index.namespace_exposed(ns):
            return self._nx(zone, tags, reasons.NO_NAMESPACE)
        svc = source.service(ns, svc_name)
        if svc is None:
            return self._nx(zone, tags, reasons.NO_SERVICE)
        if svc.is_external:
            # External services cannot have endpoints or ports below them (surprise 1 in
            # k8s-api/FIELDS.md: stale slices of an ExternalName service are ignored).
            if name.kind is not Kind.SERVICE:
                return self._nx(zone, tags, reasons.BELOW_EXTERNAL)
            if self._ip_target(svc):
                return self._nx(zone, tags, reasons.IP_EXTERNAL)
            target = labels_of(svc.external_name + ".")
            answer = Answer(rr=[Record(qname, _CNAME, self.ttl, (target,))], tags=tags)
            if qtype in (_A, _AAAA):
                answer.chase = svc.external_name
            return answer
        uses_endpoints = svc.headless or name.kind is Kind.ENDPOINT
        if uses_endpoints and self.config.noendpoints:
            return self._nx(zone, tags, reasons.NOENDPOINTS)
        if (
            self.config.ignore_empty_service
            and not svc.headless
            and not source.endpoints(ns, svc_name).addresses
        ):
            return self._nx(zone, tags, reasons.IGNORE_EMPTY)
        # A ClusterIP service's own names (most queries) never need its endpoints: not looked up.
        endpoints = source.endpoints(ns, svc_name) if uses_endpoints else NO_ENDPOINTS
        if name.kind is Kind.ENDPOINT:
            found = endpoints.with_label(name.endpoint)
            if not found:
                return self._nx(zone, tags, reasons.NO_ENDPOINT)
            if qtype == _SRV:
                return self._srv_endpoints(found, None, "", qname, qname, zone, tags, own_name=True)
            rr = self._addresses(qname, [a.ip for a in found], qtype)
            return Answer(rr=rr, tags=tags) if rr else self._nodata(zone, tags, reasons.NO_TYPE)
        base = qname[2:] if name.kind is Kind.PORT else qname
        if svc.headless:
            if not endpoints.addresses:
                return self._nx(zone, tags, reasons.HEADLESS_EMPTY)
            if name.kind is Kind.PORT:
                matching = [a for a in endpoints.addresses if _matching(a.ports, name.port, name.protocol)]
                if not matching:
                    return self._nx(zone, tags, reasons.NO_PORT)
                if qtype != _SRV:
                    return self._nodata(zone, tags, reasons.NO_TYPE)
                return self._srv_endpoints(matching, name.port, name.protocol, qname, base, zone, tags)
            if qtype == _SRV:
                return self._srv_endpoints(endpoints.addresses, None, "", qname, qname, zone, tags)
            rr = self._addresses(qname, [a.ip for a in endpoints.addresses], qtype)
            return Answer(rr=rr, tags=tags) if rr else self._nodata(zone, tags, reasons.NO_TYPE)
        # ClusterIP, NodePort, LoadBalancer: the cluster IPs, with or without endpoints.
        if name.kind is Kind.PORT:
            ports = _matching(svc.ports, name.port, name.protocol)
            if not ports:
                return self._nx(zone, tags, reasons.NO_PORT)
            if qtype != _SRV:
                return self._nodata(zone, tags, reasons.NO_TYPE)
            return self._srv_cluster(ports, base, qname, svc, tags)
        if qtype == _SRV:
            if not svc.ports:
                return self._nodata(zone, tags, reasons.NO_SRV_PORTS)
            return self._srv_cluster(list(svc.ports), qname, qname, svc, tags)
        rr = self._addresses(qname, svc.cluster_ips, qtype)
        return Answer(rr=rr, tags=tags) if rr else self._nodata(zone, tags, reasons.NO_TYPE)

    def _ip_target(self, svc: Service) -> bool:
        """An externalName that is an IP address: Kubernetes documents such names as not resolved,
        and CoreDNS answers NXDOMAIN; a CNAME to "192.0.2.99." would point at a name nobody has."""
        if not _is_address(svc.external_name):
            return False
        key = (svc.namespace, svc.name, svc.external_name)
        if key not in self._ip_targets_logged:
            self._ip_targets_logged.add(key)
            log.info(
                "ExternalName service %s/%s: externalName %s is an IP address, not a name; answering NXDOMAIN",
                svc.namespace, svc.name, svc.external_name,
            )
        return True

    def _srv_cluster(
        self, ports: Sequence[Port], target: Labels, qname: Labels, svc: Service, tags: set[Tag]
    ) -> Answer:
        numbers = list(dict.fromkeys(p.port for p in ports if p.port is not None))
        weight = _weight(len(numbers))
        rr: list[RR] = [Record(qname, _SRV, self.ttl, _srv(weight, n, target)) for n in numbers]
        return Answer(rr=rr, ar=self._addresses(target, svc.cluster_ips, None), tags=tags)

    def _srv_endpoints(
        self,
        addresses: Sequence[EndpointAddress],
        port: str | None,
        protocol: str,
        qname: Labels,
        service_name: Labels,
        zone: Labels,
        tags: set[Tag],
        own_name: bool = False,
    ) -> Answer:
        """One SRV per endpoint x port (port None: every port), target the endpoint's name."""
        ips_by_label: dict[str, list[str]] = {}
        # (label, port) pairs in the order first seen (a dict as an ordered set).
        records: dict[tuple[str, int], None] = {}
        for a in addresses:
            ports = a.ports if port is None else _matching(a.ports, port, protocol)
            for p in ports:
                if p.port is not None:
                    records[(a.label, p.port)] = None
            ips_by_label.setdefault(a.label, []).append(a.ip)
        if not records:
            return self._nodata(zone, tags, reasons.NO_SRV_PORTS)
        weight = _weight(len(records))
        targets: dict[str, Labels] = {}
        rr: list[RR] = []
        for label, number in records:
            target = targets.get(label)
            if target is None:
                # A multicluster endpoint's label is two: `<label>.<cluster>`.
                target = targets[label] = qname if own_name else tuple(label.encode().split(b".")) + service_name
            rr.append(Record(qname, _SRV, self.ttl, _srv(weight, number, target)))
        ar = []
        for label, ips in ips_by_label.items():
            target = targets.get(label)
            if target is not None:
                ar.extend(self._addresses(target, ips, None))
        return Answer(rr=rr, ar=ar, tags=tags)

    def _zonal(self, name: Name, qname: Labels, zone: Labels, qtype: int) -> Answer:
        """`<topology-zone>._zone.<svc>.<ns>.svc`: a headless service's ready endpoints in that
        zone; NODATA when the zone is known but holds none of them; NXDOMAIN for a zone no
        endpoint was ever in, and for services that are not headless (CoreDNS `zonal`)."""
        ns, svc_name, topology = name.namespace, name.service, name.topology
        tags: set[Tag] = {("ns", ns), ("svc", ns, svc_name), ("zonal", ns, svc_name), ("zone", topology)}
        if not self.index.namespace_exposed(ns):
            return self._nx(zone, tags, reasons.NO_NAMESPACE)
        if self.config.noendpoints:
            return self._nx(zone, tags, reasons.NOENDPOINTS)
        svc = self.index.service(ns, svc_name)
        if svc is None:
            return self._nx(zone, tags, reasons.NO_SERVICE)
        if not svc.headless:
            return self._nx(zone, tags, reasons.ZONAL_NOT_HEADLESS)
        if not self.index.zone_known(topology):
            return self._nx(zone, tags, reasons.ZONAL_UNKNOWN)
        found = self.index.zone_endpoints(ns, svc_name, topology).addresses
        if not found:
            return self._nodata(zone, tags, reasons.ZONAL_EMPTY)
        if qtype == _SRV:
            return self._srv_endpoints(found, None, "", qname, qname[2:], zone, tags)
        rr = self._addresses(qname, [a.ip for a in found], qtype)
        return Answer(rr=rr, tags=tags) if rr else self._nodata(zone, tags, reasons.NO_TYPE)

    def _pod(self, name: Name, qname: Labels, zone: Labels, qtype: int) -> Answer:
        ns, ip = name.namespace, name.ip
        if self.config.pods == "disabled":
            return self._nx(zone, set(), reasons.PODS_DISABLED)
        tags: set[Tag] = {("ns", ns)}
        if not self.index.namespace_exposed(ns):
            return self._nx(zone, tags, reasons.NO_NAMESPACE)
        if self.config.pods == "verified":
            tags.add(("pod", ns, ip))
            if not any(p.namespace == ns and p.running for p in self.index.pods_by_ip(ip)):
                return self._nx(zone, tags, reasons.POD_NOT_RUNNING)
        rr = self._addresses(qname, [ip], qtype)
        return Answer(rr=rr, tags=tags) if rr else self._nodata(zone, tags, reasons.NO_TYPE)

    def _reverse(self, ip: str, qname: Labels, zone: Labels, qtype: int) -> Answer:
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
            return self._nx(zone, tags, reasons.NO_ADDRESS)
        if qtype != _PTR:
            return self._nodata(zone, tags, reasons.NO_TYPE)
        rr: list[RR] = [Record(qname, _PTR, self.ttl, (labels_of(t),)) for t in targets]
        return Answer(rr=rr, tags=tags)


def address_records(owner: Labels, ips: Sequence[str], qtype: int | None, ttl: int) -> list[RR]:
    """A/AAAA records of owner for the ips of the asked family (both when qtype is None)."""
    out: list[RR] = []
    # Duplicates dropped, in order; one address (most services) has none to drop.
    for ip in ips if len(ips) < 2 else dict.fromkeys(ips):
        rtype, parts = address_rdata(ip)
        if qtype is None or qtype == rtype:
            out.append(Record(owner, rtype, ttl, parts))
    return out


@lru_cache(maxsize=1 << 16)
def address_rdata(ip: str) -> tuple[int, Parts]:
    """The type and rdata of an address (normalised, as the index keeps them), packed once;
    OSError when ip is no address."""
    if ":" in ip:
        return _AAAA, inet_pton(AF_INET6, ip)
    return _A, inet_pton(AF_INET, ip)


@lru_cache(maxsize=1024)
def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _srv(weight: int, port: int, target: Labels) -> Parts:
    return (_SRV_FIXED.pack(0, weight, port), target)


def _matching(ports: Sequence[Port], name: str, protocol: str) -> list[Port]:
    """Named ports whose name and protocol match an SRV query (spec 1.1.0 section 2.4.2)."""
    return [p for p in ports if p.name and p.name == name and p.protocol.lower() == protocol]


def _weight(count: int) -> int:
    # CoreDNS plugin/backend_lookup.go SRV(): equal weights summing to about 100.
    return int(100 / count) if count else 0
