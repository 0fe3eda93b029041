"""ApiSource + HttpTransport + Watcher against the fake API server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from urllib.parse import parse_qs

import pytest
from prometheus_client import REGISTRY

from kdns.plugins.kubernetes.apisource import ApiSource
from kdns.plugins.kubernetes.config import Config, parse_selector
from kdns.plugins.kubernetes.index import ClusterIndex
from kdns.plugins.kubernetes.settings import WatchSettings
from tests.fakeapi import FakeApi
from tests.fakeapi.replay import RecordingIndex, key_of

FAST = WatchSettings(
    watch_timeout=2,
    watch_timeout_jitter=0,
    watch_idle_timeout=1.0,
    backoff_base=0.02,
    backoff_cap=0.2,
    backoff_reset_after=1.0,
    min_watch_duration=0.05,
    startup_timeout=5,
    stop_timeout=2,
    watch_list=False,  # list + watch here; the streaming list: test_watch_list.py
)
KINDS = ("Namespace", "Service", "EndpointSlice")


async def eventually(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def converged(index: RecordingIndex, api: FakeApi) -> bool:
    return all(index.state[k] == {key_of(o): o for o in api.objects(k)} for k in index.kinds)


def watch_queries(api: FakeApi, path: str) -> list[dict[str, str]]:
    out = []
    for method, p, qs in api.requests:
        q = {k: v[0] for k, v in parse_qs(qs).items()}
        if p == path and q.get("watch") == "true":
            out.append(q)
    return out


@asynccontextmanager
async def running(
    api: FakeApi, index: RecordingIndex | ClusterIndex, settings: WatchSettings = FAST, **config: object
) -> AsyncIterator[ApiSource]:
    source = ApiSource(Config(endpoint=api.url, **config), index, settings)  # type: ignore[arg-type]
    await source.start()
    try:
        yield source
    finally:
        await source.stop()


def service(name: str, ns: str = "demo", ip: str = "10.96.7.7", labels: dict[str, str] | None = None) -> dict:
    return {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "type": "ClusterIP", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
        "status": {"loadBalancer": {}},
    }


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    async with FakeApi(recorded=True, bookmark_interval=0.3, bookmark_before_end=0.5) as fake:
        yield fake


async def test_sync_then_create_modify_delete(api: FakeApi) -> None:
    index = RecordingIndex(KINDS)
    async with running(api, index) as source:
        assert await source.wait_synced(5)
        assert index.synced == set(KINDS)
        assert converged(index, api)
        api.create(service("new"))
        api.patch("Service", "new", {"spec": {"clusterIP": "10.96.8.8"}}, namespace="demo")
        api.delete("Service", "web", namespace="demo")
        api.create({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "fresh"}})
        api.patch("EndpointSlice", "web-kntkd", {"endpoints": []}, namespace="demo")
        await eventually(lambda: converged(index, api))
        assert index.state["Service"]["demo/new"]["spec"]["clusterIP"] == "10.96.8.8"
        assert "demo/web" not in index.state["Service"]
        applied = index.applied()
        assert [c[2] for c in applied if c[3] == "demo/new"] == ["ADDED", "MODIFIED"]
        rvs = [c[4] for c in applied]
        assert len(rvs) == len(set(rvs)) == 5


async def test_requests_accept_json_and_use_the_list_rv(api: FakeApi) -> None:
    index = RecordingIndex(KINDS)
    async with running(api, index) as source:
        assert await source.wait_synced(5)
        await eventually(lambda: len(watch_queries(api, "/api/v1/services")) >= 1)
    assert all(h.get("Accept") == "application/json" for h in api.request_headers)
    assert all(h.get("User-Agent", "").startswith("kdns") for h in api.request_headers)
    first = watch_queries(api, "/api/v1/services")[0]
    assert first["resourceVersion"] == "338"
    assert first["allowWatchBookmarks"] == "true"
    assert first["timeoutSeconds"] == "2"


async def test_cut_streams_rewatch_from_last_rv_without_gaps_or_duplicates(api: FakeApi) -> None:
    index = RecordingIndex(KINDS)
    async with running(api, index) as source:
        assert await source.wait_synced(5)
        api.create(service("a"))
        await eventually(lambda: "demo/a" in index.state["Service"])
        seen_rv = str(api.resource_version)
        before = len(watch_queries(api, "/api/v1/services"))
        assert api.cut_streams() == 3
        # Changes while the streams are down arrive through the next watch.
        api.create(service("b"))
        api.delete("Service", "a", namespace="demo")
        await eventually(lambda: converged(index, api))
        rewatch = watch_queries(api, "/api/v1/services")[before]
        assert rewatch["resourceVersion"] == seen_rv
        # No relist: only the first list replaced the state.
        assert len(index.replaces()) == 3
        rvs = [c[4] for c in index.applied()]
        assert len(rvs) == len(set(rvs)) == 3


async def test_api_restart_with_changes_while_away_converges_exactly(api: FakeApi) -> None:
    index = RecordingIndex(KINDS)
    async with running(api, index) as source:
        assert await source.wait_synced(5)
        await api.stop()
        api.create(service("while-away"))
        api.delete("Service", "ext", namespace="demo")
        api.patch("Service", "web", {"metadata": {"labels": {"tier": "front"}}}, namespace="demo")
        api.delete("Namespace", "demo-b")
        await asyncio.sleep(0.3)  # the watchers hit connection errors and back off
        # The last-known state is kept while the API is away.
        assert "demo/ext" in index.state["Service"]
        await api.start()
        await eventually(lambda: converged(index, api))
        assert len(index.replaces()) == 3  # the history covered the outage: no relist


async def test_api_restart_after_compaction_relists_and_converges(api: FakeApi) -> None:
    index = RecordingIndex(KINDS)
    async with running(api, index) as source:
        assert await source.wait_synced(5)
        await api.stop()
        api.create(service("x1"))
        api.delete("EndpointSlice", "manual-1", namespace="demo")
        api.compact()  # a restarted apiserver's watch cache starts at the current RV
        await api.start()
        await eventually(lambda: converged(index, api) and len(index.replaces()) == 6)
        assert sum(w.relists for w in source.watchers) == 3


async def test_410_storm(api: FakeApi) -> None:
    index = RecordingIndex(KINDS)
    async with running(api, index) as source:
        assert await source.wait_synced(5)
        api.expire_watches(9)
        api.cut_streams()
        api.create(service("during-storm"))
        await eventually(lambda: sum(w.relists for w in source.watchers) == 9 and converged(index, api), 10)
        api.create(service("after-storm"))
        await eventually(lambda: converged(index, api))


async def test_403_is_logged_with_the_missing_permission_then_recovers(
    api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    index = RecordingIndex(KINDS)
    api.set_auth_failure(403, "endpointslices")
    with caplog.at_level(logging.ERROR, logger="kdns.plugins.kubernetes.watch"):
        async with running(api, index) as source:
            assert not await source.wait_synced(0.5)
            assert index.synced == {"Namespace", "Service"}
            api.set_auth_failure(None)
            assert await source.wait_synced(5)
    message = next(r.getMessage() for r in caplog.records if "403" in r.getMessage())
    assert "verb 'list' on resource 'endpointslices' in API group 'discovery.k8s.io'" in message
    assert 'User "system:serviceaccount:kube-system:kdns"' in message


async def test_401_is_logged_and_retried(api: FakeApi, caplog: pytest.LogCaptureFixture) -> None:
    index = RecordingIndex(KINDS)
    api.set_auth_failure(401)
    with caplog.at_level(logging.ERROR, logger="kdns.plugins.kubernetes.watch"):
        async with running(api, index) as source:
            await asyncio.sleep(0.3)
            assert not source.synced()
            api.set_auth_failure(None)
            assert await source.wait_synced(5)
    assert any("401 Unauthorized" in r.getMessage() for r in caplog.records)


async def test_5xx_backs_off_and_recovers(api: FakeApi) -> None:
    index = RecordingIndex(KINDS)
    api.fail_next(500, count=4)
    api.fail_next(503, count=2, resource="services")
    async with running(api, index) as source:
        assert await source.wait_synced(5)
        assert converged(index, api)
        assert sum(w.errors for w in source.watchers) >= 6


async def test_pagination_with_limit_2(api: FakeApi) -> None:
    index = RecordingIndex(KINDS)
    async with running(api, index, replace(FAST, list_page_size=2)) as source:
        assert await source.wait_synced(5)
        assert converged(index, api)
    lists = [parse_qs(qs) for m, p, qs in api.requests if p == "/api/v1/services" and "watch" not in qs]
    assert len(lists) == 4  # 8 services, 2 a page
    assert all(q["limit"] == ["2"] for q in lists)
    assert "continue" not in lists[0] and all("continue" in q for q in lists[1:])


async def test_expired_continue_token_relists_from_scratch(api: FakeApi) -> None:
    index = RecordingIndex(["Service"])
    # Expire the tokens right after the first page has been served.
    original = api._list

    def first_page_then_expire(*args, **kwargs):  # type: ignore[no-untyped-def]
        resp = original(*args, **kwargs)
        if api.requests[-1][2].count("continue") == 0:
            api.expire_continue_tokens()
        return resp

    api._list = first_page_then_expire  # type: ignore[method-assign]
    async with running(api, index, replace(FAST, list_page_size=2)) as source:
        await eventually(lambda: len([r for r in api.requests if "continue" in r[2]]) >= 1)
        api._list = original  # type: ignore[method-assign]
        assert await source.wait_synced(5)
        assert converged(index, api)


async def test_stalled_stream_is_reopened_and_catches_up(api: FakeApi) -> None:
    index = RecordingIndex(KINDS)
    async with running(api, index, replace(FAST, watch_idle_timeout=0.3)) as source:
        assert await source.wait_synced(5)
        before = len(watch_queries(api, "/api/v1/services"))
        api.stall(1.0)
        api.create(service("during-stall"))
        await asyncio.sleep(0.6)
        assert "demo/during-stall" not in index.state["Service"]
        await eventually(lambda: converged(index, api))
        assert len(watch_queries(api, "/api/v1/services")) > before


async def test_label_selectors_reach_the_api(api: FakeApi) -> None:
    index = RecordingIndex(KINDS)
    async with running(
        api, index, labels=parse_selector("app=web"), namespace_labels=parse_selector("kubernetes.io/metadata.name in (demo)")
    ) as source:
        assert await source.wait_synced(5)
        assert set(index.state["Namespace"]) == {"demo"}
        assert set(index.state["Service"]) == {"demo/web"}
        assert all(o["metadata"]["labels"].get("app") == "web" for o in index.state["EndpointSlice"].values())
        assert index.state["EndpointSlice"]
        # A label change that takes an object out of the selector arrives as DELETED.
        api.patch("Service", "web", {"metadata": {"labels": {"app": "other"}}}, namespace="demo")
        api.create(service("joined", labels={"app": "web"}))
        await eventually(lambda: set(index.state["Service"]) == {"demo/joined"})


async def test_service_imports_are_not_filtered_by_labels(api: FakeApi) -> None:
    # CoreDNS lists ServiceImports without the `labels` selector, as the index reads them from
    # manifests: an import without the services' label is answered all the same.
    index = RecordingIndex((*KINDS, "ServiceImport"))
    async with running(api, index, labels=parse_selector("app=web")) as source:
        assert await source.wait_synced(5)
    paths = {"/api/v1/services": "app=web", "/apis/multicluster.x-k8s.io/v1alpha1/serviceimports": None}
    for path, selector in paths.items():
        queries = [parse_qs(qs) for _, p, qs in api.requests if p == path]
        assert queries and all(q.get("labelSelector") == ([selector] if selector else None) for q in queries), path


async def test_rest_client_metrics(api: FakeApi) -> None:
    host = f"127.0.0.1:{api.port}"

    def count() -> float:
        return REGISTRY.get_sample_value(
            "coredns_kubernetes_rest_client_requests_total", {"code": "200", "method": "GET", "host": host}
        ) or 0.0

    before = count()
    async with running(api, RecordingIndex(KINDS)) as source:
        assert await source.wait_synced(5)
        await eventually(lambda: source.watchers[0].watches >= 1)
    assert count() >= before + 3
    assert (
        REGISTRY.get_sample_value(
            "coredns_kubernetes_rest_client_request_duration_seconds_count", {"verb": "GET", "host": host}
        )
        or 0
    ) >= 3


async def test_cluster_index_follows_the_fake(api: FakeApi) -> None:
    """The real ClusterIndex behind ApiSource: answers follow the API's changes."""
    index = ClusterIndex(Config(endpoint=api.url))
    async with running(api, index) as source:
        assert await source.wait_synced(5)
        assert index.synced
        assert index.service("demo", "web") is not None
        api.delete("Service", "web", namespace="demo")
        api.create(service("late", ip="10.96.9.9"))
        await eventually(lambda: index.service("demo", "web") is None and index.service("demo", "late") is not None)
        assert index.services_by_ip("10.96.9.9")


async def test_stop_is_prompt_and_closes_streams(api: FakeApi) -> None:
    source = ApiSource(Config(endpoint=api.url), RecordingIndex(KINDS), FAST)
    await source.start()
    assert await source.wait_synced(5)
    await eventually(lambda: api.open_streams == 3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await source.stop()
    assert loop.time() - started < 1.0
    await eventually(lambda: api.open_streams == 0)
