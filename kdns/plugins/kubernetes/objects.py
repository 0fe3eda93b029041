"""Slim frozen copies of the API objects DNS needs, made from raw API dicts at the boundary.

A raw object carries managedFields, annotations, status blocks and more: kilobytes each. The index
keeps only these dataclasses (CoreDNS plugin/kubernetes/object does the same), so 10k services and
100k endpoints fit in little memory. Every constructor takes the dict as the API (or a manifest
file) gives it and raises ValueError, never KeyError or TypeError, for a shape it cannot use: the
watcher logs and skips such an object.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from socket import AF_INET as _AF_INET
from socket import inet_ntop as _inet_ntop
from socket import inet_pton as _inet_pton
from typing import Any, TypeVar, dataclass_transform

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# Multi-Cluster Services API (KEP-1645): an imported slice names its ServiceImport and the cluster
# its endpoints come from.
MC_SERVICE_NAME_LABEL = "multicluster.kubernetes.io/service-name"
MC_SOURCE_CLUSTER_LABEL = "multicluster.kubernetes.io/source-cluster"

Labels = tuple[tuple[str, str], ...]


_Record = TypeVar("_Record")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[_Record]) -> type[_Record]:
    """A slotted dataclass that compares and hashes by value and never changes: the index's objects.

    Frozen for the type checker (mypy refuses an assignment to a field), not at run time: a
    frozen dataclass's __init__ sets each field through object.__setattr__, three times the cost
    of a plain one, and S2 builds 120,000 of these (a fifth of its sync from the API).
    """
    return dataclass(slots=True, unsafe_hash=True)(cls)


@record
class Port:
    name: str
    port: int | None  # None: an EndpointSlice port without a number ("all ports")
    protocol: str  # upper case as the API writes it: TCP, UDP, SCTP


@record
class Namespace:
    name: str
    labels: Labels = ()


@record
class Service:
    namespace: str
    name: str
    type: str  # ClusterIP, NodePort, LoadBalancer, ExternalName
    cluster_ips: tuple[str, ...]  # normalised addresses; empty when headless or ExternalName
    headless: bool
    external_name: str  # lowercased, no trailing dot; "" unless type ExternalName
    ports: tuple[Port, ...]
    labels: Labels = ()
    has_selector: bool = False
    # spec.externalIPs, then status.loadBalancer.ingress (each its ip, else its hostname: a DNS name,
    # lowercase without the trailing dot), as CoreDNS's object.Service.ExternalIPs: what
    # k8s_external serves. Empty for nearly every service (and always for ExternalName).
    external_ips: tuple[str, ...] = ()

    @property
    def is_external(self) -> bool:
        return self.type == "ExternalName"


@record
class Endpoint:
    addresses: tuple[str, ...]
    hostname: str = ""
    # conditions.ready (unset counts as ready) and not conditions.terminating: design.md section 4.
    ready: bool = True
    node_name: str = ""
    pod_name: str = ""  # targetRef.name when targetRef.kind is Pod
    # Only for core/v1 Endpoints, whose subsets each have their own ports; None: the slice's ports.
    ports: tuple[Port, ...] | None = None
    zone: str = ""  # the topology zone (endpoints[].zone), for `zonal` names


@record
class EndpointSlice:
    namespace: str
    name: str
    service: str  # the kubernetes.io/service-name label; "" when missing (belongs to no service)
    endpoints: tuple[Endpoint, ...]  # none for an FQDN slice: it gives no records
    ports: tuple[Port, ...]
    # Imported for a ServiceImport (`multicluster`): its name and the source cluster's id.
    mc_service: str = ""
    cluster_id: str = ""


@record
class Pod:
    namespace: str
    name: str
    ips: tuple[str, ...]
    phase: str
    deleting: bool = False

    @property
    def running(self) -> bool:
        return self.phase == "Running" and not self.deleting


# A cluster repeats the same few strings (namespaces, port names, protocols, hostnames like
# `host-0`) and ports thousands of times; each JSON value is a new object, so the index shares them.
_intern = sys.intern
_PORTS: dict[tuple[str, int | None, str], Port] = {}
_PORTS_MAX = 4096  # a bound, so ports that come and go cannot grow the table for ever
_PORT_LISTS: dict[tuple[Port, ...], tuple[Port, ...]] = {}
_EMPTY: Mapping[str, Any] = {}

# Kubernetes names (apimachinery validation.IsDNS1123Label/IsDNS1123Subdomain). Anything else
# could not come from the API, and in a DNS name it would never be asked for (upper case: queries
# are matched lowercased) or not fit (a label over 63 bytes, an empty one, bytes beyond ASCII).
_DNS1123_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_LABEL = re.compile(_DNS1123_LABEL)
_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL}(?:\.{_DNS1123_LABEL})*")
_SUBDOMAIN_MAX = 253


def _port(name: str, port: int | None, protocol: str) -> Port:
    key = (name, port, protocol)
    found = _PORTS.get(key)
    if found is None:
        if len(_PORTS) >= _PORTS_MAX:
            _PORTS.clear()
        found = _PORTS[key] = Port(_intern(name), port, _intern(protocol))
    return found


def _dict(value: Any, what: str) -> Mapping[str, Any]:
    if type(value) is dict:  # the common case, without the slower ABC check
        return value
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if type(value) is list:
        return value
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    return value


def _str(value: Any, what: str, default: str = "") -> str:
    if type(value) is str:
        return value
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    return value


def _is_label(text: str) -> bool:
    return _LABEL.fullmatch(text) is not None


def is_subdomain(text: str) -> bool:
    return len(text) <= _SUBDOMAIN_MAX and _SUBDOMAIN.fullmatch(text) is not None


def _name(value: Any, what: str) -> str:
    """A metadata name as Kubernetes writes it: a lowercase DNS-1123 subdomain."""
    name = _str(value, what)
    if not name:
        raise ValueError(f"{what} missing")
    if not is_subdomain(name):
        raise ValueError(f"{what} {name[:80]!r} is not a Kubernetes name (lowercase DNS-1123)")
    return name


def _meta(d: Any, namespaced: bool = True) -> tuple[str, str, Mapping[str, Any]]:
    if type(d) is not dict and not isinstance(d, Mapping):
        raise ValueError("object is not a JSON object")
    meta = _dict(d.get("metadata"), "metadata")
    name = _name(meta.get("name"), "metadata.name")
    if not namespaced:
        return "", name, meta
    # A cluster has a few namespaces and every object names one: each is checked once.
    given = meta.get("namespace")
    namespace = _NAMESPACES.get(given) if type(given) is str else None
    if namespace is None:
        namespace = _intern(_name(given, f"metadata.namespace of {name}"))
        if len(_NAMESPACES) >= _NAMESPACES_MAX:
            _NAMESPACES.clear()
        _NAMESPACES[namespace] = namespace
    return namespace, name, meta


# Namespace names already checked (each its own interned key).
_NAMESPACES: dict[str, str] = {}
_NAMESPACES_MAX = 10000


def _labels(meta: Mapping[str, Any]) -> Labels:
    labels = _dict(meta.get("labels"), "metadata.labels")
    return tuple(sorted((str(k), "" if v is None else str(v)) for k, v in labels.items()))


def normalise_ip(text: str) -> str:
    """The canonical text of an address (RFC 5952 for IPv6), or ValueError."""
    # The API's IPv4 addresses are nearly always canonical already: the C round trip checks that
    # (~0.3 us, ipaddress takes ~8) and the string from the JSON is kept as it is.
    if type(text) is str and "." in text and ":" not in text:
        try:
            if _inet_ntop(_AF_INET, _inet_pton(_AF_INET, text)) == text:
                return text
        except (OSError, ValueError):  # not IPv4 text (ValueError: an embedded NUL)
            pass
    # fe80::1%eth0 parses, but its zone means something on one host only and no record carries it.
    if type(text) is str and "%" in text:
        raise ValueError(f"an IP address with a zone: {text!r}")
    try:
        return str(ipaddress.ip_address(text.strip()))
    except (ValueError, AttributeError):
        raise ValueError(f"not an IP address: {text!r}") from None


def _port_number(value: Any, what: str, lowest: int) -> int:
    """A port number in lowest..65535 (an SRV record's 16 bits), given as a JSON number or digits."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} is not an integer")
    if not lowest <= value <= 65535:
        raise ValueError(f"{what} {value} is not in {lowest}..65535")
    return value


def _ports(items: Any, what: str, need_number: bool) -> tuple[Port, ...]:
    """A Service's ports (need_number: each has one, 1..65535) or an endpoint's (optional, 0..65535)."""
    out = []
    for p in _list(items, what):
        p = _dict(p, what)
        number = p.get("port")
        if number is None and not need_number:
            port = None
        else:
            port = _port_number(number, f"{what}.port", 1 if need_number else 0)
        protocol = _str(p.get("protocol"), f"{what}.protocol", "TCP").upper() or "TCP"
        out.append(_port(_str(p.get("name"), f"{what}.name").lower(), port, protocol))
    # Most services and slices have one of a few port lists: share the tuples too.
    ports = tuple(out)
    found = _PORT_LISTS.get(ports)
    if found is None:
        if len(_PORT_LISTS) >= _PORTS_MAX:
            _PORT_LISTS.clear()
        found = _PORT_LISTS[ports] = ports
    return found


def namespace_from(d: Any) -> Namespace:
    _, name, meta = _meta(d, namespaced=False)
    return Namespace(name, _labels(meta))


def _external_name(value: Any) -> str:
    """spec.externalName as a DNS name (lowercase, no trailing dot); ValueError when it is none."""
    target = _str(value, "spec.externalName").strip().rstrip(".").lower()
    if not target:
        raise ValueError("ExternalName service has no externalName")
    if not is_subdomain(target):
        raise ValueError(f"spec.externalName {target[:80]!r} is not a DNS name")
    return target


def service_from(d: Any) -> Service:
    namespace, name, meta = _meta(d)
    name = _intern(name)  # the same object as its slices' service-name label
    spec = _dict(d.get("spec"), "spec")
    kind = _str(spec.get("type"), "spec.type", "ClusterIP") or "ClusterIP"
    ports = _ports(spec.get("ports"), "spec.ports", need_number=True)
    labels = _labels(meta)
    selector = bool(spec.get("selector"))
    if kind == "ExternalName":
        target = _external_name(spec.get("externalName"))
        return Service(namespace, name, kind, (), False, target, ports, labels, selector)
    raw = _list(spec.get("clusterIPs"), "spec.clusterIPs")
    if not raw and spec.get("clusterIP") is not None:
        raw = [spec.get("clusterIP")]
    texts = [_str(ip, "spec.clusterIPs") for ip in raw]
    # clusterIP "None" (also the only entry of clusterIPs) is the headless service.
    headless = "None" in texts
    ips = tuple(normalise_ip(ip) for ip in texts if ip and ip != "None")
    return Service(
        namespace, name, kind, () if headless else ips, headless, "", ports, labels, selector,
        _external_ips(spec, d.get("status")),
    )


def _external_ips(spec: Mapping[str, Any], status: Any) -> tuple[str, ...]:
    raw = _list(spec.get("externalIPs"), "spec.externalIPs")
    ingress = _list(_dict(_dict(status, "status").get("loadBalancer"), "status.loadBalancer").get("ingress"),
                    "status.loadBalancer.ingress")
    if not raw and not ingress:
        return ()
    out = [_external_ip(_str(ip, "spec.externalIPs[]")) for ip in raw]
    for item in ingress:
        item = _dict(item, "status.loadBalancer.ingress[]")
        ip = _str(item.get("ip"), "status.loadBalancer.ingress[].ip")
        if ip:
            out.append(_external_ip(ip))
            continue
        host = _str(item.get("hostname"), "status.loadBalancer.ingress[].hostname").rstrip(".").lower()
        if host:
            if not is_subdomain(host):
                raise ValueError(f"status.loadBalancer.ingress hostname {host[:80]!r} is not a DNS name")
            out.append(host)
    return tuple(dict.fromkeys(out))


def _external_ip(text: str) -> str:
    """An external address as the cluster reads it. Apiservers before StrictIPCIDRValidation
    (1.33) accepted IPv4 with leading zeros there and read them as decimal (ParseIPSloppy), as
    kube-proxy still does: such a Service, kept from then, has its cluster IP names all the same."""
    parts = text.split(".")
    if len(parts) == 4 and all(0 < len(p) <= 3 and p.isascii() and p.isdigit() for p in parts):
        text = ".".join(str(int(p)) for p in parts)
    return normalise_ip(text)


def _ready(conditions: Mapping[str, Any]) -> bool:
    ready = conditions.get("ready")
    terminating = conditions.get("terminating")
    return (ready is None or ready is True) and terminating is not True


def _target_pod(ref: Any) -> str:
    """The pod a targetRef names, "" for another kind or a name that cannot be one DNS label.

    A pod name may be a 253-byte subdomain; as CoreDNS (object.EndpointSliceToEndpoints ignores
    pod names too long for a label), such an endpoint is named by its address instead.
    """
    ref = _dict(ref, "targetRef")
    if ref.get("kind", "Pod") != "Pod":
        return ""
    name = _str(ref.get("name"), "targetRef.name").lower()
    return name if _is_label(name) else ""


def _hostname(value: Any) -> str:
    """An endpoint's hostname: one DNS-1123 label (as the API validates it), or ""."""
    if value is None:
        return ""
    hostname = _str(value, "hostname").lower()
    if hostname and not _is_label(hostname):
        raise ValueError(f"hostname {hostname[:80]!r} is not a DNS-1123 label")
    return _intern(hostname)


def slice_from(d: Any) -> EndpointSlice:
    namespace, name, meta = _meta(d)
    labels = _dict(meta.get("labels"), "metadata.labels")
    service = _intern(_str(labels.get(SERVICE_NAME_LABEL), "service-name label"))
    endpoints = []
    fqdn = _str(d.get("addressType"), "addressType") == "FQDN"
    # The loop below runs once per endpoint (50k at S2): plain type checks first, the helpers
    # (same checks, same errors) only for what is not the usual shape.
    for e in _list(d.get("endpoints"), "endpoints"):
        if type(e) is not dict:
            e = _dict(e, "endpoints[]")
        raw = e.get("addresses")
        if type(raw) is list and len(raw) == 1 and type(raw[0]) is str:
            texts: tuple[str, ...] = (raw[0],)
        else:
            texts = tuple(_str(a, "addresses[]") for a in _list(raw, "addresses"))
        if fqdn:
            continue
        addresses = tuple(normalise_ip(a) for a in texts) if len(texts) != 1 else (normalise_ip(texts[0]),)
        node = e.get("nodeName")
        conditions = e.get("conditions")
        ref = e.get("targetRef")
        zone = e.get("zone")
        endpoints.append(
            Endpoint(
                addresses,
                _hostname(e.get("hostname")),
                _ready(conditions if type(conditions) is dict else _dict(conditions, "conditions")),
                _intern(_str(node, "nodeName")) if node is not None else "",
                _target_pod(ref) if ref is not None else "",
                zone=_intern(_str(zone, "zone").lower()) if zone is not None else "",
            )
        )
    ports = _ports(d.get("ports"), "ports", need_number=False)
    mc_service = labels.get(MC_SERVICE_NAME_LABEL)
    if mc_service is None:
        return EndpointSlice(namespace, name, service, tuple(endpoints), ports)
    cluster = _str(labels.get(MC_SOURCE_CLUSTER_LABEL), "source-cluster label").lower()
    if cluster and not _is_label(cluster):
        raise ValueError(f"source-cluster label {cluster[:80]!r} is not a DNS-1123 label")
    mc_name = _intern(_str(mc_service, "multicluster service-name label"))
    return EndpointSlice(namespace, name, service, tuple(endpoints), ports, mc_name, _intern(cluster))


def endpoints_from(d: Any) -> EndpointSlice:
    """A core/v1 Endpoints object as one EndpointSlice of the service of the same name.

    Each subset keeps its own ports (Endpoint.ports); addresses are ready, notReadyAddresses not.
    """
    namespace, name, _ = _meta(d)
    endpoints = []
    all_ports: list[Port] = []
    for subset in _list(d.get("subsets"), "subsets"):
        subset = _dict(subset, "subsets[]")
        ports = _ports(subset.get("ports"), "subsets[].ports", need_number=False)
        all_ports.extend(p for p in ports if p not in all_ports)
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for a in _list(subset.get(key), key):
                a = _dict(a, key)
                endpoints.append(
                    Endpoint(
                        addresses=(normalise_ip(_str(a.get("ip"), "ip")),),
                        hostname=_hostname(a.get("hostname")),
                        ready=ready,
                        node_name=_str(a.get("nodeName"), "nodeName"),
                        pod_name=_target_pod(a.get("targetRef")),
                        ports=ports,
                    )
                )
    return EndpointSlice(namespace, name, name, tuple(endpoints), tuple(all_ports))


MC_TYPES = ("ClusterSetIP", "Headless")


def service_import_from(d: Any) -> Service:
    """A ServiceImport (multicluster.x-k8s.io/v1alpha1) as the Service it stands for in the
    clusterset zone: type ClusterSetIP with spec.ips, or Headless (answered from its slices)."""
    namespace, name, meta = _meta(d)
    spec = _dict(d.get("spec"), "spec")
    kind = _str(spec.get("type"), "spec.type")
    if kind not in MC_TYPES:
        raise ValueError(f"spec.type {kind[:40]!r} is neither ClusterSetIP nor Headless")
    ips = tuple(normalise_ip(_str(ip, "spec.ips[]")) for ip in _list(spec.get("ips"), "spec.ips"))
    headless = kind == "Headless"
    return Service(
        namespace,
        name,
        kind,
        () if headless else ips,
        headless,
        "",
        _ports(spec.get("ports"), "spec.ports", need_number=True),
        _labels(meta),
    )


def pod_from(d: Any) -> Pod:
    namespace, name, meta = _meta(d)
    status = _dict(d.get("status"), "status")
    ips = [_str(_dict(p, "podIPs[]").get("ip"), "podIPs[].ip") for p in _list(status.get("podIPs"), "podIPs")]
    if not ips and status.get("podIP"):
        ips = [_str(status.get("podIP"), "podIP")]
    return Pod(
        namespace,
        name,
        tuple(normalise_ip(ip) for ip in ips if ip),
        _str(status.get("phase"), "status.phase"),
        meta.get("deletionTimestamp") is not None,
    )


KINDS: dict[str, Callable[[Any], Any]] = {
    "Namespace": namespace_from,
    "Service": service_from,
    "EndpointSlice": slice_from,
    "Pod": pod_from,
    "Endpoints": endpoints_from,
    "ServiceImport": service_import_from,
}


def key_of_converted(kind: str, obj: Any) -> tuple[str, str]:
    """key_of() of an object as KINDS converted it."""
    return ("", obj.name) if kind == "Namespace" else (obj.namespace, obj.name)


def key_of(kind: str, d: Any) -> tuple[str, str]:
    """(namespace, name) of a raw object ("" namespace for Namespaces); ValueError when missing.

    A DELETED event needs only this, so a delete is applied even when the rest of the object is odd.
    """
    namespace, name, _ = _meta(d, namespaced=kind != "Namespace")
    return namespace, name
