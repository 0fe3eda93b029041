"""The streaming list (watch-list, KEP-3157) and its fallback to list + watch.

First on recorded streams replayed without HTTP (watchlist/, errors/old-etcd-*, errors/422-*),
then against the fake API over HTTP in each of its modes: a server with the feature, one on an old
etcd, and one from before the parameters existed.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import pytest

from kdns.plugins.kubernetes.settings import WatchSettings
from kdns.plugins.kubernetes.watch import RESOURCES, ApiConnectionError, ApiStatusError, Watcher
from tests.fakeapi import FakeApi
from tests.fakeapi.replay import RecordingIndex, ReplayTransport, key_of, read_events, read_json, strip
from tests.plugins.kubernetes.test_api_fake import FAST as FAKE_FAST
from tests.plugins.kubernetes.test_api_fake import converged, eventually, running, service
from tests.plugins.kubernetes.test_watch_replay import FAST as REPLAY_FAST
from tests.plugins.kubernetes.test_watch_replay import Sleeps, run_until_idle

SERVICES = RESOURCES["Service"].path()
REPLAY = replace(REPLAY_FAST, watch_list=True)
FAKE = replace(FAKE_FAST, watch_list=True)
KINDS = ("Namespace", "Service", "EndpointSlice")

STREAM_LIST = {"watch": "true", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"}


def is_stream_list(params: dict[str, str]) -> bool:
    return all(params.get(k) == v for k, v in STREAM_LIST.items()) and "resourceVersion" not in params


def watcher_for(transport: ReplayTransport, index: RecordingIndex, sleeps: Sleeps | None = None) -> Watcher:
    return Watcher(transport, RESOURCES["Service"], index, REPLAY, sleep=sleeps or Sleeps())


# -- replayed recordings ----------------------------------------------------------------------


async def test_recorded_stream_list_syncs_and_goes_on_as_a_watch() -> None:
    stream = read_events("watchlist/services.jsonl")
    change = read_events("watch/services.watch.jsonl")[0]
    change["object"]["metadata"]["resourceVersion"] = "470"
    transport = ReplayTransport({}, {SERVICES: [[*stream, change]]})
    index = RecordingIndex(["Service"])
    watcher = watcher_for(transport, index)
    await run_until_idle(watcher, transport)
    assert transport.list_calls() == []  # no LIST at all
    first, again = transport.watches()
    assert is_stream_list(first)
    want = {key_of(e["object"]): strip(e["object"]) for e in stream if e["type"] == "ADDED"}
    assert [c[0] for c in index.calls[:2]] == ["replace", "mark_synced"]
    assert index.replaces("Service")[0][2] == list(want)  # in the order streamed, in one step
    assert watcher.synced.is_set()
    # The change after the bookmark is applied as a watch event; the clean end re-watches from it.
    assert [c[3:] for c in index.applied()] == [(key_of(change["object"]), "470")]
    assert again["resourceVersion"] == "470" and "sendInitialEvents" not in again
    assert (watcher.stream_lists, watcher.lists) == (1, 0)


async def test_index_is_replaced_only_at_the_initial_events_end_bookmark() -> None:
    stream = read_events("watchlist/services.jsonl")
    # The stream breaks before the bookmark: nothing half-listed reaches the index, and the retry
    # is a streaming list again (a broken connection says nothing about the feature).
    transport = ReplayTransport({}, {SERVICES: [[*stream[:3], ApiConnectionError("reset")], stream]})
    index = RecordingIndex(["Service"])
    sleeps = Sleeps()
    watcher = watcher_for(transport, index, sleeps)
    await run_until_idle(watcher, transport)
    assert len(index.replaces()) == 1 and len(index.replaces()[0][2]) == len(stream) - 1
    assert [is_stream_list(w) for w in transport.watches()] == [True, True, False]
    assert transport.watches()[2]["resourceVersion"] == stream[-1]["object"]["metadata"]["resourceVersion"]
    assert len(sleeps.delays) == 1 and watcher.watch_list


async def test_a_failed_replace_streams_the_list_again() -> None:
    # A bug while the index takes the list must not leave the watcher watching from the list's
    # resourceVersion with the list never applied (and the kind never synced).
    class Failing(RecordingIndex):
        failures = 1

        def replace(self, kind: str, objects: list[dict[str, Any]]) -> set[str]:
            if self.failures:
                self.failures -= 1
                raise RuntimeError("index bug")
            return super().replace(kind, objects)

    stream = read_events("watchlist/services.jsonl")
    transport = ReplayTransport({}, {SERVICES: [stream, stream]})
    index = Failing(["Service"])
    watcher = watcher_for(transport, index)
    await run_until_idle(watcher, transport)
    assert [is_stream_list(w) for w in transport.watches()][:2] == [True, True]
    assert len(index.replaces("Service")) == 1 and watcher.synced.is_set()


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param(read_events("errors/old-etcd-watchlist-services.jsonl"), id="old-etcd-error-event"),
        pytest.param(ApiStatusError(422, read_json("errors/422-watchlist-services-no-resourceVersionMatch.json")), id="422"),
        # ADDED events and a clean end without the bookmark (recorded without allowWatchBookmarks).
        pytest.param(read_events("watchlist/services.no-allowWatchBookmarks.jsonl"), id="no-end-bookmark"),
        # A server that ignores the parameters: its periodic bookmark is not the end of anything.
        pytest.param(
            [*read_events("watchlist/services.no-allowWatchBookmarks.jsonl"), read_events("watch/services.watch.idle90.jsonl")[0]],
            id="plain-bookmark",
        ),
    ],
)
async def test_a_refused_stream_list_falls_back_to_list_and_watch_for_good(refusal: object) -> None:
    listed = read_json("lists/services.json")
    transport = ReplayTransport(
        {SERVICES: [listed, listed]},
        {SERVICES: [refusal, read_events("errors/410-watch-services-rv1.jsonl")]},
    )
    index = RecordingIndex(["Service"])
    sleeps = Sleeps()
    watcher = watcher_for(transport, index, sleeps)
    await run_until_idle(watcher, transport)
    watches = transport.watches()
    assert is_stream_list(watches[0])
    # Listed at once (no backoff), watched from the list's RV; after the 410 it lists again
    # instead of trying the streaming list a second time.
    assert [w.get("resourceVersion") for w in watches[1:]] == ["338", "338"]
    assert len(transport.list_calls()) == 2
    assert not watcher.watch_list and sleeps.delays == []
    assert index.state["Service"] == {key_of(o): o for o in listed["items"]}


@pytest.mark.parametrize("status", [401, 403, 429, 503])
async def test_errors_unrelated_to_the_feature_retry_the_stream_list(status: int) -> None:
    stream = read_events("watchlist/services.jsonl")
    transport = ReplayTransport({}, {SERVICES: [ApiStatusError(status, {"message": "try later"}), stream]})
    sleeps = Sleeps()
    watcher = watcher_for(transport, RecordingIndex(["Service"]), sleeps)
    await run_until_idle(watcher, transport)
    assert transport.list_calls() == []
    assert [is_stream_list(w) for w in transport.watches()][:2] == [True, True]
    assert watcher.watch_list and watcher.synced.is_set() and len(sleeps.delays) == 1


async def test_410_after_a_stream_list_streams_the_state_again() -> None:
    stream = read_events("watchlist/services.jsonl")
    expired = read_events("errors/410-watch-services-rv1.jsonl")
    transport = ReplayTransport({}, {SERVICES: [stream, expired, stream]})
    index = RecordingIndex(["Service"])
    watcher = watcher_for(transport, index)
    await run_until_idle(watcher, transport)
    assert [is_stream_list(w) for w in transport.watches()] == [True, False, True, False]
    assert watcher.relists == 1 and len(index.replaces()) == 2 and transport.list_calls() == []


# -- the fake API over HTTP -------------------------------------------------------------------


def stream_lists(api: FakeApi, path: str) -> int:
    return sum(1 for method, p, qs in api.requests if p == path and parse_qs(qs).get("sendInitialEvents") == ["true"])


def plain_lists(api: FakeApi, path: str) -> int:
    return sum(1 for method, p, qs in api.requests if p == path and "watch" not in parse_qs(qs))


async def test_stream_list_against_the_fake_api() -> None:
    async with FakeApi(recorded=True, bookmark_interval=0.3, bookmark_before_end=0.5) as api:
        index = RecordingIndex(KINDS)
        async with running(api, index, FAKE) as source:
            assert await source.wait_synced(5)
            assert converged(index, api)
            api.create(service("new"))
            api.delete("Service", "web", namespace="demo")
            await eventually(lambda: converged(index, api))
            # Cut: the next watch resumes from the last RV; nothing is listed again.
            api.cut_streams()
            api.create(service("after-cut"))
            await eventually(lambda: converged(index, api))
            # Expired: the state is streamed again and replaces the index at once.
            api.expire_watches(3)
            api.cut_streams()
            api.create(service("after-410"))
            await eventually(lambda: converged(index, api) and all(len(index.replaces(k)) == 2 for k in KINDS))
        for path in ("/api/v1/namespaces", "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices"):
            assert stream_lists(api, path) == 2 and plain_lists(api, path) == 0
        assert [c[2] for c in index.applied("Service") if c[3] == "demo/new"] == ["ADDED"]


@pytest.mark.parametrize("mode", ["old-etcd", "unknown"])
async def test_a_server_without_the_feature_is_listed_and_watched(mode: str) -> None:
    async with FakeApi(recorded=True, watch_list=mode, bookmark_interval=0.3, bookmark_before_end=0.5) as api:
        index = RecordingIndex(KINDS)
        settings: WatchSettings = replace(FAKE, watch_timeout=1)
        async with running(api, index, settings) as source:
            assert await source.wait_synced(5)
            assert converged(index, api)
            api.create(service("new"))
            await eventually(lambda: converged(index, api))
            # Watches time out and are made again: never another streaming list.
            await eventually(lambda: len([q for _, p, q in api.requests if p == SERVICES]) >= 4)
            await asyncio.sleep(0)
        for path in ("/api/v1/namespaces", "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices"):
            assert stream_lists(api, path) == 1 and plain_lists(api, path) == 1
        assert all(not w.watch_list for w in source.watchers)


# -- the transport's line parsing ------------------------------------------------------------


def test_lines_of_a_chunk_are_parsed_together_and_bad_ones_named() -> None:
    from kdns.plugins.kubernetes.apisource import _events

    lines = [line.encode() for line in recorded_lines("watchlist/services.jsonl")]
    assert _events(lines, "/api/v1/services") == read_events("watchlist/services.jsonl")
    with pytest.raises(ApiConnectionError, match="unreadable event line"):
        _events([lines[0], b'{"type":"ADDED",', lines[1]], "/api/v1/services")
    # Two objects on one line are no event, even though the lines joined would parse.
    with pytest.raises(ApiConnectionError, match="unreadable event line"):
        _events([lines[0] + b"," + lines[1], lines[2]], "/api/v1/services")
    with pytest.raises(ApiConnectionError, match="not a JSON object"):
        _events([lines[0], b"[]"], "/api/v1/services")


def recorded_lines(path: str) -> list[str]:
    from tests.fakeapi.replay import recorded

    return [line for line in recorded(path).read_text(encoding="utf-8").splitlines() if line.strip()]
