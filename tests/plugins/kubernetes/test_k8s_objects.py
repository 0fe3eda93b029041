"""Slim objects made from the recorded real API objects (tests/fakeapi/recordings/lists/)."""

from __future__ import annotations

import json

import pytest

from kdns.plugins.kubernetes.objects import (
    KINDS,
    Endpoint,
    Port,
    endpoints_from,
    key_of,
    namespace_from,
    pod_from,
    service_from,
    slice_from,
)
from tests.fakeapi import RECORDINGS

LISTS = RECORDINGS / "lists"
WATCH = RECORDINGS / "watch"


def items(name: str) -> list[dict]:  # type: ignore[type-arg]
    return json.loads((LISTS / name).read_text())["items"]


def by_name(objs: list, namespace: str, name: str):  # type: ignore[no-untyped-def,type-arg]
    (found,) = [o for o in objs if o.namespace == namespace and o.name == name]
    return found


def test_services() -> None:
    svcs = [service_from(d) for d in items("services.json")]
    web = by_name(svcs, "demo", "web")
    assert web.type == "ClusterIP" and web.cluster_ips == ("10.98.75.229",) and not web.headless
    assert web.ports == (Port("http", 80, "TCP"), Port("dns", 53, "UDP"))
    assert ("app", "web") in web.labels and web.has_selector
    headless = by_name(svcs, "demo", "web-headless")
    assert headless.headless and headless.cluster_ips == ()
    ext = by_name(svcs, "demo", "ext")
    assert ext.is_external and ext.external_name == "example.com" and ext.ports == ()
    manual = by_name(svcs, "demo", "manual")
    assert not manual.has_selector and manual.cluster_ips
    assert by_name(svcs, "default", "kubernetes").cluster_ips == ("10.96.0.1",)


def test_endpointslices() -> None:
    slices = [slice_from(d) for d in items("endpointslices.json")]
    manual = by_name(slices, "demo", "manual-1")
    assert manual.service == "manual"
    assert manual.endpoints == (
        Endpoint(("192.0.2.50",), hostname="m0", ready=True),
        Endpoint(("192.0.2.51",), ready=False),
    )
    heads = [s for s in slices if s.service == "web-headless"]
    assert len(heads) == 1
    eps = {e.pod_name: e for e in heads[0].endpoints}
    assert eps["web-0"].hostname == "web-0" and eps["web-0"].ready and eps["web-0"].node_name == "node-1"
    assert eps["web-1"].hostname == "web-1" and not eps["web-1"].ready
    assert eps["web-2"].hostname == ""
    assert {p.name: p.port for p in heads[0].ports} == {"http": 8080, "dns": 5353}
    nr = [s for s in slices if s.service == "web-nr"][0]
    assert all(e.ready for e in nr.endpoints)  # publishNotReadyAddresses


def test_nomatch_slice_has_null_endpoints() -> None:
    (sl,) = [slice_from(d) for d in items("demo.endpointslices.nomatch.json")]
    assert sl.endpoints == () and sl.ports == ()


