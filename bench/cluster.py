"""Synthetic clusters: the same names as kdns manifests, as knot zone files, and as dnsperf query files.

Addressing (fixed so every output agrees): cluster IPs from 10.96.0.0/16 (reverse zone
96.10.in-addr.arpa), endpoint IPs from 10.244.0.0/14, pod IPs from 10.128.0.0/10. Service i lives in
namespace i % namespaces. Every Service has one named port `http` (80/TCP, endpoints on 8080), so
`_http._tcp.<svc>.<ns>.svc.Z` has SRV records.

The manifests are written as JSON `List` documents (JSON is YAML 1.2, and kdns's `manifests` source
reads .json files with the json module): at S2 the pure-Python YAML loader would take longer than
the sync itself, and the figure would measure PyYAML rather than kdns.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ZONE = "cluster.local"
REVERSE_ZONE = "96.10.in-addr.arpa"
SERVICE_NET = ipaddress.IPv4Address("10.96.0.0")
ENDPOINT_NET = ipaddress.IPv4Address("10.244.0.0")
POD_NET = ipaddress.IPv4Address("10.128.0.0")
SERVICE_PORT = 80
TARGET_PORT = 8080
PORT_NAME = "http"
# The kubeadm Corefile's `ttl 30`; knot's records carry the same TTL so answers match.
TTL = 30


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    namespaces: int
    clusterip_services: int
    clusterip_endpoints: int  # per ClusterIP service
    headless_services: int
    headless_endpoints: int  # per headless service, each with a hostname
    pods: int = 0

    @property
    def services(self) -> int:
        return self.clusterip_services + self.headless_services

    @property
    def endpoints(self) -> int:
        return self.clusterip_services * self.clusterip_endpoints + self.headless_services * self.headless_endpoints

    def describe(self) -> str:
        text = (
            f"{self.clusterip_services:,} ClusterIP services x {self.clusterip_endpoints} endpoints + "
            f"{self.headless_services:,} headless x {self.headless_endpoints} endpoints with hostnames "
            f"({self.services:,} services, {self.endpoints:,} endpoints) in {self.namespaces} namespaces"
        )
        if self.pods:
            text += f", {self.pods:,} pods"
        return text


# design.md / issue 7: S1 and S2.
S1 = ClusterSpec(
    "S1", namespaces=10, clusterip_services=1000, clusterip_endpoints=3, headless_services=200, headless_endpoints=5
)
S2 = ClusterSpec(
    "S2", namespaces=20, clusterip_services=9000, clusterip_endpoints=5, headless_services=1000, headless_endpoints=5
)


@dataclass(frozen=True)
class Endpoint:
    ip: str
    hostname: str  # "" for ClusterIP services' endpoints


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    cluster_ip: str | None  # None: headless
    endpoints: tuple[Endpoint, ...]

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.svc.{ZONE}."

    @property
    def srv_name(self) -> str:
        return f"_{PORT_NAME}._tcp.{self.fqdn}"


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    ip: str


def _ip(base: ipaddress.IPv4Address, offset: int) -> str:
    return str(base + offset)


def reverse_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


class Cluster:
    """The objects of one ClusterSpec, deterministic for a given spec."""

    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        self.namespaces = [f"ns-{i:02d}" for i in range(spec.namespaces)]
        self.services: list[Service] = []
        next_endpoint = 1
        for i in range(spec.clusterip_services):
            eps = tuple(Endpoint(_ip(ENDPOINT_NET, next_endpoint + j), "") for j in range(spec.clusterip_endpoints))
            next_endpoint += spec.clusterip_endpoints
            self.services.append(
                Service(self.namespaces[i % spec.namespaces], f"svc-{i}", _ip(SERVICE_NET, i + 1), eps)
            )
        for i in range(spec.headless_services):
            eps = tuple(
                Endpoint(_ip(ENDPOINT_NET, next_endpoint + j), f"host-{j}") for j in range(spec.headless_endpoints)
            )
            next_endpoint += spec.headless_endpoints
            self.services.append(Service(self.namespaces[i % spec.namespaces], f"hl-{i}", None, eps))
        self.pods = [
            Pod(self.namespaces[i % spec.namespaces], f"pod-{i}", _ip(POD_NET, i + 1)) for i in range(spec.pods)
        ]

    @property
    def clusterip(self) -> list[Service]:
        return [s for s in self.services if s.cluster_ip is not None]

    @property
    def headless(self) -> list[Service]:
        return [s for s in self.services if s.cluster_ip is None]

    # -- manifests for kdns --------------------------------------------------------------------

    def write_manifests(self, directory: str) -> list[str]:
        """One JSON List per namespace (Namespace, Services, EndpointSlices), pods in their own files."""
        os.makedirs(directory, exist_ok=True)
        by_ns: dict[str, list[dict[str, Any]]] = {ns: [_namespace(ns)] for ns in self.namespaces}
        for svc in self.services:
            by_ns[svc.namespace].append(_service(svc))
            by_ns[svc.namespace].append(_slice(svc))
        paths = []
        for ns, items in by_ns.items():
            paths.append(_write_list(os.path.join(directory, f"{ns}.json"), items))
        if self.pods:
            pods_by_ns: dict[str, list[dict[str, Any]]] = {ns: [] for ns in self.namespaces}
            for pod in self.pods:
                pods_by_ns[pod.namespace].append(_pod(pod))
            for ns, items in pods_by_ns.items():
                paths.append(_write_list(os.path.join(directory, f"pods-{ns}.json"), items))
        return paths

    def api_objects(self) -> Iterator[dict[str, Any]]:
        """The same objects for the fake API server (kind and apiVersion on each)."""
        for ns in self.namespaces:
            yield _namespace(ns)
        for svc in self.services:
            yield _service(svc)
            yield _slice(svc)
        for pod in self.pods:
            yield _pod(pod)

    # -- zones for knot ------------------------------------------------------------------------

    def write_zones(self, directory: str) -> dict[str, str]:
        """cluster.local and the cluster-IP reverse zone as RFC 1035 files; zone -> path."""
        os.makedirs(directory, exist_ok=True)
        forward = os.path.join(directory, f"{ZONE}.zone")
        with open(forward, "w", encoding="ascii") as f:
            f.write(_soa(ZONE))
            f.write(f'dns-version.{ZONE}. TXT "1.1.0"\n')
            f.writelines(line for svc in self.services for line in _service_records(svc))
        reverse = os.path.join(directory, f"{REVERSE_ZONE}.zone")
        with open(reverse, "w", encoding="ascii") as f:
            f.write(_soa(REVERSE_ZONE))
            for svc in self.clusterip:
                assert svc.cluster_ip is not None
                f.write(f"{reverse_name(svc.cluster_ip)} PTR {svc.fqdn}\n")
        return {ZONE: forward, REVERSE_ZONE: reverse}

    # -- queries -------------------------------------------------------------------------------

    def query_mix(self, count: int, seed: int = 7) -> list[str]:
        """dnsperf lines: 70% A ClusterIP, 10% SRV, 10% headless, 5% PTR, 5% NXDOMAIN (issue 7)."""
        rng = random.Random(seed)
        clusterip, headless = self.clusterip, self.headless
        everyone = self.services
        lines = []
        for _ in range(count):
            roll = rng.random()
            if roll < 0.70:
                lines.append(f"{rng.choice(clusterip).fqdn} A")
            elif roll < 0.80:
                lines.append(f"{rng.choice(everyone).srv_name} SRV")
            elif roll < 0.90:
                svc = rng.choice(headless)
                if rng.random() < 0.5:
                    lines.append(f"{svc.fqdn} A")
                else:
                    lines.append(f"{rng.choice(svc.endpoints).hostname}.{svc.fqdn} A")
            elif roll < 0.95:
                ip = rng.choice(clusterip).cluster_ip
                assert ip is not None
                lines.append(f"{reverse_name(ip)} PTR")
            else:
                # What ndots:5 search expansion makes of an external name in a pod of <ns>.
                lines.append(f"www.example.com.{rng.choice(self.namespaces)}.svc.{ZONE}. A")
        return lines

    def distinct_names(self, seed: int = 11) -> list[str]:
        """Every name of the mix's kinds once (shuffled): each is a first query, the slow path."""
        lines = []
        for svc in self.services:
            # AAAA of an IPv4-only name is NODATA: a first query all the same (ndots:5 clients ask both).
            lines += [f"{svc.fqdn} A", f"{svc.fqdn} AAAA", f"{svc.srv_name} SRV"]
            if svc.cluster_ip is None:
                lines.extend(f"{ep.hostname}.{svc.fqdn} A" for ep in svc.endpoints)
            else:
                lines.append(f"{reverse_name(svc.cluster_ip)} PTR")
        lines.extend(
            f"www.example{i}.com.{self.namespaces[i % len(self.namespaces)]}.svc.{ZONE}. A"
            for i in range(len(self.services))
        )
        random.Random(seed).shuffle(lines)
        return lines


