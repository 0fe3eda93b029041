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
  ("zonal", ns, name)  `zonal` names <zone>._zone.<name>.<ns>.svc (which also carry the service's
                       tag): touched when the endpoints or ports of the service's slices change.
  ("zone", zone)       whether a topology zone is known (`zonal`): touched when it is first seen.
  ("mcs", ns, name)    a ServiceImport's names in multicluster zones (multicluster.py).
  ("pod", ns, ip)      `pods verified` answers for <dashed ip>.<ns>.pod. Touched for the old and new
                       IPs of a changed Pod.
  ("soa",)             the apex SOA answers. Touched on every change, because the serial moves.

Pods watched only for autopath (track_pod_namespaces) touch no tag: no record is made from them,
and answers that depend on the client's namespace never enter the fast path (plugins/autopath).

The SOA serial also appears in the authority section of negative answers. Those are deliberately
not invalidated when only the serial moves (it would drop every negative answer on every event):
a cached negative answer may show an older serial until its own tags are touched. Resolvers use
the SOA there only for its TTL/MINIMUM (RFC 2308 section 5), which never changes with the serial.
The serial is the Unix time of the last change, raised by one when two changes fall in the same
second, so it moves on every change (CoreDNS uses the modification time in seconds).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Generator, Hashable, Iterable, Iterator, Sequence
from dataclasses import field, replace
from typing import Any, Protocol

from kdns.plugins.kubernetes.config import Config
from kdns.plugins.kubernetes.names import ip_label
from kdns.plugins.kubernetes.objects import (
    KINDS,
    Endpoint,
    EndpointSlice,
    Namespace,
    Pod,
    Port,
    Service,
    key_of,
    key_of_converted,
    record,
    pod_from,
)

log = logging.getLogger(__name__)

Tag = Hashable
Key = tuple[str, str]
SOA_TAG: tuple[str] = ("soa",)
# Services with more ready addresses than this keep a label -> addresses table; smaller ones are
# scanned (a few comparisons), which saves a dict per service at 10k services.
BY_LABEL_TABLE_FROM = 8
_RUNNING = "Running"


@record
class EndpointAddress:
    """One ready address of a service and the name it has under the service."""

    ip: str
    label: str
    ports: tuple[Port, ...]

    @property
    def v6(self) -> bool:
        return ":" in self.ip


@record
class ServiceEndpoints:
    """The ready addresses of all slices of one service, merged and deduplicated."""

    addresses: tuple[EndpointAddress, ...] = ()
    table: dict[str, tuple[EndpointAddress, ...]] | None = field(default=None, compare=False, hash=False)

    def with_label(self, label: str) -> tuple[EndpointAddress, ...]:
        """The addresses named label under the service: a table lookup, or a scan of a few."""
        if self.table is not None:
            return self.table.get(label, ())
        return tuple(a for a in self.addresses if a.label == label)

    @property
    def ips(self) -> set[str]:
        return {a.ip for a in self.addresses}


