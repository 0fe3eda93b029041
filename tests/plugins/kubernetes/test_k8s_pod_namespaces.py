"""Pods watched for autopath only (ClusterIndex.track_pod_namespaces): running pod address ->
namespace, from lists and watch events, whatever the `pods` mode."""

from __future__ import annotations

from typing import Any

from kdns.plugins.kubernetes.config import Config
from kdns.plugins.kubernetes.index import ClusterIndex


def pod(name: str, namespace: str, ip: str, phase: str = "Running", *more: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": a} for a in (ip, *more)]},
    }


def tracked(pods: str = "disabled") -> ClusterIndex:
    index = ClusterIndex(Config(pods=pods))
    index.track_pod_namespaces()
    return index


def test_pods_join_the_watched_kinds_and_sync() -> None:
    index = tracked()
    assert index.kinds == ("Namespace", "Service", "EndpointSlice", "Pod")
    for kind in ("Namespace", "Service", "EndpointSlice"):
        index.mark_synced(kind)
    assert not index.synced
    index.mark_synced("Pod")
    assert index.synced


def test_list_then_events() -> None:
    index = tracked()
    batch = index.slim("Pod")
    batch.add([pod("a", "demo", "10.0.0.1"), pod("b", "other", "10.0.0.2", "Running", "fd00::2"),
               pod("c", "demo", "10.0.0.3", "Pending")])
    # Pods make no record: no fast-path tag is touched, the SOA serial stays.
    serial = index.serial
    assert index.replace("Pod", batch) == set()
    assert index.serial == serial
    assert [index.client_namespace(ip) for ip in ("10.0.0.1", "10.0.0.2", "fd00::2", "10.0.0.3")] == [
        "demo", "other", "other", None,
    ]
    assert index.apply("Pod", "MODIFIED", pod("c", "demo", "10.0.0.3")) == set()
    assert index.client_namespace("10.0.0.3") == "demo"
    # A finished pod frees its address; so does a deleted one.
    index.apply("Pod", "MODIFIED", pod("a", "demo", "10.0.0.1", "Succeeded"))
    index.apply("Pod", "DELETED", pod("b", "other", "10.0.0.2", "Running", "fd00::2"))
    assert [index.client_namespace(ip) for ip in ("10.0.0.1", "10.0.0.2", "fd00::2")] == [None, None, None]


def test_an_address_taken_over_by_another_namespace_stays_with_it() -> None:
    index = tracked()
    index.apply("Pod", "ADDED", pod("old", "demo", "10.0.0.7"))
    index.apply("Pod", "ADDED", pod("new", "other", "10.0.0.7"))  # before old's deletion arrives
    index.apply("Pod", "DELETED", pod("old", "demo", "10.0.0.7"))
    assert index.client_namespace("10.0.0.7") == "other"


def test_a_relist_replaces_everything() -> None:
    index = tracked()
    index.apply("Pod", "ADDED", pod("gone", "demo", "10.0.0.8"))
    index.replace("Pod", [pod("a", "demo", "10.0.0.1")])
    assert (index.client_namespace("10.0.0.8"), index.client_namespace("10.0.0.1")) == (None, "demo")


def test_under_pods_verified_the_pod_index_answers() -> None:
    index = tracked("verified")
    assert index.kinds.count("Pod") == 1
    index.replace("Pod", [pod("a", "demo", "10.0.0.1"), pod("c", "demo", "10.0.0.3", "Pending")])
    assert (index.client_namespace("10.0.0.1"), index.client_namespace("10.0.0.3")) == ("demo", None)
    assert index.pods_by_ip("10.0.0.1")[0].name == "a"


def test_without_autopath_no_pods_are_watched() -> None:
    index = ClusterIndex(Config(pods="insecure"))
    assert "Pod" not in index.kinds
    assert index.client_namespace("10.0.0.1") is None
