"""The watch loop (kdns/plugins/kubernetes/watch.py) on recorded bodies and streams, replayed as recorded."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import pytest

from kdns.plugins.kubernetes import metrics
from kdns.plugins.kubernetes.apisource import ProgrammingLatency
from kdns.plugins.kubernetes.index import ClusterIndex
from kdns.plugins.kubernetes.objects import SERVICE_NAME_LABEL
from kdns.plugins.kubernetes.settings import WatchSettings
from kdns.plugins.kubernetes.watch import (
    RESOURCES,
    ApiConnectionError,
    ApiStatusError,
    Backoff,
    Watcher,
    list_all,
)
from tests.fakeapi.replay import RecordingIndex, ReplayTransport, key_of, read_events, read_json, recorded, strip

FAST = WatchSettings(
    watch_timeout=5,
    watch_timeout_jitter=0,
    watch_idle_timeout=2,
    backoff_base=0.001,
    backoff_cap=0.01,
    min_watch_duration=0,
    watch_list=False,  # these tests script list + watch; test_watch_list.py the streaming list
)
SERVICES = RESOURCES["Service"].path()
SLICES = RESOURCES["EndpointSlice"].path()
PODS = RESOURCES["Pod"].path()


class Sleeps:
    """Records backoff sleeps instead of sleeping (but yields to the loop)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


async def run_until_idle(watcher: Watcher, transport: ReplayTransport, timeout: float = 5) -> None:
    """Run the watcher until it waits on a watch with no script left, then stop it."""
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(transport.idle.wait(), timeout)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    "kind,path,name",
    [("Service", SERVICES, "services"), ("EndpointSlice", SLICES, "endpointslices"), ("Pod", PODS, "pods")],
)
async def test_recorded_scenario_is_applied_in_order(kind: str, path: str, name: str) -> None:
    listed = read_json(f"watch/{name}.list-before.json")
    events = read_events(f"watch/{name}.watch.jsonl")
    transport = ReplayTransport({path: [listed]}, {path: [events]})
    index = RecordingIndex([kind])
    watcher = Watcher(transport, RESOURCES[kind], index, FAST)
    await run_until_idle(watcher, transport)

    # One list, replaced at once, then marked synced.
    assert index.calls[0] == ("replace", kind, [key_of(i) for i in listed["items"]])
    assert index.calls[1] == ("mark_synced", kind)
    # Every non-bookmark event, in the recorded order, with its own resourceVersion.
    expected = [
        ("apply", kind, e["type"], key_of(e["object"]), e["object"]["metadata"]["resourceVersion"])
        for e in events
        if e["type"] != "BOOKMARK"
    ]
    assert index.applied() == expected
    assert watcher.bookmarks == sum(1 for e in events if e["type"] == "BOOKMARK")
    # First watch from the list's RV with bookmarks; after the clean end, the re-watch starts from
    # the last bookmark's RV (which may be past the last event).
    first, second = transport.watches(path)
    assert first["resourceVersion"] == listed["metadata"]["resourceVersion"]
    assert first["allowWatchBookmarks"] == "true" and first["watch"] == "true"
    assert second["resourceVersion"] == events[-1]["object"]["metadata"]["resourceVersion"]
    assert len(transport.list_calls()) == 1


async def test_final_state_equals_a_fresh_list_after_the_scenario() -> None:
    """Services: list at 468 + the scenario stream == the state the cluster had afterwards."""
    listed = read_json("watch/services.list-before.json")
    events = read_events("watch/services.watch.jsonl")
    transport = ReplayTransport({SERVICES: [listed]}, {SERVICES: [events]})
    index = RecordingIndex(["Service"])
    await run_until_idle(Watcher(transport, RESOURCES["Service"], index, FAST), transport)
    # tmp was created, changed and deleted: the end state is the start state.
    assert index.state["Service"] == {key_of(i): i for i in listed["items"]}