@contextlib.contextmanager
def gc_paused() -> Generator[None, None, None]:
    """No cyclic garbage collection while a list or a manifest load is converted.

    A sync allocates hundreds of thousands of objects that all stay alive, and every few thousand
    allocations the collector would walk the growing index again (a quarter of S2's sync time).
    Conversion makes no reference cycles (reference counting frees what it drops); any other
    cyclic garbage is collected as usual once the collector runs again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _by_label(addresses: Iterable[EndpointAddress]) -> dict[str, tuple[EndpointAddress, ...]]:
    out: dict[str, tuple[EndpointAddress, ...]] = {}
    for a in addresses:
        out[a.label] = out.get(a.label, ()) + (a,)
    return out


NO_ENDPOINTS = ServiceEndpoints()


class Slim:
    """Objects of one kind converted as they arrive (a list page, a manifest file), for replace().

    Holding the slim objects instead of every raw dict until the list ends keeps the peak (and so
    the process's RSS, which seldom shrinks again) near the size of the index itself.
    """

    def __init__(self, kind: str, versions: bool = False) -> None:
        self.kind = kind
        self.objects: dict[Key, Any] = {}
        # metadata.resourceVersion by key, kept only for `kdns explain` (explain.py).
        self.versions: dict[Key, str] | None = {} if versions else None
        self._malformed: set[Key] = set()
        self._convert = KINDS.get(kind)

    def add(self, raws: Iterable[dict[str, Any]], source: str = "") -> int:
        """Convert and keep raws; returns how many had a key given before (the last one counts).

        source (a manifest file) is named in the warning about a malformed object.
        """
        convert, objects, kind = self._convert, self.objects, self.kind
        if convert is None:
            return 0
        with gc_paused():
            return self._add(convert, objects, kind, raws, source)

    def _add(
        self,
        convert: Callable[[Any], Any],
        objects: dict[Key, Any],
        kind: str,
        raws: Iterable[dict[str, Any]],
        source: str,
    ) -> int:
        again = 0
        malformed = self._malformed
        for raw in raws:
            # Converted first, its key taken from the result: the name checks run once.
            try:
                obj: Any = convert(raw)
            except ValueError as e:
                obj, error = None, e
                try:
                    key = key_of(kind, raw)
                except ValueError as e:
                    _skipped(kind, None, e, source)
                    continue
            else:
                key = key_of_converted(kind, obj)
            if key in objects or key in malformed:
                again += 1
            if self.versions is not None:
                self.versions[key] = resource_version(raw)
            if obj is not None:
                objects[key] = compact(kind, obj)
                continue
            # The last object given for a key counts, even when it is malformed.
            objects.pop(key, None)
            malformed.add(key)
            _skipped(kind, key, error, source)
        return again

    def clear(self) -> None:
        self.objects.clear()
        self._malformed.clear()

    def __len__(self) -> int:
        return len(self.objects)


def resource_version(raw: Any) -> str:
    meta = raw.get("metadata") if isinstance(raw, dict) else None
    version = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return str(version) if version is not None else ""


class PodNamespaces:
    """Running pods as address -> namespace only: what autopath needs, whatever the `pods` mode.

    CoreDNS keeps a full pod cache for autopath (and requires `pods verified`); 150k pods as this
    one dict cost a fraction of that (bench/memsync.py). A page sink as Slim, for replace().
    """

    def __init__(self) -> None:
        self.by_ip: dict[str, str] = {}

    def add(self, raws: Iterable[dict[str, Any]], source: str = "") -> int:
        by_ip = self.by_ip
        with gc_paused():
            for raw in raws:
                try:
                    pod = pod_from(raw)
                except ValueError as e:
                    _skipped("Pod", None, e, source)
                    continue
                if pod.phase == _RUNNING:
                    for ip in pod.ips:
                        by_ip[ip] = pod.namespace
        return 0

    def apply(self, event: str, raw: dict[str, Any]) -> None:
        """One watch event. A pod that stops running or goes frees its addresses, unless another
        pod (of another namespace: the event says nothing of other pods) holds them by now."""
        pod = pod_from(raw)
        if event != "DELETED" and pod.phase == _RUNNING:
            for ip in pod.ips:
                self.by_ip[ip] = pod.namespace
            return
        for ip in pod.ips:
            if self.by_ip.get(ip) == pod.namespace:
                del self.by_ip[ip]

    def clear(self) -> None:
        self.by_ip.clear()

    def __len__(self) -> int:
        return len(self.by_ip)


def _skipped(kind: str, key: Key | None, error: ValueError, source: str) -> None:
    """Log an object left out: which one (when its key is known), from where, and why."""
    what = kind if key is None else f"{kind} {'/'.join(filter(None, key))}"
    log.warning("%sskipping malformed %s: %s", f"{source}: " if source else "", what, error)


def compact(kind: str, obj: Any) -> Any:
    """The form the index stores obj in: a running pod with one address as that address alone.

    150k pods in `pods verified` must stay small; everything else is stored as it is.
    """
    if kind == "Pod" and len(obj.ips) == 1 and obj.running:
        return obj.ips[0]
    return obj


def _pod_ips(stored: str | Pod) -> tuple[str, ...]:
    if isinstance(stored, str):
        return (stored,)
    return stored.ips


def _add(table: dict[str, Any], ip: str, value: Any) -> None:
    """table[ip] is one value, or a list of them when several share the ip (rare)."""
    have = table.get(ip)
    if have is None:
        table[ip] = value
    elif type(have) is list:
        if value not in have:
            have.append(value)
    elif have != value:
        table[ip] = [have, value]


def _remove(table: dict[str, Any], ip: str, value: Any) -> None:
    have = table.get(ip)
    if have is None:
        return
    if type(have) is list:
        if value in have:
            have.remove(value)
        if len(have) == 1:
            table[ip] = have[0]
    elif have == value:
        del table[ip]


def _values(table: dict[str, Any], ip: str) -> list[Any]:
    have = table.get(ip)
    if have is None:
        return []
    return list(have) if type(have) is list else [have]


class ImportStore(Protocol):
    """Where ServiceImports and imported slices go (multicluster.ServiceImports)."""

    def set_import(self, key: Key, new: Any, touched: set[Tag]) -> None: ...

    def set_slice(self, key: Key, old: Any, new: Any, touched: set[Tag]) -> None: ...


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
        self._all_synced = False
        self._serial = int(clock())
        self._subscribers: list[Callable[[set[Tag]], None]] = []
        # Pods are kept compact (see compact()): the ip alone for a running single-address pod.
        self._objects: dict[str, dict[Key, Any]] = {kind: {} for kind in KINDS}
        self._exposed: set[str] = set()
        self._services_in_ns: dict[str, set[str]] = {}
        self._services_by_ip: dict[str, tuple[Service, ...]] = {}
        # (ns, service) -> its one slice, or {slice name: slice} when it has several.
        self._slices_by_service: dict[Key, EndpointSlice | dict[str, EndpointSlice]] = {}
        self._endpoints: dict[Key, ServiceEndpoints] = {}
        self._endpoints_by_ip: dict[str, Any] = {}  # ip -> service Key, or a list of them
        self._pods_by_ip: dict[str, Any] = {}  # ip -> pod Key, or a list of them
        # kind -> key -> resourceVersion, only with the `explain` option (keep_versions()).
        self.versions: dict[str, dict[Key, str]] | None = None
        if self.config.explain is not None:
            self.keep_versions()
        # Set by track_pod_namespaces() when pods are not watched for `pods verified` already.
        self._pod_namespaces: PodNamespaces | None = None
        # Set by serve_imports() for `multicluster`.
        self.imports: ImportStore | None = None
        # `zonal`: every topology zone an endpoint has been in, for the life of the process (a
        # zone that drains keeps answering NODATA rather than flapping to NXDOMAIN, as CoreDNS).
        self._topology_zones: set[str] = set()

    # -- state for sources ------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """Every watched kind has been listed at least once (read on every query: kept as a flag)."""
        return self._all_synced

    def listed(self, kind: str) -> bool:
        """kind has been listed from its source at least once."""
        return kind in self._synced

    def stored(self, kind: str) -> dict[Key, Any]:
        """The objects of kind as stored (compact(): some pods as their address alone); read only."""
        return self._objects[kind]

    def mark_synced(self, kind: str) -> None:
        self._synced.add(kind)
        self._all_synced = all(k in self._synced for k in self.kinds)

    @property
    def serial(self) -> int:
        return self._serial

    def subscribe(self, callback: Callable[[set[Tag]], None]) -> None:
        """callback(tags) runs after every update that touched something."""
        self._subscribers.append(callback)

    def keep_versions(self) -> None:
        """Remember each object's resourceVersion from now on, for `kdns explain`."""
        if self.versions is None:
            self.versions = {}

    def version(self, kind: str, key: Key) -> str:
        """The resourceVersion of an object, "" when unknown (not kept, or none given)."""
        return self.versions.get(kind, {}).get(key, "") if self.versions is not None else ""

    def track_pod_namespaces(self) -> None:
        """Watch pods for client_namespace() (autopath) whatever the `pods` mode; call before the
        source starts. Under `pods verified` the pod index serves already; otherwise only each
        running pod's address -> namespace is kept (PodNamespaces), and no record is made of it."""
        if "Pod" in self.kinds:
            return
        self.kinds += ("Pod",)
        self._pod_namespaces = PodNamespaces()
        self._all_synced = False

    def serve_imports(self, store: ImportStore) -> None:
        """Watch ServiceImports into store, and give it every EndpointSlice change (`multicluster`);
        call before the source starts."""
        self.imports = store
        if "ServiceImport" not in self.kinds:
            self.kinds += ("ServiceImport",)
            self._all_synced = False

    def client_namespace(self, ip: str) -> str | None:
        """The namespace of the running pod with this address (CoreDNS podWithIP: the first one
        in phase Running), or None; always None unless pods are watched."""
        if self._pod_namespaces is not None:
            return self._pod_namespaces.by_ip.get(ip)
        for pod in self.pods_by_ip(ip):
            if pod.phase == _RUNNING:
                return pod.namespace
        return None

    def slim(self, kind: str) -> Slim | PodNamespaces:
        """An empty batch to add raw objects of kind to as they arrive, then to give to replace()."""
        if kind == "Pod" and self._pod_namespaces is not None:
            return PodNamespaces()
        return Slim(kind, versions=self.versions is not None)

    def replace(self, kind: str, objects: Iterable[dict[str, Any]] | Slim | PodNamespaces) -> set[Tag]:
        """Make the objects of kind exactly these (after a list); returns the touched tags.

        objects are raw dicts, or the batch slim(kind) gave. A malformed object is logged and left
        out (as if it did not exist).
        """
        if KINDS.get(kind) is None or kind not in self.kinds:
            return set()
        if self._pod_namespaces is not None and kind == "Pod":
            if isinstance(objects, Slim):
                raise TypeError("pods tracked for autopath are listed into slim('Pod'), a PodNamespaces")
            if not isinstance(objects, PodNamespaces):
                raws, objects = objects, PodNamespaces()
                objects.add(raws)
            self._pod_namespaces = objects
            return set()
        if isinstance(objects, PodNamespaces):
            raise TypeError("a PodNamespaces batch is only for pods tracked for autopath")
        if not isinstance(objects, Slim):
            batch = Slim(kind, versions=self.versions is not None)
            batch.add(objects)
            objects = batch
        fresh = objects.objects
        if self.versions is not None:
            self.versions[kind] = objects.versions or {}
        current = self._objects[kind]
        touched: set[Tag] = set()
        with gc_paused():
            for key in [k for k in current if k not in fresh]:
                self._set(kind, key, None, touched)
            for key, new in fresh.items():
                if current.get(key) != new:
                    self._set(kind, key, new, touched)
        return self._changed(touched)

    def apply(self, kind: str, event: str, obj: dict[str, Any]) -> set[Tag]:
        """Apply one watch event (ADDED, MODIFIED, DELETED); ValueError for a malformed object."""
        convert = KINDS.get(kind)
        if convert is None or kind not in self.kinds or event not in ("ADDED", "MODIFIED", "DELETED"):
            return set()
        if self._pod_namespaces is not None and kind == "Pod":
            self._pod_namespaces.apply(event, obj)
            return set()
        key = key_of(kind, obj)
        if self.versions is not None:
            versions = self.versions.setdefault(kind, {})
            if event == "DELETED":
                versions.pop(key, None)
            else:
                versions[key] = resource_version(obj)
        try:
            new = None if event == "DELETED" else compact(kind, convert(obj))
        except ValueError:
            # What a relist would do (Slim: the last object given for a key counts, even
            # malformed): the object served under this key goes; the caller logs this one.
            self._replace_one(kind, key, None)
            raise
        return self._replace_one(kind, key, new)

    def _replace_one(self, kind: str, key: Key, new: Any) -> set[Tag]:
        if self._objects[kind].get(key) == new:
            return set()
        touched: set[Tag] = set()
        self._set(kind, key, new, touched)
        return self._changed(touched)

    def _stored(self, kind: str, key: Key) -> Any:
        found = self._objects[kind].get(key)
        if kind == "Pod" and type(found) is str:
            return Pod(key[0], key[1], (found,), _RUNNING)
        return found

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

    def endpoints_by_ip(self, ip: str) -> list[tuple[Key, EndpointAddress]]:
        """((namespace, service), address) for every ready endpoint with this IP, sorted."""
        out = []
        for key in sorted(_values(self._endpoints_by_ip, ip)):
            for address in self._endpoints[key].addresses:
                if address.ip == ip:
                    out.append((key, address))
        return out

    def slices(self, namespace: str, name: str) -> list[EndpointSlice]:
        """The EndpointSlices (or Endpoints) of a service, in name order."""
        return list(self._slices_of((namespace, name)))
    def zone_known(self, zone: str) -> bool:
        """An endpoint has been in this topology zone (`zonal`); tag ("zone", zone)."""
        return zone in self._topology_zones

    def zone_endpoints(self, namespace: str, name: str, zone: str) -> ServiceEndpoints:
        """Ready endpoints of a service in one topology zone (`zonal`: computed when asked; the
        answer then stays on the fast path until its "svc" or "zonal" tag is touched)."""
        slices = (
            replace(sl, endpoints=tuple(e for e in sl.endpoints if e.zone == zone))
            for sl in self._slices_of((namespace, name))
        )
        return build_endpoints(slices, pod_names=self.config.endpoint_pod_names)

    def pods_by_ip(self, ip: str) -> tuple[Pod, ...]:
        return tuple(self._stored("Pod", key) for key in _values(self._pods_by_ip, ip))

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

    def _set(self, kind: str, key: Key, new: Any, touched: set[Tag]) -> None:
        if kind == "Namespace":
            self._set_namespace(key, new, touched)
        elif kind == "Service":
            self._set_service(key, new, touched)
        elif kind in ("EndpointSlice", "Endpoints"):
            if self.imports is not None and kind == "EndpointSlice":
                self.imports.set_slice(key, self._objects[kind].get(key), new, touched)
            if self.config.zonal:
                self._note_zones(self._objects[kind].get(key), new, touched)
            self._set_slice(kind, key, new, touched)
        elif kind == "ServiceImport":
            if new is None:
                self._objects[kind].pop(key, None)
            else:
                self._objects[kind][key] = new
            if self.imports is not None:
                self.imports.set_import(key, new, touched)
        else:
            self._set_pod(key, new, touched)

    def _is_exposed(self, ns: Namespace | None) -> bool:
        if ns is None:
            return False
        if self.config.namespaces and ns.name not in self.config.namespaces:
            return False
        selector = self.config.namespace_labels
        return selector is None or selector.matches(ns.labels)

    def _set_namespace(self, key: Key, new: Namespace | None, touched: set[Tag]) -> None:
        store = self._objects["Namespace"]
        name = key[1]
        if new is None:
            store.pop(key, None)
        else:
            store[key] = new
        was = name in self._exposed
        now = self._is_exposed(new)
        if was == now:
            return
        if now:
            self._exposed.add(name)
        else:
            self._exposed.discard(name)
        touched.add(("ns", name))
        for svc_name in self._services_in_ns.get(name, ()):
            svc = self._objects["Service"][(name, svc_name)]
            touched.update(("ip", ip) for ip in svc.cluster_ips)
            touched.update(("ip", ip) for ip in self.endpoints(name, svc_name).ips)
        for (ns, _), endpoints in self._endpoints.items():
            if ns == name:
                touched.update(("ip", ip) for ip in endpoints.ips)

    def _set_service(self, key: Key, new: Service | None, touched: set[Tag]) -> None:
        if new is not None and self.config.labels is not None and not self.config.labels.matches(new.labels):
            new = None  # outside the `labels` selector: as if it did not exist
        store = self._objects["Service"]
        old: Service | None = store.get(key)
        if old == new:
            return
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
        touched.add(("svc", ns, name))
        # A cluster IP's PTR changes when the IP joins or leaves this service (or it comes or goes).
        old_ips = old.cluster_ips if old is not None else ()
        new_ips = new.cluster_ips if new is not None else ()
        if old_ips != new_ips:
            touched.update(("ip", ip) for ip in set(old_ips) ^ set(new_ips))
        # Endpoint PTRs name the service: they change only when it appears, goes, or turns
        # ExternalName (whose slices are ignored) or back.
        if (old is None or old.is_external) != (new is None or new.is_external):
            touched.update(("ip", ip) for ip in self.endpoints(ns, name).ips)

    def _note_zones(self, old: EndpointSlice | None, new: EndpointSlice | None, touched: set[Tag]) -> None:
        """`zonal`: learn new's zones. Any change of the slice's endpoints or ports changes the
        service's zonal names (tag "zonal"), even when its merged endpoints stay the same: an
        endpoint that moves zone, or a copy of an address in another slice that turns not ready."""
        if new is not None:
            for ep in new.endpoints:
                if ep.zone and ep.zone not in self._topology_zones:
                    self._topology_zones.add(ep.zone)
                    touched.add(("zone", ep.zone))
        if _zonal_content(old) != _zonal_content(new):
            touched.update(("zonal", sl.namespace, sl.service) for sl in (old, new) if sl is not None and sl.service)

    def _slices_of(self, svc_key: Key) -> Iterator[EndpointSlice]:
        """The slices of a service in name order."""
        group = self._slices_by_service.get(svc_key)
        if group is None:
            return iter(())
        if isinstance(group, EndpointSlice):
            return iter((group,))
        return (group[n] for n in sorted(group))

    def _set_slice(self, kind: str, key: Key, new: EndpointSlice | None, touched: set[Tag]) -> None:
        store = self._objects[kind]
        old: EndpointSlice | None = store.get(key)
        ns, slice_name = key
        affected: list[Key] = []
        groups = self._slices_by_service
        if old is not None and old.service:
            svc_key = (ns, old.service)
            group = groups.get(svc_key)
            if isinstance(group, EndpointSlice):
                if group.name == slice_name:
                    del groups[svc_key]
            elif group is not None:
                group.pop(slice_name, None)
                if len(group) == 1:
                    groups[svc_key] = next(iter(group.values()))
                elif not group:
                    del groups[svc_key]
            affected.append(svc_key)
        if new is None:
            store.pop(key, None)
        else:
            store[key] = new
            if new.service:
                svc_key = (ns, new.service)
                group = groups.get(svc_key)
                if group is None or (isinstance(group, EndpointSlice) and group.name == slice_name):
                    groups[svc_key] = new
                elif isinstance(group, EndpointSlice):
                    groups[svc_key] = {group.name: group, slice_name: new}
                else:
                    group[slice_name] = new
                if svc_key not in affected:
                    affected.append(svc_key)
        for svc_key in affected:
            self._rebuild_endpoints(svc_key, touched)

    def _rebuild_endpoints(self, svc_key: Key, touched: set[Tag]) -> None:
        fresh = build_endpoints(self._slices_of(svc_key), pod_names=self.config.endpoint_pod_names)
        old = self._endpoints.get(svc_key, NO_ENDPOINTS)
        if fresh == old:
            return
        by_ip = self._endpoints_by_ip
        if old.addresses:
            for ip in old.ips - fresh.ips:
                _remove(by_ip, ip, svc_key)
        for a in fresh.addresses:
            _add(by_ip, a.ip, svc_key)  # a no-op when the ip was there already
        if fresh.addresses:
            self._endpoints[svc_key] = fresh
        else:
            self._endpoints.pop(svc_key, None)
        touched.add(("svc", *svc_key))
        # A PTR of an endpoint IP names (label, service): only IPs whose names changed are touched.
        if not old.addresses:
            touched.update(("ip", a.ip) for a in fresh.addresses)
        elif not fresh.addresses:
            touched.update(("ip", a.ip) for a in old.addresses)
        else:
            old_names = {(a.ip, a.label) for a in old.addresses}
            new_names = {(a.ip, a.label) for a in fresh.addresses}
            touched.update(("ip", ip) for ip, _ in old_names ^ new_names)

    def _set_pod(self, key: Key, new: str | Pod | None, touched: set[Tag]) -> None:
        store = self._objects["Pod"]
        old = store.get(key)
        if old is not None:
            for ip in _pod_ips(old):
                _remove(self._pods_by_ip, ip, key)
        if new is None:
            store.pop(key, None)
        else:
            store[key] = new
            for ip in _pod_ips(new):
                _add(self._pods_by_ip, ip, key)
        for pod in (old, new):
            if pod is not None:
                touched.update(("pod", key[0], ip) for ip in _pod_ips(pod))


def _zonal_content(sl: EndpointSlice | None) -> tuple[tuple[Endpoint, ...], tuple[Port, ...]] | None:
    """What zone_endpoints() reads of a slice."""
    return (sl.endpoints, sl.ports) if sl is not None else None


def build_endpoints(slices: Iterable[EndpointSlice], pod_names: bool = False) -> ServiceEndpoints:
    """Merge slices: ready addresses only, one entry per (ip, label), ports united in order.

    The label is the endpoint's hostname, else (endpoint_pod_names) the pod's name, else the dashed
    address: CoreDNS endpointHostname().
    """
    merged: dict[tuple[str, str], tuple[Port, ...]] = {}
    for sl in slices:
        for ep in sl.endpoints:
            if not ep.ready:
                continue
            ports = ep.ports if ep.ports is not None else sl.ports
            if len(ports) > 1 and len(set(ports)) < len(ports):
                ports = tuple(dict.fromkeys(ports))
            for ip in ep.addresses:
                label = ep.hostname or (ep.pod_name if pod_names else "") or ip_label(ip)
                have = merged.get((ip, label))
                if have is None:
                    # The slice's own tuple, shared by all its addresses (and Ports are shared).
                    merged[(ip, label)] = ports
                elif have is not ports:
                    merged[(ip, label)] = have + tuple(p for p in ports if p not in have)
    if not merged:
        return NO_ENDPOINTS
    addresses = tuple(EndpointAddress(ip, label, ports) for (ip, label), ports in merged.items())
    return ServiceEndpoints(addresses, by_label_table(addresses))


def by_label_table(addresses: Sequence[EndpointAddress]) -> dict[str, tuple[EndpointAddress, ...]] | None:
    """The label -> addresses table of ServiceEndpoints, for services big enough to want one."""
    return _by_label(addresses) if len(addresses) > BY_LABEL_TABLE_FROM else None