def test_terminating_is_not_ready() -> None:
    # watch/endpointslices.watch.jsonl has web-2 terminating (ready false, terminating true);
    # publishNotReadyAddresses slices say ready true with terminating true: not ready either.
    seen = 0
    for line in (WATCH / "endpointslices.watch.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "BOOKMARK":
            continue
        for raw, ep in zip(event["object"].get("endpoints") or [], slice_from(event["object"]).endpoints):
            if (raw.get("conditions") or {}).get("terminating"):
                assert not ep.ready
                seen += 1
    assert seen


def test_pods_and_namespaces() -> None:
    pods = [pod_from(d) for d in items("pods.json")]
    api = by_name(pods, "demo-b", "api-0")
    assert api.ips == ("10.244.1.10", "fd00:10:244:1::a") and api.running
    namespaces = [namespace_from(d) for d in items("namespaces.json")]
    demo = [n for n in namespaces if n.name == "demo"][0]
    assert ("kubernetes.io/metadata.name", "demo") in demo.labels


def test_legacy_endpoints() -> None:
    eps = [endpoints_from(d) for d in items("endpoints.json")]
    manual = by_name(eps, "demo", "manual")
    assert manual.service == "manual"
    ready = {e.addresses[0]: e.ready for e in manual.endpoints}
    assert ready == {"192.0.2.50": True, "192.0.2.51": False}
    assert [e.hostname for e in manual.endpoints if e.ready] == ["m0"]
    assert all(e.ports for e in manual.endpoints)
    nomatch = endpoints_from(json.loads((LISTS / "demo.endpoints.nomatch.json").read_text()))
    assert nomatch.endpoints == ()


def test_every_recorded_object_converts() -> None:
    for name, kind in [("services.json", "Service"), ("endpointslices.json", "EndpointSlice"),
                       ("pods.json", "Pod"), ("namespaces.json", "Namespace"), ("endpoints.json", "Endpoints")]:
        for d in items(name):
            KINDS[kind](d)
            key_of(kind, d)


@pytest.mark.parametrize(
    "convert,bad",
    [
        (service_from, {}),
        (service_from, {"metadata": {"name": "x"}}),
        (service_from, {"metadata": {"name": "x", "namespace": "y"}, "spec": []}),
        (service_from, {"metadata": {"name": "x", "namespace": "y"}, "spec": {"clusterIP": "nope"}}),
        (service_from, {"metadata": {"name": "x", "namespace": "y"}, "spec": {"type": "ExternalName"}}),
        (service_from, {"metadata": {"name": "x", "namespace": "y"}, "spec": {"ports": [{"port": "eighty"}]}}),
        (slice_from, {"metadata": {"name": "x", "namespace": "y"}, "endpoints": [{"addresses": "1.2.3.4"}]}),
        (slice_from, {"metadata": {"name": "x", "namespace": "y"}, "endpoints": [{"addresses": ["x"]}]}),
        (slice_from, {"metadata": {"name": "x", "namespace": "y", "labels": ["a"]}}),
        (pod_from, {"metadata": {"name": "x", "namespace": "y"}, "status": {"podIPs": [{"ip": 5}]}}),
        (namespace_from, {"metadata": None}),
        (namespace_from, "Namespace"),
        (endpoints_from, {"metadata": {"name": "x", "namespace": "y"}, "subsets": [{"addresses": [{}]}]}),
    ],
)
def test_malformed_is_value_error(convert, bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        convert(bad)


def svc(spec: dict, name: str = "x", namespace: str = "y") -> dict:  # type: ignore[type-arg]
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def eps(endpoint: dict, ports: list | None = None) -> dict:  # type: ignore[type-arg]
    return {"metadata": {"name": "x", "namespace": "y"}, "endpoints": [endpoint], "ports": ports}


LONG = "a" * 64


@pytest.mark.parametrize(
    "convert,bad",
    [
        # ports no SRV record can carry (16 bits); a Service port is 1..65535
        *[(service_from, svc({"ports": [{"port": p}]})) for p in (99999, -1, 2**70, 0, True, "٣", "")],
        *[(slice_from, eps({"addresses": ["10.0.0.1"]}, [{"port": p}])) for p in (65536, -1, "eighty")],
        (endpoints_from, {"metadata": {"name": "x", "namespace": "y"}, "subsets": [{"ports": [{"port": 70000}]}]}),
        # an address with a zone is an address on one host only
        (service_from, svc({"clusterIP": "fe80::1%eth0"})),
        (slice_from, eps({"addresses": ["fe80::1%eth0"]})),
        # an externalName that is not a DNS name
        *[(service_from, svc({"type": "ExternalName", "externalName": n}))
          for n in ("a..b", f"{LONG}.com", ".".join(["abc"] * 64), "wéb.example", "a_b.example")],
        # an endpoint hostname that is not one label
        (slice_from, eps({"addresses": ["10.0.0.1"], "hostname": "a" * 70})),
        (slice_from, eps({"addresses": ["10.0.0.1"], "hostname": "a.b"})),
        (endpoints_from, {"metadata": {"name": "x", "namespace": "y"},
                          "subsets": [{"addresses": [{"ip": "10.0.0.1", "hostname": "-a"}]}]}),
        # names as Kubernetes never writes them: a query (lowercased) could never reach them
        (service_from, svc({"clusterIP": "10.0.0.1"}, name="Web")),
        (service_from, svc({"clusterIP": "10.0.0.1"}, namespace="Demo")),
        (service_from, svc({"clusterIP": "10.0.0.1"}, name=LONG)),
        (slice_from, {"metadata": {"name": "x", "namespace": "y_z"}}),
        (namespace_from, {"metadata": {"name": "Demo"}}),
        (pod_from, {"metadata": {"name": "p", "namespace": ["y"]}}),
    ],
)
def test_values_no_answer_can_carry_are_value_errors(convert, bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        convert(bad)


def test_values_at_the_edges_of_the_api_are_kept() -> None:
    assert service_from(svc({"ports": [{"port": 65535}, {"port": "53"}]})).ports == (
        Port("", 65535, "TCP"), Port("", 53, "TCP"))
    assert slice_from(eps({"addresses": ["10.0.0.1"]}, [{"port": 0}, {"port": None}])).ports == (
        Port("", 0, "TCP"), Port("", None, "TCP"))
    assert service_from(svc({"type": "ExternalName", "externalName": "Example.COM."})).external_name == "example.com"
    assert service_from(svc({"type": "ExternalName", "externalName": f"{'a' * 63}.com"})).external_name
    assert slice_from(eps({"addresses": ["10.0.0.1"], "hostname": "Web-0"})).endpoints[0].hostname == "web-0"
    assert key_of("Service", svc({}, name="web", namespace="demo")) == ("demo", "web")


def test_a_legacy_external_ip_keeps_its_service() -> None:
    # Leading zeros, accepted by apiservers before 1.33 and read as decimal (as kube-proxy reads
    # them): the address is served, and the service's own names are not lost over it.
    d = svc({"clusterIP": "10.96.0.5", "externalIPs": ["192.168.001.010"]})
    d["status"] = {"loadBalancer": {"ingress": [{"ip": "010.0.0.1"}]}}
    s = service_from(d)
    assert s.cluster_ips == ("10.96.0.5",) and s.external_ips == ("192.168.1.10", "10.0.0.1")
    with pytest.raises(ValueError, match="not an IP address"):
        service_from(svc({"externalIPs": ["192.168.1.256"]}))


def test_a_pod_name_that_is_no_label_names_no_endpoint() -> None:
    """As CoreDNS: a pod name too long for a label is ignored, the endpoint is kept (named by its IP)."""
    for pod in ("p" * 70, "web.0"):
        (endpoint,) = slice_from(eps({"addresses": ["10.0.0.1"], "targetRef": {"kind": "Pod", "name": pod}})).endpoints
        assert endpoint.pod_name == "" and endpoint.addresses == ("10.0.0.1",)