def write_queries(path: str, lines: list[str]) -> str:
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _write_list(path: str, items: list[dict[str, Any]]) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f, separators=(",", ":"))
    return path


def _namespace(ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}


def _service(svc: Service) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "protocol": "TCP", "targetPort": TARGET_PORT}],
        "selector": {"app": svc.name},
        "type": "ClusterIP",
    }
    if svc.cluster_ip is None:
        spec["clusterIP"] = "None"
        spec["clusterIPs"] = ["None"]
    else:
        spec["clusterIP"] = svc.cluster_ip
        spec["clusterIPs"] = [svc.cluster_ip]
    spec["ipFamilies"] = ["IPv4"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc.name, "namespace": svc.namespace},
        "spec": spec,
    }


def _slice(svc: Service) -> dict[str, Any]:
    endpoints = []
    for ep in svc.endpoints:
        item: dict[str, Any] = {
            "addresses": [ep.ip],
            "conditions": {"ready": True, "serving": True, "terminating": False},
        }
        if ep.hostname:
            item["hostname"] = ep.hostname
        endpoints.append(item)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{svc.name}-abcde",
            "namespace": svc.namespace,
            "labels": {"kubernetes.io/service-name": svc.name, "endpointslice.kubernetes.io/managed-by": "bench"},
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": PORT_NAME, "port": TARGET_PORT, "protocol": "TCP"}],
    }


