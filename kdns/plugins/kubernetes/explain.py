"""`kdns explain NAME [TYPE]` (kdns extension): which Kubernetes objects made an answer, and by which rule.

The answer is the plugin's own (the handler is asked, as a query would ask it, on a copy whose next
plugin only records that it was reached: nothing is handed on; an ExternalName target outside the
cluster zones is resolved as the query's would be), printed as dig prints it. Then each record, with the rule of the Kubernetes DNS specification or the option that
produced it and the objects behind it (kind, namespace/name, resourceVersion); a negative answer
names its reason (reasons.py, chosen where records.py decides).

Two ways in: offline on manifests (explain_cli.py: `kdns explain --manifests DIR NAME`), and against a
running kdns through the opt-in `explain` endpoint of the kubernetes block (GET /explain?name=&type=),
which listens on loopback unless configured otherwise: it shows names and addresses, which
/metrics deliberately does not.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from dnslib import QTYPE, RCODE, DNSRecord

from kdns.plugins.kubernetes import reasons
from kdns.plugins.kubernetes.index import ClusterIndex
from kdns.plugins.kubernetes.names import Kind, Name, ip_label
from kdns.plugins.kubernetes.records import NS_SERVICE
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import pack, parse_query
from kdns.server.http import HttpRequest, HttpResponse

# The kubernetes plugin's Handler (handler.py imports this module for its endpoint, so not back).
Handler = Any

NEXT = "(next plugin)"


@dataclass(frozen=True)
class Because:
    """One line of the explanation: a record (zone text; "" for the rcode), its rule, its objects."""

    record: str
    rule: str
    objects: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.record] if self.record else []
        lines.append(f"    {self.rule}")
        lines.extend(f"    from {o}" for o in self.objects)
        return "\n".join(lines)


async def next_plugin(req: Request) -> Response:
    """Stands for the plugins after kubernetes: explaining asks nobody else."""
    return req.answer(RCODE.NXDOMAIN, plugin=NEXT)


async def explain(handler: Handler, name: str, qtype: str = "A") -> str:
    """The answer to NAME TYPE as dig shows it, then why, record by record; ValueError when NAME
    is no DNS name (an empty label, a label or name too long)."""
    name = name if name.endswith(".") else name + "."
    try:
        packed = DNSRecord.question(name, qtype).pack()
    except Exception as e:  # dnslib's DNSLabelError or the idna codec's UnicodeError, by the fault
        raise ValueError(f"{name!r} is not a DNS name: {e}") from None
    req = parse_query(packed)
    probe = copy.copy(handler)
    probe.next = next_plugin
    resp = await probe(req)
    msg = DNSRecord.parse(pack(req, resp.msg)[0])
    out = [str(msg), "", ";; WHY:"]
    out.extend(b.text() for b in Explainer(handler).because(msg, resp.plugin))
    return "\n".join(out) + "\n"


async def http_explain(handler: Handler, request: HttpRequest) -> HttpResponse:
    """GET /explain?name=NAME&type=TYPE (TYPE defaults to A): the explanation as text."""
    name = request.query.get("name", "")
    qtype = request.query.get("type", "A").upper()
    if not name or qtype not in QTYPE.reverse:
        return HttpResponse("want /explain?name=NAME[&type=TYPE]\n", 400)
    try:
        return HttpResponse(await explain(handler, name, qtype))
    except ValueError as e:
        return HttpResponse(f"cannot explain {name!r} {qtype}: {e}\n", 400)


class Explainer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.index: ClusterIndex = handler.index
        self.config = handler.config

    def because(self, msg: DNSRecord, plugin: str) -> list[Because]:
        rcode = RCODE.get(msg.header.rcode)
        qname = str(msg.q.qname).lower()
        qtype = msg.q.qtype
        if plugin == NEXT:
            return [Because("", f"{rcode}: in a `fallthrough` zone, handed to the next plugin", ())]
        if msg.header.rcode == RCODE.SERVFAIL:
            return [Because("", "SERVFAIL: the API has not been listed yet, so a name that does not exist "
                                "cannot be told from one not seen yet (startup_timeout passed)")]
        out = [self._record(rr) for rr in msg.rr + msg.ar]
        soas = [rr for rr in msg.auth if rr.rtype == QTYPE.SOA]
        if soas:
            out.append(self._negative(qname, qtype, msg, soas[0].toZone()))
        return out

    # -- names and objects -----------------------------------------------------------------

    def _name(self, owner: str) -> Name | None:
        found = self._zone(owner)
        return None if found is None else self.handler.records.name_of(*found)

    def _zone(self, owner: str) -> tuple[list[str], int] | None:
        """The owner's labels and the label count of the deepest zone of ours it is in."""
        labels = owner.rstrip(".").split(".") if owner != "." else []
        zone_len = self.handler._zone_of(labels)
        return None if zone_len is None else (labels, zone_len)

    def _object(self, kind: str, namespace: str, name: str) -> str:
        version = self.index.version(kind, (namespace, name))
        where = f"{namespace}/{name}" if namespace else name
        return f"{kind} {where} (resourceVersion {version or 'unknown'})"

    def _service(self, ns: str, svc: str) -> tuple[str, ...]:
        return (self._object("Service", ns, svc),) if self.index.service(ns, svc) is not None else ()

    def _endpoint(self, ns: str, svc: str, ip: str, label: str) -> Because:
        """The rule and objects of one ready endpoint address of a service."""
        kind = "Endpoints" if self.config.endpoints_legacy else "EndpointSlice"
        slices = [s.name for s in self.index.slices(ns, svc)
                  if any(ep.ready and ip in ep.addresses for ep in s.endpoints)]
        if label == ip_label(ip):
            named = f"(no hostname: named by its address `{label}`)"
        elif self.config.endpoint_pod_names and not self._has_hostname(ns, svc, ip, label):
            named = f"named by its pod `{label}` (`endpoint_pod_names`)"
        else:
            named = f"with hostname {label}"
        return Because("", f"ready endpoint {ip} {named} in {kind} {', '.join(slices)}",
                       self._service(ns, svc) + tuple(self._object(kind, ns, n) for n in slices))

    def _has_hostname(self, ns: str, svc: str, ip: str, label: str) -> bool:
        endpoints = (ep for s in self.index.slices(ns, svc) for ep in s.endpoints)
        return any(ep.hostname == label and ip in ep.addresses for ep in endpoints)

    # -- records -----------------------------------------------------------------------------

    def _record(self, rr: Any) -> Because:
        text = rr.toZone()
        owner = str(rr.rname).lower()
        rtype = rr.rtype
        name = self._name(owner)
        if name is None:
            return Because(text, "outside the cluster zones: the ExternalName target resolved through "
                                 "the server block's own plugins (forward), not from Kubernetes")
        kind = name.kind
        data = str(rr.rdata).lower()
        if kind is Kind.APEX:
            if rtype == QTYPE.SOA:
                return Because(text, "the zone's SOA; its serial is the time of the last index change")
            return Because(text, "the zone's name server: the kube-dns Service (ns.dns.<zone> without it)",
                           self._service(*NS_SERVICE))
        if kind is Kind.DNS_VERSION:
            return Because(text, "dns-version: the version of the Kubernetes DNS specification served")
        if kind is Kind.NS_DNS:
            return Because(text, "ns.dns.<zone>: the cluster IP of the kube-dns Service", self._service(*NS_SERVICE))
        if kind is Kind.POD:
            if self.config.pods == "verified":
                pods = [p for p in self.index.pods_by_ip(name.ip) if p.namespace == name.namespace and p.running]
                return Because(text, "`pods verified`: a running Pod in the namespace has this address",
                               tuple(self._object("Pod", p.namespace, p.name) for p in pods))
            return Because(text, "`pods insecure`: the address the name spells, in a namespace that exists",
                           (self._object("Namespace", "", name.namespace),))
        if kind is Kind.REVERSE:
            return self._ptr(text, name.ip, data)
        ns, svc_name = name.namespace, name.service
        svc = self.index.service(ns, svc_name)
        if svc is None:
            return Because(text, "(the service is gone)")
        if rtype == QTYPE.CNAME:
            return Because(text, f"ExternalName service {ns}/{svc_name}: a CNAME to its spec.externalName",
                           self._service(ns, svc_name))
        if rtype == QTYPE.SRV:
            return self._srv(text, name, svc, data)
        # A / AAAA of a service or of an endpoint name (in the answer, or as an SRV target's address)
        ip = data
        if kind is Kind.SERVICE and not svc.headless:
            return Because(text, f"cluster IP of {svc.type} service {ns}/{svc_name} (spec.clusterIPs)",
                           self._service(ns, svc_name))
        label = next((a.label for a in self.index.endpoints(ns, svc_name).addresses if a.ip == ip), "")
        found = self._endpoint(ns, svc_name, ip, label)
        what = "headless service, " if kind is Kind.SERVICE else f"endpoint name `{name.endpoint}`: "
        return Because(text, what + found.rule, found.objects)

    def _srv(self, text: str, name: Name, svc: Any, data: str) -> Because:
        ns, svc_name = name.namespace, name.service
        _priority, _weight, port, target = data.split()
        which = f"port `_{name.port}._{name.protocol}`" if name.kind is Kind.PORT else "every named port"
        if not svc.headless and name.kind is not Kind.ENDPOINT:
            return Because(text, f"{which} of {svc.type} service {ns}/{svc_name}: port {port}, target the service",
                           self._service(ns, svc_name))
        label = target.split(".", 1)[0]
        found = self.index.endpoints(ns, svc_name).with_label(label)
        ip = found[0].ip if found else ""
        endpoint = self._endpoint(ns, svc_name, ip, label)
        return Because(text, f"{which} of headless service {ns}/{svc_name}: {endpoint.rule}, port {port}",
                       endpoint.objects)

    def _ptr(self, text: str, ip: str, target: str) -> Because:
        for svc in self.index.services_by_ip(ip):
            return Because(text, f"reverse of the cluster IP of {svc.type} service {svc.namespace}/{svc.name}",
                           self._service(svc.namespace, svc.name))
        for (ns, svc_name), address in self.index.endpoints_by_ip(ip):
            if target.startswith(f"{address.label}.{svc_name}.{ns}."):
                found = self._endpoint(ns, svc_name, ip, address.label)
                return Because(text, f"reverse of a {found.rule} of service {ns}/{svc_name}", found.objects)
        return Because(text, "(no object has this address any more)")

    # -- negative answers ----------------------------------------------------------------------

    def _negative(self, qname: str, qtype: int, msg: DNSRecord, soa: str) -> Because:
        """The reason of the last name of the answer's CNAME chain (the name the rcode is about)."""
        last = qname
        for rr in msg.rr:
            if rr.rtype == QTYPE.CNAME and str(rr.rname).lower() == last:
                last = str(rr.rdata).lower()
        rcode = "NXDOMAIN" if msg.header.rcode == RCODE.NXDOMAIN else "NODATA"
        found = self._zone(last)
        if found is None:
            return Because(soa, f"{rcode}: {last} is outside the cluster zones")
        labels, zone_len = found
        name = self.handler.records.name_of(labels, zone_len)
        answer = self.handler.records.lookup([x.encode() for x in labels], labels, zone_len, qtype)
        rule = answer.why.format(
            ns=name.namespace, svc=name.service, endpoint=name.endpoint, port=name.port, proto=name.protocol,
            ip=name.ip, type=QTYPE.get(qtype),
        )
        if answer.why == reasons.NO_NAMESPACE and (self.config.namespaces or self.config.namespace_labels):
            rule += " (or is left out by `namespaces` / `namespace_labels`)"
        if answer.why == reasons.NO_SERVICE and self.config.labels is not None:
            rule += " (or it is left out by `labels`)"
        about = "" if last == qname else f" (about {last}, the end of the CNAME chain)"
        objects: tuple[str, ...] = ()
        if name.service:
            objects = self._service(name.namespace, name.service)
        elif name.namespace and self.index.namespace_exposed(name.namespace):
            objects = (self._object("Namespace", "", name.namespace),)
        return Because(soa, f"{rcode}: {rule}{about}; the zone's SOA says for how long", objects)