async def test_idle_stream_of_bookmarks_only_moves_the_resource_version() -> None:
    listed = read_json("watch/pods.list-before.idle90.json")
    events = read_events("watch/pods.watch.idle90.jsonl")
    transport = ReplayTransport({PODS: [listed]}, {PODS: [events]})
    index = RecordingIndex(["Pod"])
    watcher = Watcher(transport, RESOURCES["Pod"], index, FAST)
    await run_until_idle(watcher, transport)
    assert index.applied() == []
    assert watcher.bookmarks == 3
    assert watcher.resource_version == "413"
    assert transport.watches()[-1]["resourceVersion"] == "413"


@pytest.mark.parametrize("recording", ["errors/410-watch-services-old-rv.jsonl", "errors/410-watch-services-rv1.jsonl"])
async def test_410_error_event_relists_and_replaces(recording: str) -> None:
    first = read_json("lists/services.json")
    second = read_json("errors/list-services-rv1-after-restart.json")
    transport = ReplayTransport(
        {SERVICES: [first, second]},
        {SERVICES: [read_events(recording)]},
    )
    index = RecordingIndex(["Service"])
    watcher = Watcher(transport, RESOURCES["Service"], index, FAST)
    await run_until_idle(watcher, transport)
    assert watcher.relists == 1
    assert [c[0] for c in index.calls] == ["replace", "mark_synced", "replace", "mark_synced"]
    assert index.state["Service"] == {key_of(i): i for i in second["items"]}
    # The watch after the relist starts from the new list's RV, not the expired one.
    assert [w["resourceVersion"] for w in transport.watches()] == ["338", second["metadata"]["resourceVersion"]]


async def test_http_410_on_watch_relists() -> None:
    body = read_json("errors/410-list-services-old-rv-exact.json")
    listed = read_json("lists/services.json")
    transport = ReplayTransport({SERVICES: [listed, listed]}, {SERVICES: [ApiStatusError(410, body)]})
    index = RecordingIndex(["Service"])
    watcher = Watcher(transport, RESOURCES["Service"], index, FAST)
    await run_until_idle(watcher, transport)
    assert watcher.relists == 1
    assert len(index.replaces()) == 2


async def test_410_storm_backs_off_after_the_first() -> None:
    listed = read_json("lists/services.json")
    gone = read_events("errors/410-watch-services-old-rv.jsonl")
    transport = ReplayTransport({SERVICES: [listed] * 6}, {SERVICES: [gone] * 5})
    sleeps = Sleeps()
    watcher = Watcher(transport, RESOURCES["Service"], RecordingIndex(["Service"]), FAST, sleep=sleeps)
    await run_until_idle(watcher, transport)
    assert watcher.relists == 5
    # The first 410 relists at once, each further one in a row waits a backoff first.
    assert len(sleeps.delays) == 4
    assert len(transport.list_calls()) == 6


async def test_pagination_follows_recorded_continue_tokens() -> None:
    pages = [read_json(f"lists/services.limit2.page{n}.json") for n in (1, 2, 3, 4)]
    transport = ReplayTransport({SERVICES: pages})
    items, rv = await list_all(transport, RESOURCES["Service"], replace(FAST, list_page_size=2))
    assert rv == "338"
    assert items == read_json("lists/services.json")["items"]
    sent = transport.list_calls()
    assert [p.get("continue") for p in sent] == [None] + [p["metadata"]["continue"] for p in pages[:3]]
    assert all(p["limit"] == "2" for p in sent)


async def test_expired_continue_token_lists_again_from_the_start() -> None:
    pages = [read_json(f"lists/services.limit2.page{n}.json") for n in (1, 2, 3, 4)]
    expired = ApiStatusError(410, read_json("errors/410-list-services-continue-old.json"))
    transport = ReplayTransport({SERVICES: [pages[0], expired, *pages]})
    items, _ = await list_all(transport, RESOURCES["Service"], replace(FAST, list_page_size=2))
    assert items == read_json("lists/services.json")["items"]
    sent = transport.list_calls()
    # The 410's own fresh token is not used: the list starts over without continue.
    assert "continue" not in sent[2]
    assert len(sent) == 6


