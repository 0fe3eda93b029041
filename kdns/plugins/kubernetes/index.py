"""The ClusterIndex: what the cluster looks like to DNS, updated from list/watch events.

Sources (watch.py for the API, manifests.py for files) feed it raw API dicts with replace(kind,
objects) after a (re)list and apply(kind, event, obj) for each watch event; they turn into the slim
objects of objects.py here. Queries read it synchronously (never an await on the query path). The
event loop is single-threaded and nothing here awaits, so an update is never seen half applied.

Fast-path tags
--------------
The handler marks every answer it computes from the index alone with tags (Response.tags); the
server keeps the packed answer until one of its tags is invalidated. Every update returns, and
passes to subscribers, the set of tags it touched. The tags are chosen so that any change that could
alter an answer touches at least one tag of that answer:

  ("svc", ns, name)    everything at and below <name>.<ns>.svc.<zone>: A/AAAA/SRV/CNAME, endpoint
                       names, their NXDOMAINs. Touched when the Service appears, changes or goes
                       (including entering or leaving the `labels` selector) and when the merged
                       ready endpoints of its slices change.
  ("ns", ns)           the existence/exposure of a namespace: <ns>.svc, <ns>.pod and every name
                       below them carry it. Touched when a namespace appears, goes, or enters or
                       leaves the `namespaces`/`namespace_labels` filter (not on other edits).
  ("ip", ip)           the PTR of ip (answer or NXDOMAIN). Touched for a cluster IP that joins or
                       leaves a Service, a ready endpoint IP whose (ip, label) entry of a service
                       appears or goes, every endpoint IP of a service that appears, goes or turns
                       ExternalName, and all cluster/endpoint IPs of a namespace whose exposure
                       changed.
  ("pod", ns, ip)      `pods verified` answers for <dashed ip>.<ns>.pod. Touched for the old and new
                       IPs of a changed Pod.
  ("soa",)             the apex SOA answers. Touched on every change, because the serial moves.

The SOA serial also appears in the authority section of negative answers. Those are deliberately
not invalidated when only the serial moves (it would drop every negative answer on every event):
a cached negative answer may show an older serial until its own tags are touched. Resolvers use
the SOA there only for its TTL/MINIMUM (RFC 2308 section 5), which never changes with the serial.
The serial is the Unix time of the last change, raised by one when two changes fall in the same
second, so it moves on every change (CoreDNS uses the modification time in seconds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kdns.plugins.kubernetes.config import Config
from kdns.plugins.kubernetes.names import ip_label
from kdns.plugins.kubernetes.objects import (
    KINDS,
    EndpointSlice,
    Namespace,
    Pod,
    Port,
    Service,
    key_of,
)

log = logging.getLogger(__name__)

Tag = Hashable
Key = tuple[str, str]
SOA_TAG: tuple[str] = ("soa",)


@dataclass(frozen=True, slots=True)
class EndpointAddress:
    """One ready address of a service and the name it has under the service."""

    ip: str
    label: str
    ports: tuple[Port, ...]

    @property
    def v6(self) -> bool:
        return ":" in self.ip


@dataclass(frozen=True, slots=True)
class ServiceEndpoints:
    """The ready addresses of all slices of one service, merged and deduplicated."""

    addresses: tuple[EndpointAddress, ...] = ()
    by_label: dict[str, tuple[EndpointAddress, ...]] = field(
        default_factory=dict, compare=False, hash=False
    )

    @property
    def ips(self) -> set[str]:
        return {a.ip for a in self.addresses}


NO_ENDPOINTS = ServiceEndpoints()


class ClusterIndex:
    def __init__(self, config: Config | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config or Config()
        self._clock = clock
        kinds = ["Namespace", "Service"]
        if not self.config.noendpoints:
            kinds.append("Endpoints" if self.config.endpoints_legacy else "EndpointSlice")
        if self.config.pods == "verified":
            kinds.append("Pod")
        self.kinds: tuple[str, ...] = tuple(kinds)
        self._synced: set[str] = set()
        self._serial = int(clock())
        self._subscribers: list[Callable[[set[Tag]], None]] = []
        self._objects: dict[str, dict[Key, Any]] = {kind: {} for kind in KINDS}
        self._exposed: set[str] = set()
        self._services_in_ns: dict[str, set[str]] = {}
        self._services_by_ip: dict[str, tuple[Service, ...]] = {}
        self._slices_by_service: dict[Key, dict[str, EndpointSlice]] = {}
        self._endpoints: dict[Key, ServiceEndpoints] = {}
        self._endpoints_by_ip: dict[str, set[Key]] = {}
        self._pods_by_ip: dict[str, tuple[Pod, ...]] = {}

    # -- state for sources ------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """Every watched kind has been listed at least once."""
        return all(kind in self._synced for kind in self.kinds)

    def mark_synced(self, kind: str) -> None:
        self._synced.add(kind)

    @property
    def serial(self) -> int:
        return self._serial

    def subscribe(self, callback: Callable[[set[Tag]], None]) -> None:
        """callback(tags) runs after every update that touched something."""
        self._subscribers.append(callback)

    def replace(self, kind: str, objects: Iterable[dict[str, Any]]) -> set[Tag]:
        """Make the objects of kind exactly these (after a list); returns the touched tags.

        A malformed object is logged and left out (as if it did not exist).
        """
        convert = KINDS.get(kind)
        if convert is None or kind not in self.kinds:
            return set()
        fresh: dict[Key, Any] = {}
        for raw in objects:
            try:
                obj = convert(raw)
                key = key_of(kind, raw)
            except ValueError as e:
                log.warning("skipping malformed %s: %s", kind, e)
                continue
            fresh[key] = obj
        current = self._objects[kind]
        touched: set[Tag] = set()
        for key in list(current.keys() | fresh.keys()):
            new = fresh.get(key)
            if current.get(key) != new:
                touched |= self._set(kind, key, new)
        return self._changed(touched)

    def apply(self, kind: str, event: str, obj: dict[str, Any]) -> set[Tag]:
        """Apply one watch event (ADDED, MODIFIED, DELETED); ValueError for a malformed object."""
        convert = KINDS.get(kind)
        if convert is None or kind not in self.kinds or event not in ("ADDED", "MODIFIED", "DELETED"):
            return set()
        key = key_of(kind, obj)
        new = None if event == "DELETED" else convert(obj)
        if self._objects[kind].get(key) == new:
            return set()
        return self._changed(self._set(kind, key, new))

    # -- lookups for records.py ---------------------------------------------------------------

    def namespace_exposed(self, namespace: str) -> bool:
        """The namespace exists and passes the `namespaces` and `namespace_labels` filters."""
        return namespace in self._exposed

    def namespaces(self) -> list[str]:
        return sorted(self._exposed)

    def service(self, namespace: str, name: str) -> Service | None:
        svc: Service | None = self._objects["Service"].get((namespace, name))
        return svc

    def services_by_ip(self, ip: str) -> tuple[Service, ...]:
        return self._services_by_ip.get(ip, ())

    def endpoints(self, namespace: str, name: str) -> ServiceEndpoints:
        """Ready endpoints of a service (whatever its type; the caller decides what they mean)."""
        return self._endpoints.get((namespace, name), NO_ENDPOINTS)

    def endpoints_by_label(self, namespace: str, name: str, label: str) -> tuple[EndpointAddress, ...]:
        return self.endpoints(namespace, name).by_label.get(label, ())

    def endpoints_by_ip(self, ip: str) -> list[tuple[Key, EndpointAddress]]:
        """((namespace, service), address) for every ready endpoint with this IP, sorted."""
        out = []
        for key in sorted(self._endpoints_by_ip.get(ip, ())):
            for address in self._endpoints[key].addresses:
                if address.ip == ip:
                    out.append((key, address))
        return out

    def pods_by_ip(self, ip: str) -> tuple[Pod, ...]:
        return self._pods_by_ip.get(ip, ())

    # -- updates ------------------------------------------------------------------------------

    def _changed(self, touched: set[Tag]) -> set[Tag]:
        if not touched:
            return touched
        now = int(self._clock())
        self._serial = max(now, self._serial + 1) & 0xFFFFFFFF
        touched.add(SOA_TAG)
        for callback in self._subscribers:
            callback(touched)
        return touched

    def _set(self, kind: str, key: Key, new: Any) -> set[Tag]:
        if kind == "Namespace":
            return self._set_namespace(key, new)
        if kind == "Service":
            return self._set_service(key, new)
        if kind in ("EndpointSlice", "Endpoints"):
            return self._set_slice(kind, key, new)
        return self._set_pod(key, new)

    def _is_exposed(self, ns: Namespace | None) -> bool:
        if ns is None:
            return False
        if self.config.namespaces and ns.name not in self.config.namespaces:
            return False
        selector = self.config.namespace_labels
        return selector is None or selector.matches(ns.labels)

    def _set_namespace(self, key: Key, new: Namespace | None) -> set[Tag]:
        store = self._objects["Namespace"]
        name = key[1]
        if new is None:
            store.pop(key, None)
        else:
            store[key] = new
        was = name in self._exposed
        now = self._is_exposed(new)
        if was == now:
            return set()
        if now:
            self._exposed.add(name)
        else:
            self._exposed.discard(name)
        touched: set[Tag] = {("ns", name)}
        for svc_name in self._services_in_ns.get(name, ()):
            svc = self._objects["Service"][(name, svc_name)]
            touched.update(("ip", ip) for ip in svc.cluster_ips)
            touched.update(("ip", ip) for ip in self.endpoints(name, svc_name).ips)
        for (ns, _), endpoints in self._endpoints.items():
            if ns == name:
                touched.update(("ip", ip) for ip in endpoints.ips)
        return touched

    def _set_service(self, key: Key, new: Service | None) -> set[Tag]:
        if new is not None and self.config.labels is not None and not self.config.labels.matches(new.labels):
            new = None  # outside the `labels` selector: as if it did not exist
        store = self._objects["Service"]
        old: Service | None = store.get(key)
        if old == new:
            return set()
        ns, name = key
        if old is not None:
            for ip in old.cluster_ips:
                rest = tuple(s for s in self._services_by_ip.get(ip, ()) if (s.namespace, s.name) != key)
                if rest:
                    self._services_by_ip[ip] = rest
                else:
                    self._services_by_ip.pop(ip, None)
        if new is None:
            store.pop(key, None)
            names = self._services_in_ns.get(ns)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._services_in_ns[ns]
        else:
            store[key] = new
            self._services_in_ns.setdefault(ns, set()).add(name)
            for ip in new.cluster_ips:
                self._services_by_ip[ip] = self._services_by_ip.get(ip, ()) + (new,)
        touched: set[Tag] = {("svc", ns, name)}
        # A cluster IP's PTR changes when the IP joins or leaves this service (or it comes or goes).
        old_ips = set(old.cluster_ips) if old is not None else set()
        new_ips = set(new.cluster_ips) if new is not None else set()
        touched.update(("ip", ip) for ip in old_ips ^ new_ips)
        # Endpoint PTRs name the service: they change only when it appears, goes, or turns
        # ExternalName (whose slices are ignored) or back.
        if (old is None or old.is_external) != (new is None or new.is_external):
            touched.update(("ip", ip) for ip in self.endpoints(ns, name).ips)
        return touched

    def _set_slice(self, kind: str, key: Key, new: EndpointSlice | None) -> set[Tag]:
        store = self._objects[kind]
        old: EndpointSlice | None = store.get(key)
        ns, slice_name = key
        affected: set[Key] = set()
        if old is not None and old.service:
            group = self._slices_by_service.get((ns, old.service))
            if group is not None:
                group.pop(slice_name, None)
                if not group:
                    del self._slices_by_service[(ns, old.service)]
            affected.add((ns, old.service))
        if new is None:
            store.pop(key, None)
        else:
            store[key] = new
            if new.service:
                self._slices_by_service.setdefault((ns, new.service), {})[slice_name] = new
                affected.add((ns, new.service))
        touched: set[Tag] = set()
        for svc_key in affected:
            touched |= self._rebuild_endpoints(svc_key)
        return touched

    def _rebuild_endpoints(self, svc_key: Key) -> set[Tag]:
        group = self._slices_by_service.get(svc_key, {})
        fresh = build_endpoints(
            (group[n] for n in sorted(group)), pod_names=self.config.endpoint_pod_names
        )
        old = self._endpoints.get(svc_key, NO_ENDPOINTS)
        if fresh == old:
            return set()
        old_ips, new_ips = old.ips, fresh.ips
        for ip in old_ips - new_ips:
            keys = self._endpoints_by_ip.get(ip)
            if keys is not None:
                keys.discard(svc_key)
                if not keys:
                    del self._endpoints_by_ip[ip]
        for ip in new_ips - old_ips:
            self._endpoints_by_ip.setdefault(ip, set()).add(svc_key)
        if fresh.addresses:
            self._endpoints[svc_key] = fresh
        else:
            self._endpoints.pop(svc_key, None)
        touched: set[Tag] = {("svc", *svc_key)}
        # A PTR of an endpoint IP names (label, service): only IPs whose names changed are touched.
        old_names = {(a.ip, a.label) for a in old.addresses}
        new_names = {(a.ip, a.label) for a in fresh.addresses}
        touched.update(("ip", ip) for ip, _ in old_names ^ new_names)
        return touched

    def _set_pod(self, key: Key, new: Pod | None) -> set[Tag]:
        store = self._objects["Pod"]
        old: Pod | None = store.get(key)
        if old is not None:
            for ip in old.ips:
                rest = tuple(p for p in self._pods_by_ip.get(ip, ()) if (p.namespace, p.name) != key)
                if rest:
                    self._pods_by_ip[ip] = rest
                else:
                    self._pods_by_ip.pop(ip, None)
        if new is None:
            store.pop(key, None)
        else:
            store[key] = new
            for ip in new.ips:
                self._pods_by_ip[ip] = self._pods_by_ip.get(ip, ()) + (new,)
        touched: set[Tag] = set()
        for pod in (old, new):
            if pod is not None:
                touched.update(("pod", key[0], ip) for ip in pod.ips)
        return touched


def build_endpoints(slices: Iterable[EndpointSlice], pod_names: bool = False) -> ServiceEndpoints:
    """Merge slices: ready addresses only, one entry per (ip, label), ports united in order.

    The label is the endpoint's hostname, else (endpoint_pod_names) the pod's name, else the dashed
    address: CoreDNS endpointHostname().
    """
    merged: dict[tuple[str, str], list[Port]] = {}
    for sl in slices:
        for ep in sl.endpoints:
            if not ep.ready:
                continue
            ports = ep.ports if ep.ports is not None else sl.ports
            for ip in ep.addresses:
                label = ep.hostname or (ep.pod_name if pod_names else "") or ip_label(ip)
                have = merged.setdefault((ip, label), [])
                have.extend(p for p in ports if p not in have)
    if not merged:
        return NO_ENDPOINTS
    addresses = tuple(EndpointAddress(ip, label, tuple(ports)) for (ip, label), ports in merged.items())
    by_label: dict[str, tuple[EndpointAddress, ...]] = {}
    for a in addresses:
        by_label[a.label] = by_label.get(a.label, ()) + (a,)
    return ServiceEndpoints(addresses, by_label)
