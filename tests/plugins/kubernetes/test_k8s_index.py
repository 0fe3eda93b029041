"""ClusterIndex: atomic replace/apply, sync state, serial, and fast-path tags that drop exactly the
answers a change can alter."""

from __future__ import annotations

import copy
from collections.abc import Hashable

import yaml
from dnslib import QTYPE
from plugins.kubernetes.k8s_cases import FIXTURES, ask, config, handler
from plugins.kubernetes.test_k8s_table import BASE, INSECURE, VERIFIED

from kdns.plugins.kubernetes.config import Config
from kdns.plugins.kubernetes.handler import Handler
from kdns.plugins.kubernetes.index import ClusterIndex

EXTRA = [(f"{ip}.in-addr.arpa.", "PTR") for ip in ("11.0.244.10", "20.0.96.10", "10.1.96.10", "13.0.244.10")]
QUESTIONS = sorted({(c.qname.lower(), c.qtype) for c in BASE + INSECURE + VERIFIED if not c.passed} | set(EXTRA))
SOAS = {(z, "SOA") for z in ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")}


def raw(kind: str, namespace: str, name: str) -> dict:  # type: ignore[type-arg]
    for path in sorted(FIXTURES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            for obj in doc.get("items", [doc]) if doc else []:
                meta = obj["metadata"]
                if (doc.get("kind") == kind or obj.get("kind") == kind or doc.get("kind") == kind + "List") \
                        and meta["name"] == name and meta.get("namespace", "") == namespace:
                    return copy.deepcopy(obj)
    raise KeyError((kind, namespace, name))


def content(resp) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    def rrs(section) -> list[str]:  # type: ignore[no-untyped-def]
        return sorted(str(r) for r in section if r.rtype != QTYPE.SOA)
    return (resp.msg.header.rcode, rrs(resp.msg.rr), rrs(resp.msg.auth), rrs(resp.msg.ar))


async def snapshot(h: Handler) -> dict:  # type: ignore[type-arg]
    out = {}
    for qname, qtype in QUESTIONS:
        resp = await ask(h, qname, qtype)
        out[(qname, qtype)] = (content(resp), resp.tags)
    return out


async def check_change(h: Handler, change, expected: set[tuple[str, str]]) -> set[Hashable]:  # type: ignore[no-untyped-def]
    """Apply change; every answer that changed had a touched tag, and the invalidated answers are
    exactly `expected` (answers without tags, i.e. not cacheable, are ignored)."""
    before = await snapshot(h)
    seen: list[set[Hashable]] = []
    h.invalidators.append(seen.append)
    touched = change()
    h.invalidators.remove(seen.append)
    assert seen == ([touched] if touched else [])
    after = await snapshot(h)
    invalidated = set()
    for key, (old, tags) in before.items():
        if tags is None:
            continue
        hit = bool(tags & touched)
        if after[key][0] != old:
            assert hit, f"{key} changed but none of its tags {tags} was touched ({touched})"
        if hit:
            invalidated.add(key)
    # the apex SOA answers go on every change (the serial moves); the rest must be exact
    expected = (expected | SOAS) if touched else expected
    assert invalidated == expected, f"invalidated {sorted(invalidated)}, expected {sorted(expected)}"
    return touched


Z = "cluster.local."
WH = f"web-headless.demo.svc.{Z}"


def under(h_questions: list[tuple[str, str]], suffix: str) -> set[tuple[str, str]]:
    """Questions at or below suffix, except names of invalid shape (always NXDOMAIN, no tags)."""
    from kdns.plugins.kubernetes.names import Kind, parse

    return {
        q for q in h_questions
        if (q[0] == suffix or q[0].endswith("." + suffix))
        and parse(q[0].rstrip(".").split("."), 2).kind is not Kind.INVALID
    }


def rev(*ips: str) -> set[tuple[str, str]]:
    """Every question about the reverse names of ips."""
    names = {".".join(reversed(ip.split("."))) + ".in-addr.arpa." for ip in ips}
    return {q for q in QUESTIONS if q[0] in names}


async def test_endpoint_becomes_ready_touches_its_service_and_ip() -> None:
    h = handler(config(pods="insecure"))
    sl = raw("EndpointSlice", "demo", "web-headless-fghij")
    sl["endpoints"][1]["conditions"]["ready"] = True  # web-1
    touched = await check_change(
        h,
        lambda: h.index.apply("EndpointSlice", "MODIFIED", sl),
        under(QUESTIONS, WH) | rev("10.244.0.11"),
    )
    assert ("svc", "demo", "web-headless") in touched and ("ip", "10.244.0.11") in touched
    resp = await ask(h, f"web-1.{WH}", "A")
    assert [str(r.rdata) for r in resp.msg.rr] == ["10.244.0.11"]


async def test_service_delete() -> None:
    h = handler(config(pods="insecure"))
    expected = under(QUESTIONS, f"web.demo.svc.{Z}") | rev("10.96.0.10", "10.244.0.10") | {
        (f"inner.demo.svc.{Z}", "A"), (f"inner.demo.svc.{Z}", "AAAA"),  # chased into web
    }  # 10.244.0.10: 10-244-0-10.web.demo is one of its PTRs
    await check_change(h, lambda: h.index.apply("Service", "DELETED", raw("Service", "demo", "web")), expected)
    assert (await ask(h, f"web.demo.svc.{Z}", "A")).msg.header.rcode == 3


async def test_service_add_and_cluster_ip_change() -> None:
    h = handler(config(pods="insecure"))
    svc = raw("Service", "demo", "manual")
    svc["spec"]["clusterIP"] = "10.96.0.10"  # web's address: both services own it now
    expected = under(QUESTIONS, f"manual.demo.svc.{Z}") | rev("10.96.0.10", "10.96.0.20")
    await check_change(h, lambda: h.index.apply("Service", "MODIFIED", svc), expected)
    new = {"metadata": {"name": "new", "namespace": "demo"}, "spec": {"clusterIP": "10.96.9.9"}}
    touched = await check_change(h, lambda: h.index.apply("Service", "ADDED", new), set())
    assert ("svc", "demo", "new") in touched and ("ip", "10.96.9.9") in touched
    assert (await ask(h, f"new.demo.svc.{Z}", "A")).tags == frozenset({("ns", "demo"), ("svc", "demo", "new")})


async def test_unrelated_changes_touch_nothing_cached() -> None:
    h = handler(config(pods="insecure"))
    # the same object again: nothing to do, no serial move, no callback
    serial = h.index.serial
    assert h.index.apply("Service", "MODIFIED", raw("Service", "demo", "web")) == set()
    assert h.index.serial == serial
    # a namespace's labels change without a namespace_labels filter: no DNS effect
    ns = {"metadata": {"name": "demo", "labels": {"team": "z"}}}
    await check_change(h, lambda: h.index.apply("Namespace", "MODIFIED", ns), set())
    # a slice of an unknown service in another namespace
    sl = {"metadata": {"name": "x-1", "namespace": "empty", "labels": {"kubernetes.io/service-name": "x"}},
          "endpoints": [{"addresses": ["10.9.9.9"]}]}
    touched = await check_change(h, lambda: h.index.apply("EndpointSlice", "ADDED", sl), set())
    assert ("svc", "empty", "x") in touched


async def test_namespace_delete_touches_its_names_and_ptrs() -> None:
    h = handler(config(pods="insecure"))
    expected = {q for q in QUESTIONS if ".demo-b." in q[0]} | rev("10.96.1.10", "10.244.1.10")
    await check_change(
        h, lambda: h.index.apply("Namespace", "DELETED", {"metadata": {"name": "demo-b"}}), expected
    )
    assert (await ask(h, f"web.demo-b.svc.{Z}", "A")).msg.header.rcode == 3


async def test_namespace_label_filter_flip() -> None:
    from kdns.plugins.kubernetes.config import parse_selector

    h = handler(config(pods="insecure", namespace_labels=parse_selector("team=a")))
    assert (await ask(h, f"web.demo-b.svc.{Z}", "A")).msg.header.rcode == 3
    touched = h.index.apply("Namespace", "MODIFIED", {"metadata": {"name": "demo-b", "labels": {"team": "a"}}})
    assert ("ns", "demo-b") in touched and ("ip", "10.96.1.10") in touched and ("ip", "10.244.1.10") in touched
    assert (await ask(h, f"web.demo-b.svc.{Z}", "A")).msg.header.rcode == 0


async def test_pod_change_in_verified_mode() -> None:
    h = handler(config(pods="verified"))
    pod = {"metadata": {"name": "pending-0", "namespace": "demo"},
           "status": {"phase": "Running", "podIP": "10.244.0.40"}}
    touched = await check_change(
        h, lambda: h.index.apply("Pod", "MODIFIED", pod), {(f"10-244-0-40.demo.pod.{Z}", "A")}
    )
    assert touched >= {("pod", "demo", "10.244.0.40")}
    resp = await ask(h, f"10-244-0-40.demo.pod.{Z}", "A")
    assert resp.msg.header.rcode == 0 and ("pod", "demo", "10.244.0.40") in (resp.tags or ())
    expected = {(f"10-244-0-10.demo.pod.{Z}", "A")}
    await check_change(
        h, lambda: h.index.apply("Pod", "DELETED", {"metadata": {"name": "web-0", "namespace": "demo"}}), expected
    )


async def test_replace_is_a_diff() -> None:
    h = handler(config(pods="insecure"))
    services = [raw("Service", "demo", n) for n in ("web", "manual")]
    services.append({"metadata": {"name": "broken", "namespace": "demo"}, "spec": {"clusterIP": "x"}})
    touched = h.index.replace("Service", services)
    # everything else went away; web and manual unchanged; the malformed one is skipped
    assert ("svc", "demo", "web") not in touched and ("svc", "demo", "manual") not in touched
    assert ("svc", "demo", "web-headless") in touched and ("svc", "kube-system", "kube-dns") in touched
    assert (await ask(h, f"web.demo.svc.{Z}", "A")).msg.header.rcode == 0
    assert (await ask(h, f"broken.demo.svc.{Z}", "A")).msg.header.rcode == 3
    assert (await ask(h, WH, "A")).msg.header.rcode == 3


def test_kinds_and_sync() -> None:
    assert ClusterIndex().kinds == ("Namespace", "Service", "EndpointSlice")
    assert ClusterIndex(Config(pods="verified")).kinds == ("Namespace", "Service", "EndpointSlice", "Pod")
    assert ClusterIndex(Config(endpoints_legacy=True)).kinds == ("Namespace", "Service", "Endpoints")
    assert ClusterIndex(Config(noendpoints=True)).kinds == ("Namespace", "Service")
    index = ClusterIndex()
    assert not index.synced
    index.replace("Namespace", [])
    index.mark_synced("Namespace")
    index.mark_synced("Service")
    assert not index.synced
    index.mark_synced("EndpointSlice")
    assert index.synced
    # a kind the index does not watch is ignored
    assert index.replace("Pod", [{"metadata": {"name": "p", "namespace": "n"}}]) == set()


def test_serial_moves_on_every_change() -> None:
    now = [1000.0]
    index = ClusterIndex(clock=lambda: now[0])
    assert index.serial == 1000
    index.apply("Namespace", "ADDED", {"metadata": {"name": "a"}})
    assert index.serial == 1001  # same second: still moves
    now[0] = 5000.0
    touched = index.apply("Namespace", "ADDED", {"metadata": {"name": "b"}})
    assert index.serial == 5000 and ("soa",) in touched
    index.apply("Namespace", "MODIFIED", {"metadata": {"name": "b"}})  # no change
    assert index.serial == 5000


def test_malformed_event_is_value_error() -> None:
    import pytest

    index = ClusterIndex()
    with pytest.raises(ValueError):
        index.apply("Service", "ADDED", {"metadata": {"name": "x", "namespace": "y"}, "spec": {"clusterIPs": "1"}})
    with pytest.raises(ValueError):
        index.apply("Service", "DELETED", {"metadata": {}})
    assert index.apply("Service", "BOOKMARK", {"metadata": {"resourceVersion": "5"}}) == set()


def test_endpoint_lookups() -> None:
    h = handler(config())
    idx = h.index
    assert [a.label for a in idx.endpoints("demo", "web-headless").addresses] == ["web-0", "10-244-0-13"]
    assert [a.ip for a in idx.endpoints("demo", "manual").with_label("m0")] == ["192.0.2.50"]
    assert [k for k, _ in idx.endpoints_by_ip("10.244.0.10")] == [
        ("demo", "web"), ("demo", "web-headless"), ("demo", "web-nr")]
    assert [s.name for s in idx.services_by_ip("10.96.0.10")] == ["web"]
    assert idx.namespaces() == ["default", "demo", "demo-b", "empty", "kube-system"]


async def test_a_malformed_change_drops_what_was_served_as_a_relist_would() -> None:
    import pytest

    h = handler(config(pods="insecure"))
    assert (await ask(h, f"web.demo.svc.{Z}", "A")).msg.header.rcode == 0
    svc = raw("Service", "demo", "web")
    svc["spec"]["ports"][0]["port"] = 70000
    with pytest.raises(ValueError):
        h.index.apply("Service", "MODIFIED", svc)
    assert h.index.service("demo", "web") is None
    assert (await ask(h, f"web.demo.svc.{Z}", "A")).msg.header.rcode == 3