async def test_broken_stream_rewatches_from_last_seen_rv_without_relisting() -> None:
    listed = read_json("watch/services.list-before.json")
    events = read_events("watch/services.watch.jsonl")
    # The stream breaks after two events; the rest arrive on the next watch (from RV 473).
    transport = ReplayTransport(
        {SERVICES: [listed]},
        {SERVICES: [[*events[:2], ApiConnectionError("reset")], events[2:]]},
    )
    index = RecordingIndex(["Service"])
    sleeps = Sleeps()
    watcher = Watcher(transport, RESOURCES["Service"], index, FAST, sleep=sleeps)
    await run_until_idle(watcher, transport)
    assert [w["resourceVersion"] for w in transport.watches()] == ["468", "473", "512"]
    assert len(transport.list_calls()) == 1
    rvs = [c[4] for c in index.applied()]
    assert rvs == ["470", "473", "477", "512"]  # no event twice, none missed
    assert len(sleeps.delays) == 1


async def test_other_error_event_backs_off_and_rewatches_same_rv() -> None:
    listed = read_json("lists/services.json")
    old_etcd = read_events("errors/old-etcd-watch-services-rv0-bookmarks.jsonl")
    transport = ReplayTransport({SERVICES: [listed]}, {SERVICES: [old_etcd]})
    sleeps = Sleeps()
    watcher = Watcher(transport, RESOURCES["Service"], RecordingIndex(["Service"]), FAST, sleep=sleeps)
    await run_until_idle(watcher, transport)
    assert watcher.relists == 0
    assert len(sleeps.delays) == 1
    assert [w["resourceVersion"] for w in transport.watches()] == ["338", "338"]


@pytest.mark.parametrize(
    "recording,verb,resource,group",
    [
        ("errors/403-watch-endpointslices.json", "watch", "endpointslices", "discovery.k8s.io"),
        ("errors/403-list-services.json", "list", "services", ""),
        ("errors/403-list-pods.json", "list", "pods", ""),
    ],
)
async def test_403_logs_the_missing_permission(
    caplog: pytest.LogCaptureFixture, recording: str, verb: str, resource: str, group: str
) -> None:
    body = read_json(recording)
    kind = {"endpointslices": "EndpointSlice", "services": "Service", "pods": "Pod"}[resource]
    path = RESOURCES[kind].path()
    transport = ReplayTransport({path: [ApiStatusError(403, body)] * 3 + [read_json("lists/services.json")]})
    sleeps = Sleeps()
    watcher = Watcher(transport, RESOURCES[kind], RecordingIndex([kind]), FAST, sleep=sleeps)
    with caplog.at_level(logging.ERROR, logger="kdns.plugins.kubernetes.watch"):
        await run_until_idle(watcher, transport)
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert messages, "no error logged"
    assert f"verb '{verb}' on resource '{resource}' in API group '{group}'" in messages[0]
    assert "403 Forbidden" in messages[0]
    # Retried with backoff until it worked; logged once, not on every retry.
    assert len(sleeps.delays) == 3
    assert len(messages) == 1
    assert watcher.synced.is_set()


async def test_a_missing_api_group_names_the_resource_it_lacks(caplog: pytest.LogCaptureFixture) -> None:
    # `multicluster` on a cluster without the MCS CRD: the apiserver's plain-text 404.
    missing = ApiStatusError(404, None, recorded("errors/404-unknown-group.json").read_text(encoding="utf-8").strip())
    resource = RESOURCES["ServiceImport"]
    transport = ReplayTransport({resource.path(): [missing, {"metadata": {"resourceVersion": "9"}, "items": []}]})
    watcher = Watcher(transport, resource, RecordingIndex(["ServiceImport"]), FAST, sleep=Sleeps())
    with caplog.at_level(logging.ERROR, logger="kdns.plugins.kubernetes.watch"):
        await run_until_idle(watcher, transport)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "list serviceimports.multicluster.x-k8s.io: 404: the API server does not serve "
        "multicluster.x-k8s.io/v1alpha1/serviceimports; is its CustomResourceDefinition installed? Retrying"
    ]
    assert watcher.synced.is_set()


