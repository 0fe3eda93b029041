"""A synthetic cluster for the fake API, its changes, and the questions that cover its answers."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from typing import Any

from tests.fakeapi import FakeApi

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
ZONE = "cluster.local"


def namespace(name: str) -> dict[str, Any]:
    return {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name}, "spec": {}, "status": {"phase": "Active"}}


def cluster_ip(i: int) -> str:
    return str(ipaddress.IPv4Address("10.96.0.0") + 16 + i)


def endpoint_ip(i: int) -> str:
    return str(ipaddress.IPv4Address("10.244.0.0") + 16 + i)


def service(name: str, ns: str, ip: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
        "type": "ClusterIP",
        "selector": {"app": name},
    }
    if ip is None:
        spec["clusterIP"] = "None"
        spec["clusterIPs"] = ["None"]
    else:
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
    return {
        "kind": "Service", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns},
        "spec": spec, "status": {"loadBalancer": {}},
    }


def slice_(service_name: str, ns: str, ips: list[str], ready: bool = True) -> dict[str, Any]:
    return {
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": f"{service_name}-abcde", "namespace": ns, "labels": {SERVICE_NAME_LABEL: service_name}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": ready}, "hostname": f"h{n}"} for n, ip in enumerate(ips)
        ],
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
    }


class Cluster:
    """`services` services over a few namespaces; every fifth is headless with 2 endpoints."""

    def __init__(self, services: int, namespaces: int = 5, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.namespaces = [f"ns{i}" for i in range(namespaces)]
        self.next_ip = 0
        self.next_ep = 0
        self.next_name = 0
        self.objects: list[dict[str, Any]] = [namespace(ns) for ns in self.namespaces]
        # Plus the service the NS record names, as in a real cluster.
        self.objects.append(namespace("kube-system"))
        self.objects.append(service("kube-dns", "kube-system", "10.96.0.10"))
        for _ in range(services):
            self.objects.extend(self.new_service())

    def new_service(self, ns: str | None = None) -> list[dict[str, Any]]:
        n = self.next_name
        self.next_name += 1
        name = f"svc{n}"
        ns = ns or self.namespaces[n % len(self.namespaces)]
        headless = n % 5 == 4
        ip = None if headless else cluster_ip(self.take_ip())
        ips = [endpoint_ip(self.take_ep()) for _ in range(2)]
        return [service(name, ns, ip), slice_(name, ns, ips)]

    def take_ip(self) -> int:
        self.next_ip += 1
        return self.next_ip

    def take_ep(self) -> int:
        self.next_ep += 1
        return self.next_ep

    def load(self, api: FakeApi) -> None:
        for obj in self.objects:
            api.create(obj)

    def churn(self, api: FakeApi, changes: int) -> Iterator[str]:
        """Apply `changes` random writes (create, new cluster IP, endpoints moved, delete)."""
        for _ in range(changes):
            services = api.objects("Service")
            ours = [s for s in services if s["metadata"]["name"].startswith("svc")]
            op = self.rng.random()
            if op < 0.3 or len(ours) < 10:
                for obj in self.new_service():
                    api.create(obj)
                yield "create"
            elif op < 0.55:
                s = self.rng.choice(ours)
                if s["spec"]["clusterIP"] == "None":
                    continue
                ip = cluster_ip(self.take_ip())
                api.patch("Service", s["metadata"]["name"], {"spec": {"clusterIP": ip, "clusterIPs": [ip]}}, s["metadata"]["namespace"])
                yield "readdress"
            elif op < 0.8:
                s = self.rng.choice(ours)
                name, ns = s["metadata"]["name"], s["metadata"]["namespace"]
                ips = [endpoint_ip(self.take_ep()) for _ in range(self.rng.randrange(0, 4))]
                body = slice_(name, ns, ips, ready=self.rng.random() < 0.9)
                if api.get("EndpointSlice", f"{name}-abcde", ns) is None:
                    api.create(body)
                else:
                    api.update(body)
                yield "endpoints"
            else:
                s = self.rng.choice(ours)
                name, ns = s["metadata"]["name"], s["metadata"]["namespace"]
                api.delete("Service", name, ns)
                if api.get("EndpointSlice", f"{name}-abcde", ns) is not None:
                    api.delete("EndpointSlice", f"{name}-abcde", ns)
                yield "delete"


def questions(api: FakeApi, ever: int) -> list[tuple[str, str]]:
    """Questions covering the API's state: every service (A, AAAA, SRV), its endpoints, the PTR of
    each address, names that were ever created (so deletions show), namespaces, the apex.

    `ever` is how many svcN names were handed out (the deleted ones are asked too: NXDOMAIN).
    """
    out: list[tuple[str, str]] = [(f"{ZONE}.", "SOA"), (f"{ZONE}.", "NS"), (f"dns-version.{ZONE}.", "TXT")]
    seen_ns = set()
    for s in api.objects("Service"):
        name, ns = s["metadata"]["name"], s["metadata"]["namespace"]
        base = f"{name}.{ns}.svc.{ZONE}."
        out += [(base, "A"), (base, "AAAA"), (base, "SRV"), (f"_http._tcp.{base}", "SRV"), (f"h0.{base}", "A")]
        for ip in s["spec"].get("clusterIPs", []):
            if ip != "None":
                out.append((ipaddress.ip_address(ip).reverse_pointer + ".", "PTR"))
        seen_ns.add(ns)
    for sl in api.objects("EndpointSlice"):
        for ep in sl.get("endpoints") or []:
            for ip in ep["addresses"]:
                out.append((ipaddress.ip_address(ip).reverse_pointer + ".", "PTR"))
    for n in range(ever):
        out.append((f"svc{n}.ns{n % 5}.svc.{ZONE}.", "A"))
    for ns in sorted(seen_ns) + ["nonexistent"]:
        out += [(f"{ns}.svc.{ZONE}.", "A"), (f"missing.{ns}.svc.{ZONE}.", "A"), (f"10-1-2-3.{ns}.pod.{ZONE}.", "A")]
    return out