def _pod(pod: Pod) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod.name, "namespace": pod.namespace},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
        "status": {"phase": "Running", "podIP": pod.ip, "podIPs": [{"ip": pod.ip}]},
    }


def _soa(zone: str) -> str:
    # The SOA kdns's kubernetes plugin serves (design.md section 4), so negative answers match in size.
    return (
        f"$ORIGIN {zone}.\n$TTL {TTL}\n"
        f"@ SOA ns.dns.{ZONE}. hostmaster.{ZONE}. 1 7200 1800 86400 {TTL}\n"
        f"@ NS ns.dns.{ZONE}.\n" + (f"ns.dns.{ZONE}. A 10.96.0.10\n" if zone == ZONE else "")
    )


def _service_records(svc: Service) -> Iterator[str]:
    if svc.cluster_ip is not None:
        yield f"{svc.fqdn} A {svc.cluster_ip}\n"
        yield f"{svc.srv_name} SRV 0 100 {SERVICE_PORT} {svc.fqdn}\n"
        return
    weight = 100 // max(1, len(svc.endpoints))
    for ep in svc.endpoints:
        yield f"{svc.fqdn} A {ep.ip}\n"
        yield f"{ep.hostname}.{svc.fqdn} A {ep.ip}\n"
        yield f"{svc.srv_name} SRV 0 {weight} {TARGET_PORT} {ep.hostname}.{svc.fqdn}\n"