async def test_401_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    body = read_json("errors/401-list-services.json")
    transport = ReplayTransport({SERVICES: [ApiStatusError(401, body), read_json("lists/services.json")]})
    watcher = Watcher(transport, RESOURCES["Service"], RecordingIndex(["Service"]), FAST, sleep=Sleeps())
    with caplog.at_level(logging.ERROR, logger="kdns.plugins.kubernetes.watch"):
        await run_until_idle(watcher, transport)
    assert any("401 Unauthorized" in r.getMessage() and "services" in r.getMessage() for r in caplog.records)
    assert watcher.synced.is_set()


@pytest.mark.parametrize(
    "body",
    [
        {"metadata": "338", "items": []},
        {"metadata": {"resourceVersion": "338"}, "items": {"name": "web"}},
        {"metadata": {"resourceVersion": 338}, "items": []},
    ],
)
async def test_a_list_answer_of_the_wrong_shape_is_logged_and_retried(
    body: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    transport = ReplayTransport({SERVICES: [body, read_json("lists/services.json")]})
    sleeps = Sleeps()
    watcher = Watcher(transport, RESOURCES["Service"], RecordingIndex(["Service"]), FAST, sleep=sleeps)
    with caplog.at_level(logging.WARNING, logger="kdns.plugins.kubernetes.watch"):
        await run_until_idle(watcher, transport)
    assert watcher.synced.is_set() and len(sleeps.delays) == 1
    # One line naming the list, not a bug's traceback.
    assert not any(r.exc_info for r in caplog.records)
    assert any(r.getMessage().startswith("watch services: list services: ") for r in caplog.records)


async def test_malformed_object_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    listed = read_json("watch/services.list-before.json")
    events = read_events("watch/services.watch.jsonl")
    transport = ReplayTransport({SERVICES: [listed]}, {SERVICES: [events]})
    index = RecordingIndex(["Service"])
    index.reject.add("tmp")
    watcher = Watcher(transport, RESOURCES["Service"], index, FAST)
    with caplog.at_level(logging.WARNING, logger="kdns.plugins.kubernetes.watch"):
        await run_until_idle(watcher, transport)
    assert index.applied() == []
    assert sum("skipping malformed Service demo/tmp" in r.getMessage() for r in caplog.records) == 4
    # The stream was still followed to its end.
    assert watcher.resource_version == "512"


async def test_on_change_gets_touched_names() -> None:
    listed = read_json("watch/services.list-before.json")
    events = read_events("watch/services.watch.jsonl")
    transport = ReplayTransport({SERVICES: [listed]}, {SERVICES: [events]})
    seen: list[tuple[str, set[Any]]] = []
    watcher = Watcher(
        transport, RESOURCES["Service"], RecordingIndex(["Service"]), FAST, on_change=lambda k, t: seen.append((k, t))
    )
    await run_until_idle(watcher, transport)
    assert seen[0][0] == "Service" and "demo/web" in seen[0][1]
    assert seen[1:] == [("Service", {"demo/tmp"})] * 4


def test_backoff_is_capped_jittered_and_resets() -> None:
    settings = WatchSettings(backoff_base=1, backoff_factor=2, backoff_cap=10, backoff_jitter=1, backoff_reset_after=100)
    clock = [0.0]
    rng = iter([0.0, 0.0, 0.0, 0.5, 0.0, 0.99, 0.0])
    b = Backoff(settings, rng=lambda: next(rng), clock=lambda: clock[0])
    delays = []
    for _ in range(6):
        clock[0] += 1
        delays.append(b.next_delay())
    assert delays[:3] == [1, 2, 4]
    assert delays[3] == 10  # 8 * 1.5 jitter, capped at 10
    assert delays[4] == 10 and delays[5] == 10  # capped
    clock[0] += 1000  # a quiet period resets it
    assert b.next_delay() == 1


def test_watch_items_are_list_items_plus_kind() -> None:
    """What the index receives from a list and from a watch differ only by kind/apiVersion."""
    listed = {key_of(i): i for i in read_json("lists/services.json")["items"]}
    for event in read_events("watch/services.watch.rv0.jsonl"):
        if event["type"] == "ADDED":
            assert strip(event["object"]) == listed[key_of(event["object"])]


def slice_event(etype: str, rv: str, name: str, **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": "demo", "resourceVersion": rv, "labels": {SERVICE_NAME_LABEL: "hl"}}
    return {"type": etype, "object": {"kind": "EndpointSlice", "metadata": {**meta, **extra}}}


async def test_a_bad_event_is_skipped_and_the_watch_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    """An event that fails to apply (here in the index, then in the latency metric) is logged and
    passed over: its resourceVersion counts, so the re-watch does not get it again for ever."""
    index = ClusterIndex()
    # A headless service with a selector: its slices' events go to the programming latency metric.
    index.replace("Service", [{"metadata": {"name": "hl", "namespace": "demo"},
                               "spec": {"clusterIP": "None", "selector": {"app": "hl"}}}])
    good = slice_event("ADDED", "13", "hl-2")
    good["object"]["endpoints"] = [{"addresses": ["10.0.0.9"]}]
    events = [
        {"type": "ADDED", "object": {"kind": "EndpointSlice", "metadata": [1]}},
        slice_event("DELETED", "12", "hl-1", annotations={metrics.TRIGGER_TIME_ANNOTATION: 5}),
        good,
    ]
    listed = {"metadata": {"resourceVersion": "10"}, "items": []}
    transport = ReplayTransport({SLICES: [listed]}, {SLICES: [events]})
    watcher = Watcher(transport, RESOURCES["EndpointSlice"], ProgrammingLatency(index), FAST, sleep=Sleeps())
    with caplog.at_level(logging.WARNING):
        await run_until_idle(watcher, transport)
    assert index.endpoints("demo", "hl").ips == {"10.0.0.9"}
    assert watcher.resource_version == "13" and watcher.errors == 0
    assert [w["resourceVersion"] for w in transport.watches(SLICES)] == ["10", "13"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("skipping malformed EndpointSlice (without metadata)" in w for w in warnings)
    assert any("demo/hl-1" in w and "invalid" in w for w in warnings)


async def test_any_error_applying_an_event_skips_only_that_event(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(RecordingIndex):
        def apply(self, kind: str, event: str, obj: dict[str, Any]) -> set[str]:
            if obj["metadata"]["name"] == "tmp":
                raise TypeError("a bug, or a shape nobody expected")
            return super().apply(kind, event, obj)

    listed = read_json("watch/services.list-before.json")
    events = read_events("watch/services.watch.jsonl")
    transport = ReplayTransport({SERVICES: [listed]}, {SERVICES: [events]})
    index = Broken(["Service"])
    watcher = Watcher(transport, RESOURCES["Service"], index, FAST, sleep=Sleeps())
    with caplog.at_level(logging.WARNING, logger="kdns.plugins.kubernetes.watch"):
        await run_until_idle(watcher, transport)
    assert watcher.errors == 0 and len(transport.watches(SERVICES)) == 2
    assert watcher.resource_version == events[-1]["object"]["metadata"]["resourceVersion"]
    skipped = [r.getMessage() for r in caplog.records if "skipping malformed Service demo/tmp" in r.getMessage()]
    assert len(skipped) == 4 and all("TypeError: a bug" in m for m in skipped)


def test_a_failing_latency_metric_keeps_the_change(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The index has applied the event when the metric fails: its tags must still be returned."""
    def broken(*args: Any) -> None:
        raise RuntimeError("metric")

    monkeypatch.setattr(metrics, "observe_programming", broken)
    index = ClusterIndex()
    obj = slice_event("ADDED", "1", "s")["object"]
    obj["endpoints"] = [{"addresses": ["10.0.0.9"]}]
    with caplog.at_level(logging.WARNING):
        touched = ProgrammingLatency(index).apply("EndpointSlice", "ADDED", obj)
    assert ("svc", "demo", "hl") in touched and index.endpoints("demo", "hl").ips == {"10.0.0.9"}
    assert "no DNS programming latency for EndpointSlice demo/s: RuntimeError: metric" in caplog.text
