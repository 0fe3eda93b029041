"""Slim frozen copies of the API objects DNS needs, made from raw API dicts at the boundary.

A raw object carries managedFields, annotations, status blocks and more: kilobytes each. The index
keeps only these dataclasses (CoreDNS plugin/kubernetes/object does the same), so 10k services and
100k endpoints fit in little memory. Every constructor takes the dict as the API (or a manifest
file) gives it and raises ValueError, never KeyError or TypeError, for a shape it cannot use: the
watcher logs and skips such an object.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from socket import AF_INET as _AF_INET
from socket import inet_ntop as _inet_ntop
from socket import inet_pton as _inet_pton
from typing import Any

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Port:
    name: str
    port: int | None  # None: an EndpointSlice port without a number ("all ports")
    protocol: str  # upper case as the API writes it: TCP, UDP, SCTP


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: Labels = ()


@dataclass(frozen=True, slots=True)
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

    @property
    def is_external(self) -> bool:
        return self.type == "ExternalName"


@dataclass(frozen=True, slots=True)
class Endpoint:
    addresses: tuple[str, ...]
    hostname: str = ""
    # conditions.ready (unset counts as ready) and not conditions.terminating: design.md section 4.
    ready: bool = True
    node_name: str = ""
    pod_name: str = ""  # targetRef.name when targetRef.kind is Pod
    # Only for core/v1 Endpoints, whose subsets each have their own ports; None: the slice's ports.
    ports: tuple[Port, ...] | None = None


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    namespace: str
    name: str
    service: str  # the kubernetes.io/service-name label; "" when missing (belongs to no service)
    address_type: str  # IPv4, IPv6, FQDN (FQDN slices give no records)
    endpoints: tuple[Endpoint, ...]
    ports: tuple[Port, ...]
    trigger_time: str = ""  # the last-change-trigger-time annotation, raw


@dataclass(frozen=True, slots=True)
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


def _meta(d: Any, namespaced: bool = True) -> tuple[str, str, Mapping[str, Any]]:
    if not isinstance(d, Mapping):
        raise ValueError("object is not a JSON object")
    meta = _dict(d.get("metadata"), "metadata")
    name = _str(meta.get("name"), "metadata.name")
    if not name:
        raise ValueError("metadata.name missing")
    namespace = _intern(_str(meta.get("namespace"), "metadata.namespace")) if namespaced else ""
    if namespaced and not namespace:
        raise ValueError(f"metadata.namespace missing on {name}")
    return namespace, name, meta


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
    try:
        return str(ipaddress.ip_address(text.strip()))
    except (ValueError, AttributeError):
        raise ValueError(f"not an IP address: {text!r}") from None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise ValueError(f"{what} is not an integer")
    return value


def _ports(items: Any, what: str, need_number: bool) -> tuple[Port, ...]:
    out = []
    for p in _list(items, what):
        p = _dict(p, what)
        number = p.get("port")
        if number is None and not need_number:
            port = None
        else:
            port = _int(number, f"{what}.port")
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
    return Namespace(name.lower(), _labels(meta))


def service_from(d: Any) -> Service:
    namespace, name, meta = _meta(d)
    name = _intern(name)  # the same object as its slices' service-name label
    spec = _dict(d.get("spec"), "spec")
    kind = _str(spec.get("type"), "spec.type", "ClusterIP") or "ClusterIP"
    ports = _ports(spec.get("ports"), "spec.ports", need_number=True)
    labels = _labels(meta)
    selector = bool(spec.get("selector"))
    if kind == "ExternalName":
        target = _str(spec.get("externalName"), "spec.externalName").strip().rstrip(".").lower()
        if not target:
            raise ValueError(f"ExternalName service {namespace}/{name} has no externalName")
        return Service(namespace, name, kind, (), False, target, ports, labels, selector)
    raw = _list(spec.get("clusterIPs"), "spec.clusterIPs")
    if not raw and spec.get("clusterIP") is not None:
        raw = [spec.get("clusterIP")]
    texts = [_str(ip, "spec.clusterIPs") for ip in raw]
    # clusterIP "None" (also the only entry of clusterIPs) is the headless service.
    headless = "None" in texts
    ips = tuple(normalise_ip(ip) for ip in texts if ip and ip != "None")
    return Service(namespace, name, kind, () if headless else ips, headless, "", ports, labels, selector)


def _ready(conditions: Mapping[str, Any]) -> bool:
    ready = conditions.get("ready")
    terminating = conditions.get("terminating")
    return (ready is None or ready is True) and terminating is not True


def _target_pod(ref: Any) -> str:
    ref = _dict(ref, "targetRef")
    if ref.get("kind", "Pod") != "Pod":
        return ""
    return _str(ref.get("name"), "targetRef.name")


def slice_from(d: Any) -> EndpointSlice:
    namespace, name, meta = _meta(d)
    labels = _dict(meta.get("labels"), "metadata.labels")
    service = _intern(_str(labels.get(SERVICE_NAME_LABEL), "service-name label").lower())
    annotations = _dict(meta.get("annotations"), "metadata.annotations")
    trigger = _str(annotations.get(TRIGGER_TIME_ANNOTATION), "trigger time annotation")
    address_type = _str(d.get("addressType"), "addressType")
    endpoints = []
    fqdn = address_type == "FQDN"
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
        hostname = e.get("hostname")
        node = e.get("nodeName")
        conditions = e.get("conditions")
        ref = e.get("targetRef")
        endpoints.append(
            Endpoint(
                addresses,
                _intern(_str(hostname, "hostname").lower()) if hostname is not None else "",
                _ready(conditions if type(conditions) is dict else _dict(conditions, "conditions")),
                _intern(_str(node, "nodeName")) if node is not None else "",
                _target_pod(ref).lower() if ref is not None else "",
            )
        )
    if not address_type:
        # A hand-written manifest may leave it out: infer it from the first address.
        first = next((a for e in endpoints for a in e.addresses), "")
        address_type = "IPv6" if ":" in first else "IPv4"
    ports = _ports(d.get("ports"), "ports", need_number=False)
    return EndpointSlice(namespace, name, service, address_type, tuple(endpoints), ports, trigger)


def endpoints_from(d: Any) -> EndpointSlice:
    """A core/v1 Endpoints object as one EndpointSlice of the service of the same name.

    Each subset keeps its own ports (Endpoint.ports); addresses are ready, notReadyAddresses not.
    """
    namespace, name, meta = _meta(d)
    annotations = _dict(meta.get("annotations"), "metadata.annotations")
    trigger = _str(annotations.get(TRIGGER_TIME_ANNOTATION), "trigger time annotation")
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
                        hostname=_str(a.get("hostname"), "hostname").lower(),
                        ready=ready,
                        node_name=_str(a.get("nodeName"), "nodeName"),
                        pod_name=_target_pod(a.get("targetRef")).lower(),
                        ports=ports,
                    )
                )
    first = next((a for e in endpoints for a in e.addresses), "")
    family = "IPv6" if ":" in first else "IPv4"
    return EndpointSlice(
        namespace, name, name.lower(), family, tuple(endpoints), tuple(all_ports), trigger
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
}


def key_of(kind: str, d: Any) -> tuple[str, str]:
    """(namespace, name) of a raw object ("" namespace for Namespaces); ValueError when missing.

    A DELETED event needs only this, so a delete is applied even when the rest of the object is odd.
    """
    namespace, name, _ = _meta(d, namespaced=kind != "Namespace")
    return namespace, name.lower() if kind == "Namespace" else name
