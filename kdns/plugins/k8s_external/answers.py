"""Names of a k8s_external zone -> records from the kubernetes plugin's ClusterIndex.

CoreDNS plugin/k8s_external (external.go, apex.go, msg_to_dns.go) with plugin/kubernetes/external.go,
which parses the name and looks the service up:

  <zone>                        SOA, NS (ns1.<apex>.<zone>); anything else NODATA
  <apex>.<zone>                 exists, no data
  ns1.<apex>.<zone>             A/AAAA: the external addresses of the kube-dns service
  <ns>.<zone>                   exists (NODATA) when the namespace does
  <svc>.<ns>.<zone>             A/AAAA/SRV of the service's externalIPs and load balancer ingress
                                (a hostname there is a CNAME); with `headless`, a headless
                                service's ready endpoints instead
  <endpoint>.<svc>.<ns>.<zone>  with `headless`: the endpoint of a headless service of that label
  _<port>._<proto>.<svc>.<ns>.<zone>   SRV of the matching ports (`*` or `any`: every one)

Other types of a name that exists: NODATA. Every negative answer carries the zone's SOA. Answers
carry the index's fast-path tags (index.py), as the kubernetes plugin's do.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from dnslib import QTYPE, RCODE, RR

from kdns.message import Labels, Record
from kdns.plugins.k8s_external.config import Config
from kdns.plugins.kubernetes.index import ClusterIndex, Tag
from kdns.plugins.kubernetes.objects import Port
from kdns.plugins.kubernetes.records import address_rdata, address_records

_A, _AAAA, _SRV, _SOA, _NS, _CNAME = QTYPE.A, QTYPE.AAAA, QTYPE.SRV, QTYPE.SOA, QTYPE.NS, QTYPE.CNAME
_NOERROR, _NXDOMAIN = int(RCODE.NOERROR), int(RCODE.NXDOMAIN)
_SOA_TIMES = struct.Struct("!IIIII")
_SRV_FIXED = struct.Struct("!HHH")
# The name server's service, whose external addresses ns1.<apex>.<zone> has (CoreDNS: the services
# of its own pod; every cluster names it so).
NS_SERVICE = ("kube-system", "kube-dns")
_WILDCARDS = ("*", "any")


@dataclass(slots=True)
class Answer:
    rcode: int = _NOERROR
    rr: list[RR] = field(default_factory=list)
    auth: list[RR] = field(default_factory=list)
    ar: list[RR] = field(default_factory=list)
    tags: set[Tag] = field(default_factory=set)
    # Load balancer hostnames answered with a CNAME, whose addresses are still to be looked up.
    chase: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Host:
    """One (address or hostname, port) of a service, as CoreDNS's msg.Service."""

    host: str
    port: int | None  # None: the service or endpoint declares no port
    label: str  # the endpoint's label under the service (headless), else ""


