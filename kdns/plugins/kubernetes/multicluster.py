"""The Multi-Cluster Services view of the index (`multicluster ZONES...`, KEP-1645).

In a multicluster zone (`clusterset.local`) a service is a ServiceImport: type ClusterSetIP
answers its spec.ips, type Headless the ready endpoints of the EndpointSlices labelled
`multicluster.kubernetes.io/service-name: <name>` in its namespace. Each such slice comes from one
cluster (`multicluster.kubernetes.io/source-cluster`), and an endpoint is named under the service
by its label and that cluster: `<hostname or dashed ip>.<cluster>.<svc>.<ns>.svc.clusterset.local`
(CoreDNS's kubernetes plugin since 1.12.2). ServiceImports are kept as the Service they stand for
(objects.service_import_from), so records.py answers them with the code of ordinary services.

Tags: ("mcs", ns, name) for everything at and below a ServiceImport's name, touched when the
import or the merged endpoints of its slices change; names below a namespace also carry
("ns", ns), which the ClusterIndex touches.
"""

from __future__ import annotations

from collections.abc import Iterable

from kdns.plugins.kubernetes.index import (
    NO_ENDPOINTS,
    EndpointAddress,
    Key,
    ServiceEndpoints,
    Tag,
    build_endpoints,
    by_label_table,
)
from kdns.plugins.kubernetes.objects import EndpointSlice, Service

TAG = "mcs"


class ServiceImports:
    """ServiceImports and their imported slices, looked up as index.service()/endpoints() are."""

    tag = TAG

    def __init__(self, pod_names: bool = False) -> None:
        self._pod_names = pod_names
        self._services: dict[Key, Service] = {}
        self._slices: dict[Key, dict[str, EndpointSlice]] = {}  # (ns, import) -> {slice name: slice}
        self._endpoints: dict[Key, ServiceEndpoints] = {}

    def service(self, namespace: str, name: str) -> Service | None:
        return self._services.get((namespace, name))

    def endpoints(self, namespace: str, name: str) -> ServiceEndpoints:
        return self._endpoints.get((namespace, name), NO_ENDPOINTS)

    def set_import(self, key: Key, new: Service | None, touched: set[Tag]) -> None:
        if self._services.get(key) == new:
            return
        if new is None:
            self._services.pop(key, None)
        else:
            self._services[key] = new
        touched.add((TAG, *key))

    def set_slice(self, key: Key, old: EndpointSlice | None, new: EndpointSlice | None, touched: set[Tag]) -> None:
        """A slice changed (any slice: only imported ones, with the label, count)."""
        ns, name = key
        affected = []
        if old is not None and old.mc_service:
            group = self._slices.get((ns, old.mc_service))
            if group is not None:
                group.pop(name, None)
                if not group:
                    del self._slices[(ns, old.mc_service)]
            affected.append((ns, old.mc_service))
        if new is not None and new.mc_service:
            self._slices.setdefault((ns, new.mc_service), {})[name] = new
            if (ns, new.mc_service) not in affected:
                affected.append((ns, new.mc_service))
        for svc_key in affected:
            fresh = _merge(self._slices.get(svc_key, {}).values(), self._pod_names)
            if fresh == self._endpoints.get(svc_key, NO_ENDPOINTS):
                continue
            if fresh.addresses:
                self._endpoints[svc_key] = fresh
            else:
                self._endpoints.pop(svc_key, None)
            touched.add((TAG, *svc_key))


def _merge(slices: Iterable[EndpointSlice], pod_names: bool) -> ServiceEndpoints:
    """Ready endpoints of every cluster's slices, each labelled `<label>.<cluster>`."""
    by_cluster: dict[str, list[EndpointSlice]] = {}
    for sl in sorted(slices, key=lambda s: s.name):
        by_cluster.setdefault(sl.cluster_id, []).append(sl)
    addresses: list[EndpointAddress] = []
    for cluster in sorted(by_cluster):
        merged = build_endpoints(by_cluster[cluster], pod_names=pod_names)
        # A slice without its cluster's id names its endpoints by their label alone.
        suffix = f".{cluster}" if cluster else ""
        addresses.extend(EndpointAddress(a.ip, a.label + suffix, a.ports) for a in merged.addresses)
    if not addresses:
        return NO_ENDPOINTS
    return ServiceEndpoints(tuple(addresses), by_label_table(addresses))