class Answers:
    def __init__(self, index: ClusterIndex, config: Config) -> None:
        self.index = index
        self.config = config
        self.ttl = config.ttl
        self.apex = config.apex.encode()

    def lookup(self, qname: Labels, labels: Sequence[str], zone_len: int, qtype: int) -> Answer:
        """The answer for qname (as asked; labels: lowercased) in a zone of zone_len labels."""
        zone = qname[len(qname) - zone_len :]
        rel = labels[: len(labels) - zone_len]
        if not rel:
            return self._apex(zone, qtype)
        if rel[-1] == self.config.apex:
            return self._sub_apex(rel, qname, zone, qtype)
        # SRV targets are written lowercase, as CoreDNS builds them from the zone it matched.
        zone_lower = tuple(label.encode("latin-1") for label in labels[len(labels) - zone_len :])
        return self._external(rel, qname, zone, zone_lower, qtype)

    # -- the zone's own records (apex.go) ----------------------------------------------------

    def soa(self, zone: Labels) -> Record:
        dns = (self.apex,) + zone
        times = _SOA_TIMES.pack(self.index.serial, 7200, 1800, 86400, self.ttl)
        return Record(zone, _SOA, self.ttl, ((b"ns1",) + dns, (b"hostmaster",) + dns, times))

    def _negative(self, rcode: int, zone: Labels, tags: set[Tag]) -> Answer:
        return Answer(rcode, auth=[self.soa(zone)], tags=tags)

    def _apex(self, zone: Labels, qtype: int) -> Answer:
        if qtype == _SOA:
            return Answer(rr=[self.soa(zone)], tags={("soa",)})
        if qtype == _NS:
            target = (b"ns1", self.apex) + zone
            glue = self._addresses(target, self._ns_addresses(), None)
            return Answer(rr=[Record(zone, _NS, self.ttl, (target,))], ar=glue, tags=set(_NS_TAGS))
        return self._negative(_NOERROR, zone, set())

    def _sub_apex(self, rel: Sequence[str], qname: Labels, zone: Labels, qtype: int) -> Answer:
        if len(rel) == 1:
            return self._negative(_NOERROR, zone, set())
        if len(rel) != 2 or rel[0] != "ns1":
            return self._negative(_NXDOMAIN, zone, set())
        rr = self._addresses(qname, self._ns_addresses(), qtype) if qtype in (_A, _AAAA) else []
        return Answer(rr=rr, tags=set(_NS_TAGS)) if rr else self._negative(_NOERROR, zone, set(_NS_TAGS))

    def _ns_addresses(self) -> list[str]:
        svc = self.index.service(*NS_SERVICE)
        if svc is None or not self.index.namespace_exposed(NS_SERVICE[0]):
            return []
        return [h for h in svc.external_ips if _is_ip(h)]

    # -- services (kubernetes/external.go, msg_to_dns.go) -----------------------------------

    def _external(
        self, rel: Sequence[str], qname: Labels, zone: Labels, zone_lower: Labels, qtype: int
    ) -> Answer:
        namespace = rel[-1]
        tags: set[Tag] = {("ns", namespace)}
        if not self.index.namespace_exposed(namespace):
            return self._negative(_NXDOMAIN, zone, tags)
        if len(rel) == 1:
            return self._negative(_NOERROR, zone, tags)
        service = rel[-2]
        tags.add(("svc", namespace, service))
        rest = rel[:-2]
        endpoint = port = protocol = "*"
        if len(rest) == 1 and self.config.headless:
            endpoint = _strip_underscore(rest[0])
        elif len(rest) == 2:
            port, protocol = _strip_underscore(rest[0]), _strip_underscore(rest[1])
        elif rest:
            return self._negative(_NXDOMAIN, zone, tags)
        hosts = self._hosts(namespace, service, endpoint, port, protocol, by_endpoint=len(rest) == 1)
        if not hosts:
            return self._negative(_NXDOMAIN, zone, tags)
        answer = Answer(tags=tags)
        if qtype in (_A, _AAAA):
            self._address_answer(answer, hosts, qname, qtype)
        elif qtype == _SRV:
            base = (service.encode(), namespace.encode()) + zone_lower
            self._srv_answer(answer, hosts, qname, base)
        if not answer.rr:
            answer.auth = [self.soa(zone)]
        return answer

    def _hosts(
        self, namespace: str, service: str, endpoint: str, port: str, protocol: str, by_endpoint: bool
    ) -> list[Host]:
        svc = self.index.service(namespace, service)
        if svc is None or svc.is_external:
            return []
        out: list[Host] = []
        if self.config.headless and svc.headless:
            for a in self.index.endpoints(namespace, service).addresses:
                if not _match(endpoint, a.label):
                    continue
                for p in _ports(a.ports):
                    if _port_matches(p, port, protocol):
                        out.append(Host(a.ip, p.port if p is not None else None, a.label))
            return out
        if by_endpoint:
            # <label>.<svc> names an endpoint, and only a headless service's (CoreDNS would answer
            # the service's own external addresses for any label here).
            return []
        for host in svc.external_ips:
            for p in _ports(svc.ports):
                if _port_matches(p, port, protocol):
                    out.append(Host(host, p.port if p is not None else None, ""))
        return out

    def _address_answer(self, answer: Answer, hosts: list[Host], qname: Labels, qtype: int) -> None:
        seen: set[str] = set()
        for h in hosts:
            if h.host in seen:
                continue
            seen.add(h.host)
            if not _is_ip(h.host):
                # A load balancer known by name (AWS ELB): CNAME, then its addresses (the handler).
                answer.rr.append(Record(qname, _CNAME, self.ttl, (tuple(h.host.encode().split(b".")),)))
                answer.chase.append(h.host)
                continue
            rtype, parts = address_rdata(h.host)
            if rtype == qtype:
                answer.rr.append(Record(qname, rtype, self.ttl, parts))

    def _srv_answer(self, answer: Answer, hosts: list[Host], qname: Labels, base: Labels) -> None:
        # One priority, equal weights summing to about 100 (msg_to_dns.go srv()); at least 1.
        weight = max(1, int(100 / len(hosts)))
        records: set[tuple[Labels, int]] = set()
        glue: set[tuple[Labels, str]] = set()
        for h in hosts:
            if h.port is None:
                continue
            target = ((h.label.encode(),) if h.label else ()) + base
            if (target, h.port) not in records:
                records.add((target, h.port))
                answer.rr.append(Record(qname, _SRV, self.ttl, (_SRV_FIXED.pack(0, weight, h.port), target)))
            if _is_ip(h.host) and (target, h.host) not in glue:
                glue.add((target, h.host))
                rtype, parts = address_rdata(h.host)
                answer.ar.append(Record(target, rtype, self.ttl, parts))

    def _addresses(self, owner: Labels, ips: Sequence[str], qtype: int | None) -> list[RR]:
        return address_records(owner, ips, qtype, self.ttl)


# What the name server's records depend on (each answer gets its own copy).
_NS_TAGS: frozenset[Tag] = frozenset({("svc", *NS_SERVICE), ("ns", NS_SERVICE[0])})


def _ports(ports: Sequence[Port]) -> Sequence[Port | None]:
    """A service's or endpoint's ports; (None,) when it declares none (CoreDNS's port -1)."""
    return ports or (None,)


def _strip_underscore(label: str) -> str:
    return label[1:] if label.startswith("_") else label


def _match(wanted: str, have: str) -> bool:
    """CoreDNS kubernetes match(): either side a wildcard (`*`, `any`), else equal."""
    return wanted in _WILDCARDS or have in _WILDCARDS or wanted == have


def _port_matches(p: Port | None, port: str, protocol: str) -> bool:
    name, proto = (p.name, p.protocol.lower()) if p is not None else ("", "")
    return _match(port, name) and _match(protocol, proto)


@lru_cache(maxsize=1 << 12)
def _is_ip(host: str) -> bool:
    """An address, not a load balancer's hostname (Service.external_ips holds both)."""
    try:
        address_rdata(host)
    except OSError:
        return False
    return True
