"""The fake API server against the recordings of a real kube-apiserver (tests/fakeapi/recordings/).

Where the fake holds the recorded state, bodies must be byte-identical; elsewhere (timing-dependent
bookmarks, random uids, other users' names) the structure is compared field by field.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakeapi import FakeApi
from tests.fakeapi.replay import read_events, read_json, recorded

LISTS = {
    "namespaces": "/api/v1/namespaces",
    "services": "/api/v1/services",
    "endpointslices": "/apis/discovery.k8s.io/v1/endpointslices",
    "pods": "/api/v1/pods",
    "endpoints": "/api/v1/endpoints",
}
PAGES = {"namespaces": 3, "services": 4, "endpointslices": 4, "pods": 2, "endpoints": 3}
KIND_OF = {"services": "Service", "endpointslices": "EndpointSlice", "pods": "Pod", "namespaces": "Namespace"}


def recorded_headers(path: str) -> dict[str, str]:
    lines = recorded(path + ".headers").read_text().splitlines()
    out = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            out[k.strip().lower()] = v.strip()
    return out


def recorded_status_code(path: str) -> int:
    return int(recorded(path + ".headers").read_text().split()[1])


def assert_framing_like(resp: aiohttp.ClientResponse, path: str, same_length: bool = True) -> None:
    want = recorded_headers(path)
    assert resp.status == recorded_status_code(path)
    assert resp.headers["Content-Type"] == want["content-type"]
    if want.get("transfer-encoding") == "chunked":
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in resp.headers
    elif same_length:
        assert resp.headers.get("Content-Length") == want["content-length"]
    else:
        assert "Content-Length" in resp.headers and "Transfer-Encoding" not in resp.headers
    for name in ("cache-control", "warning", "x-content-type-options", "retry-after"):
        if name in want:
            assert resp.headers.get(name) == want[name], name
    assert "Audit-Id" in resp.headers


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys (in order) and types, not the values."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return ["list", shape(value[0])] if value else ["list"]
    return type(value).__name__


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    async with FakeApi(recorded=True, bookmark_interval=0.4, bookmark_before_end=0.5) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Accept": "application/json"}) as session:
        yield session


async def fetch(http: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[aiohttp.ClientResponse, bytes]:
    async with http.get(url, **kw) as resp:
        return resp, await resp.read()


@pytest.mark.parametrize("name", sorted(LISTS))
async def test_full_lists_are_byte_identical(api: FakeApi, http: aiohttp.ClientSession, name: str) -> None:
    resp, body = await fetch(http, api.url + LISTS[name])
    assert body == recorded(f"lists/{name}.json").read_bytes()
    assert_framing_like(resp, f"lists/{name}.json")
    resp, body = await fetch(http, api.url + LISTS[name] + "?resourceVersion=0")
    assert body == recorded(f"lists/{name}.rv0.json").read_bytes()


@pytest.mark.parametrize("name", sorted(LISTS))
async def test_limit_2_pages_are_byte_identical(api: FakeApi, http: aiohttp.ClientSession, name: str) -> None:
    url = api.url + LISTS[name] + "?limit=2"
    for page in range(1, PAGES[name] + 1):
        path = f"lists/{name}.limit2.page{page}.json"
        resp, body = await fetch(http, url)
        assert body == recorded(path).read_bytes(), path
        assert_framing_like(resp, path)
        token = json.loads(body)["metadata"].get("continue")
        url = api.url + LISTS[name] + f"?limit=2&continue={token}"
    assert token is None


async def test_rv0_ignores_limit_and_namespaced_lists(api: FakeApi, http: aiohttp.ClientSession) -> None:
    for name in ("services", "endpointslices"):
        _, body = await fetch(http, api.url + LISTS[name] + "?resourceVersion=0&limit=2")
        assert body == recorded(f"lists/{name}.rv0.limit2.json").read_bytes()
    for name, path in (
        ("demo.services", "/api/v1/namespaces/demo/services"),
        ("demo.endpointslices", "/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices"),
        ("demo.service.web", "/api/v1/namespaces/demo/services/web"),
    ):
        resp, body = await fetch(http, api.url + path)
        assert body == recorded(f"lists/{name}.json").read_bytes(), name
        assert_framing_like(resp, f"lists/{name}.json")
    # A namespace that does not exist: 200 and an empty list, not 404.
    resp, body = await fetch(http, api.url + "/api/v1/namespaces/no-such-ns/services")
    want = read_json("errors/list-services-missing-namespace.json")
    got = json.loads(body)
    assert resp.status == 200 and got["items"] == [] and shape(got) == shape(want)


async def test_continue_token_without_limit_gives_the_rest(api: FakeApi, http: aiohttp.ClientSession) -> None:
    _, first = await fetch(http, api.url + "/api/v1/services?limit=2")
    token = json.loads(first)["metadata"]["continue"]
    _, body = await fetch(http, api.url + f"/api/v1/services?continue={token}")
    assert body == recorded("errors/list-services-continue-nolimit.json").read_bytes()


async def test_label_selector(api: FakeApi, http: aiohttp.ClientSession) -> None:
    _, body = await fetch(
        http, api.url + "/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices?labelSelector=kubernetes.io/service-name%3Dweb"
    )
    names = [i["metadata"]["name"] for i in json.loads(body)["items"]]
    assert names == ["web-kntkd"]
    _, body = await fetch(http, api.url + "/api/v1/services?labelSelector=app")
    assert [i["metadata"]["name"] for i in json.loads(body)["items"]] == ["web"]
    _, body = await fetch(http, api.url + "/api/v1/services?labelSelector=app!%3Dweb,provider")
    assert [i["metadata"]["name"] for i in json.loads(body)["items"]] == ["kubernetes"]


# -- watches ----------------------------------------------------------------------------------


async def read_stream(http: aiohttp.ClientSession, url: str) -> tuple[aiohttp.ClientResponse, list[bytes]]:
    async with http.get(url) as resp:
        lines = [line async for line in resp.content]
        return resp, lines


async def test_scenario_streams_are_byte_identical(http: aiohttp.ClientSession) -> None:
    """The recorded scenario replayed into the fake comes out of its watches as recorded."""
    async with FakeApi(bookmark_interval=60, bookmark_before_end=0.5) as api:
        api.load_recorded()
        api.load_lists({KIND_OF[n]: recorded(f"watch/{n}.list-before.json") for n in ("services", "endpointslices", "pods")})
        assert api.resource_version == 468
        streams = {n: read_events(f"watch/{n}.watch.jsonl") for n in ("services", "endpointslices", "pods")}
        merged = sorted(
            (e for events in streams.values() for e in events if e["type"] != "BOOKMARK"),
            key=lambda e: int(e["object"]["metadata"]["resourceVersion"]),
        )
        for event in merged:
            api.replay_event(event)
        for name, events in streams.items():
            url = api.url + LISTS[name] + "?watch=1&resourceVersion=468&allowWatchBookmarks=true&timeoutSeconds=2"
            resp, lines = await read_stream(http, url)
            assert_framing_like(resp, f"watch/{name}.watch.jsonl")
            want = [line for line in recorded(f"watch/{name}.watch.jsonl").read_bytes().splitlines(keepends=True)]
            got_events = [json.loads(line) for line in lines]
            assert [l for l, e in zip(lines, got_events) if e["type"] != "BOOKMARK"] == [
                l for l in want if b'"type":"BOOKMARK"' not in l
            ]
            # Bookmarks before timeoutSeconds ends, shaped as recorded, at the current RV.
            marks = [e for e in got_events if e["type"] == "BOOKMARK"]
            recorded_mark = next(e for e in events if e["type"] == "BOOKMARK")
            assert marks and all(shape(m) == shape(recorded_mark) for m in marks)
            assert {**marks[0]["object"], "metadata": {}} == {**recorded_mark["object"], "metadata": {}}
            assert marks[-1]["object"]["metadata"]["resourceVersion"] == str(api.resource_version)
            assert all(line.endswith(b"\n") for line in lines)


@pytest.mark.parametrize("name", ["services", "endpointslices", "pods"])
async def test_idle_bookmarks_match_recorded_shape(api: FakeApi, http: aiohttp.ClientSession, name: str) -> None:
    url = api.url + LISTS[name] + "?watch=1&resourceVersion=338&allowWatchBookmarks=true&timeoutSeconds=1"
    resp, lines = await read_stream(http, url)
    want = read_events(f"watch/{name}.watch.idle90.jsonl")
    got = [json.loads(line) for line in lines]
    assert got and all(e["type"] == "BOOKMARK" for e in got)
    for event in got:
        expected = json.loads(json.dumps(want[0]).replace(want[0]["object"]["metadata"]["resourceVersion"], "338"))
        assert event == expected
    # Without allowWatchBookmarks: no bookmark at all, a clean end at timeoutSeconds.
    resp, lines = await read_stream(http, api.url + LISTS[name] + "?watch=1&resourceVersion=338&timeoutSeconds=1")
    assert lines == []


@pytest.mark.parametrize(
    "query,recording",
    [
        ("watch=1&resourceVersion=0&allowWatchBookmarks=true&timeoutSeconds=1", "watch/services.watch.rv0.jsonl"),
        ("watch=1&allowWatchBookmarks=true&timeoutSeconds=1", "watch/services.watch.norv.jsonl"),
        ("watch=1&resourceVersion=0&timeoutSeconds=1", "watch/services.watch.rv0.nobookmarks.jsonl"),
        ("allowWatchBookmarks=True&resourceVersion=0&timeoutSeconds=1&watch=True", "watch/services.watch.python-style-query.jsonl"),
        (
            "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
            "watchlist/services.jsonl",
        ),
        (
            "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=338"
            "&allowWatchBookmarks=true&timeoutSeconds=1",
            "watchlist/services.rv-notolderthan.jsonl",
        ),
        (
            "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
            "watchlist/services.no-allowWatchBookmarks.jsonl",
        ),
    ],
)
async def test_initial_events(api: FakeApi, http: aiohttp.ClientSession, query: str, recording: str) -> None:
    resp, lines = await read_stream(http, api.url + "/api/v1/services?" + query)
    assert_framing_like(resp, recording)
    want = recorded(recording).read_bytes().splitlines(keepends=True)
    want_added = [line for line in want if b'"type":"ADDED"' in line]
    got_added = [line for line in lines if b'"type":"ADDED"' in line]
    if "python-style" in recording:
        # Recorded later: Service demo/nomatch had been added by then.
        want_added = [line for line in want_added if b'"name":"nomatch"' not in line]
    assert got_added == want_added
    want_end = [json.loads(line) for line in want if b"initial-events-end" in line]
    got_end = [json.loads(line) for line in lines if b"initial-events-end" in line]
    assert len(got_end) == len(want_end)
    for got, exp in zip(got_end, want_end):
        assert shape(got) == shape(exp)
        assert got["object"]["metadata"]["resourceVersion"] == str(api.resource_version)
    # The initial-events-end bookmark comes right after the ADDED events.
    if want_end:
        assert b"initial-events-end" in lines[len(got_added)]


@pytest.mark.parametrize("name", ["endpointslices", "pods"])
async def test_watch_list_of_other_kinds_is_shaped_as_recorded(api: FakeApi, http: aiohttp.ClientSession, name: str) -> None:
    # Recorded after the watch scenario (other resourceVersions and contents than lists/): the
    # event shapes, the order and the closing bookmark are compared, not the objects.
    query = "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"
    resp, lines = await read_stream(http, api.url + LISTS[name] + "?" + query)
    assert_framing_like(resp, f"watchlist/{name}.jsonl")
    want = read_events(f"watchlist/{name}.jsonl")
    got = [json.loads(line) for line in lines]
    end = next(i for i, e in enumerate(got) if e["type"] == "BOOKMARK")
    assert [e["type"] for e in got[:end]] == ["ADDED"] * len(api.objects(KIND_OF[name]))
    assert [e["object"]["metadata"]["name"] for e in got[:end]] == [o["metadata"]["name"] for o in api.objects(KIND_OF[name])]
    assert all(list(e["object"]) == list(want[0]["object"]) for e in got[:end])  # kind, apiVersion first
    want_end = want[-1]
    want_end["object"]["metadata"]["resourceVersion"] = str(api.resource_version)
    assert got[end] == want_end


@pytest.mark.parametrize(
    "query",
    [
        "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=10",
        "watch=1&resourceVersion=0&allowWatchBookmarks=true&timeoutSeconds=3",
    ],
)
async def test_old_etcd_refuses_streams_of_initial_events_as_recorded(http: aiohttp.ClientSession, query: str) -> None:
    recording = "errors/old-etcd-watchlist-services.jsonl" if "sendInitialEvents" in query else "errors/old-etcd-watch-services-rv0-bookmarks.jsonl"
    async with FakeApi(recorded=True, watch_list="old-etcd") as api:
        resp, lines = await read_stream(http, api.url + "/api/v1/services?" + query)
        assert_framing_like(resp, recording)
        assert b"".join(lines) == recorded(recording).read_bytes()
        # A watch from a resourceVersion needs no progress notifications: it works.
        _, lines = await read_stream(http, api.url + "/api/v1/services?watch=1&resourceVersion=338&timeoutSeconds=1")
        assert lines == []


async def test_a_server_without_the_parameters_never_sends_the_end_bookmark(http: aiohttp.ClientSession) -> None:
    async with FakeApi(recorded=True, watch_list="unknown", bookmark_before_end=0.5) as api:
        query = "watch=1&sendInitialEvents=true&allowWatchBookmarks=true&timeoutSeconds=2"
        _, lines = await read_stream(http, api.url + "/api/v1/services?" + query)
        events = [json.loads(line) for line in lines]
        assert [e["type"] for e in events[: len(api.objects("Service"))]] == ["ADDED"] * len(api.objects("Service"))
        assert not any(b"initial-events-end" in line for line in lines)


async def test_namespace_initial_events_end_bookmark(api: FakeApi, http: aiohttp.ClientSession) -> None:
    query = "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"
    _, lines = await read_stream(http, api.url + "/api/v1/namespaces?" + query)
    want = [json.loads(line) for line in recorded("watchlist/namespaces.jsonl").read_bytes().splitlines()]
    got = [json.loads(line) for line in lines]
    assert [e for e in got if e["type"] == "ADDED"] == [e for e in want if e["type"] == "ADDED"]
    end = next(e for e in got if e["type"] == "BOOKMARK")
    want_end = next(e for e in want if e["type"] == "BOOKMARK")
    want_end["object"]["metadata"]["resourceVersion"] = str(api.resource_version)
    assert end == want_end


@pytest.mark.parametrize(
    "name,path",
    [
        ("services", "errors/410-watch-services-old-rv.jsonl"),
        ("pods", "errors/410-watch-pods-old-rv.jsonl"),
        ("endpointslices", "errors/410-watch-endpointslices-rv1.jsonl"),
    ],
)
async def test_too_old_rv_watch_is_a_200_with_one_error_line(
    api: FakeApi, http: aiohttp.ClientSession, name: str, path: str
) -> None:
    rv = "1" if "rv1" in path else "300"
    resp, lines = await read_stream(http, api.url + LISTS[name] + f"?watch=1&resourceVersion={rv}&timeoutSeconds=5")
    assert_framing_like(resp, path)
    want = recorded(path).read_text()
    assert len(lines) == 1
    normalize = lambda text: re.sub(r"too old resource version: \d+ \(\d+\)", "too old resource version: N (M)", text)  # noqa: E731
    assert normalize(lines[0].decode()) == normalize(want)
    assert re.search(rf"too old resource version: {rv} \(338\)", lines[0].decode())


async def test_expire_watches_injects_the_error_event(api: FakeApi, http: aiohttp.ClientSession) -> None:
    api.expire_watches(1)
    _, lines = await read_stream(http, api.url + "/api/v1/services?watch=1&resourceVersion=338&timeoutSeconds=5")
    event = json.loads(lines[0])
    assert len(lines) == 1 and shape(event) == shape(read_events("errors/410-watch-services-rv1.jsonl")[0])
    # Only the next one.
    _, lines = await read_stream(http, api.url + "/api/v1/services?watch=1&resourceVersion=338&timeoutSeconds=1")
    assert lines == []


async def test_watch_ends_cleanly_at_timeout_seconds(api: FakeApi, http: aiohttp.ClientSession) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    _, lines = await read_stream(http, api.url + "/api/v1/services?watch=1&resourceVersion=338&timeoutSeconds=1")
    assert 0.9 <= loop.time() - started < 2.0
    assert lines == []


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,recording",
    [
        ("/api/v1/namespaces/demo/services/does-not-exist", "errors/404-get-service.json"),
        ("/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices/does-not-exist", "errors/404-get-endpointslice.json"),
        ("/api/v1/namespaces/no-such-ns/services/web", "errors/404-get-service-missing-namespace.json"),
        ("/api/v1/nosuchresources", "errors/404-unknown-resource.json"),
        ("/apis/no.such.group/v1/things", "errors/404-unknown-group.json"),
        ("/no/such/path", "errors/404-unknown-path.json"),
        ("/api/v1/services?resourceVersion=abc", "errors/400-list-services-bad-rv.json"),
        ("/api/v1/services?watch=1&resourceVersion=abc&timeoutSeconds=5", "errors/500-watch-services-bad-rv.json"),
        (
            "/api/v1/services?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&timeoutSeconds=5",
            "errors/422-watchlist-services-no-resourceVersionMatch.json",
        ),
        (
            "/api/v1/services?watch=1&resourceVersion=0&sendInitialEvents=false&allowWatchBookmarks=true&timeoutSeconds=5",
            "errors/422-watch-services-rv0-sendInitialEvents-false.json",
        ),
    ],
)
async def test_error_bodies_are_byte_identical(api: FakeApi, http: aiohttp.ClientSession, path: str, recording: str) -> None:
    resp, body = await fetch(http, api.url + path)
    assert body == recorded(recording).read_bytes()
    assert_framing_like(resp, recording)


async def test_auth_errors(http: aiohttp.ClientSession) -> None:
    async with FakeApi(recorded=True, token="s3cret") as api:
        resp, body = await fetch(http, api.url + "/api/v1/services", headers={"Authorization": "Bearer not-a-valid-token"})
        assert body == recorded("errors/401-list-services.json").read_bytes()
        assert_framing_like(resp, "errors/401-list-services.json")
        resp, body = await fetch(http, api.url + "/api/v1/services")
        assert body == recorded("errors/403-anonymous-list-services.json").read_bytes()
        assert_framing_like(resp, "errors/403-anonymous-list-services.json")
        resp, body = await fetch(http, api.url + "/api/v1/services", headers={"Authorization": "Bearer s3cret"})
        assert resp.status == 200
        # Forbidden for one resource: the recorded message with our user.
        api.set_auth_failure(403, "endpointslices")
        auth = {"Authorization": "Bearer s3cret"}
        for url, recording in (
            ("/apis/discovery.k8s.io/v1/endpointslices?watch=1&allowWatchBookmarks=true&timeoutSeconds=5", "errors/403-watch-endpointslices.json"),
        ):
            resp, body = await fetch(http, api.url + url, headers=auth)
            want = recorded(recording).read_text().replace("system:serviceaccount:demo:nobody", "system:serviceaccount:kube-system:kdns")
            assert body.decode() == want
        api.set_auth_failure(403)
        resp, body = await fetch(http, api.url + "/api/v1/namespaces/demo/services", headers=auth)
        want = recorded("errors/403-list-namespaced-services.json").read_text()
        assert body.decode() == want.replace("system:serviceaccount:demo:nobody", "system:serviceaccount:kube-system:kdns")
        # Another user name: another length.
        assert_framing_like(resp, "errors/403-list-namespaced-services.json", same_length=False)


async def test_continue_token_errors(api: FakeApi, http: aiohttp.ClientSession) -> None:
    resp, body = await fetch(http, api.url + "/api/v1/services?limit=2&continue=garbage")
    want = read_json("errors/400-list-services-continue-garbage.json")
    assert resp.status == 400 and shape(json.loads(body)) == shape(want)
    assert json.loads(body)["message"].startswith("invalid continue token")
    _, first = await fetch(http, api.url + "/api/v1/services?limit=2")
    token = json.loads(first)["metadata"]["continue"]
    api.expire_continue_tokens()
    resp, body = await fetch(http, api.url + f"/api/v1/services?limit=2&continue={token}")
    # Same page, same token: the recorded 410 (its fresh token included) byte for byte.
    assert body == recorded("errors/410-list-services-continue-old.json").read_bytes()
    assert_framing_like(resp, "errors/410-list-services-continue-old.json")


async def test_injected_server_errors_are_status_objects(api: FakeApi, http: aiohttp.ClientSession) -> None:
    api.fail_next(500, count=2)
    api.fail_next(504, count=1)
    for want_status in (500, 500, 504, 200):
        resp, body = await fetch(http, api.url + "/api/v1/services")
        assert resp.status == want_status
        if want_status != 200:
            status = json.loads(body)
            assert status["kind"] == "Status" and status["code"] == want_status
            assert list(status)[:5] == ["kind", "apiVersion", "metadata", "status", "message"]
    api.fail_next(504)
    resp, body = await fetch(http, api.url + "/api/v1/services")
    assert shape(json.loads(body))[:5] == shape(read_json("errors/504-list-services-future-rv.json"))[:5]
    assert resp.headers["Retry-After"] == "1"


async def test_writes_share_one_increasing_resource_version(api: FakeApi, http: aiohttp.ClientSession) -> None:
    base = api.resource_version
    api.create({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "n", "namespace": "demo"}, "spec": {}})
    api.touch()  # a write of a kind nobody watches
    api.create({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "demo"}, "spec": {}})
    deleted = api.delete("Service", "n", namespace="demo")
    assert deleted["metadata"]["resourceVersion"] == str(base + 4)
    _, body = await fetch(http, api.url + f"/api/v1/services?watch=1&resourceVersion={base}&timeoutSeconds=1")
    events = [json.loads(line) for line in body.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in events] == [
        ("ADDED", str(base + 1)),
        ("DELETED", str(base + 4)),
    ]
    assert list(events[0]["object"])[:3] == ["kind", "apiVersion", "metadata"]
    assert list(events[0]["object"]["metadata"])[:5] == ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"]
    _, body = await fetch(http, api.url + "/api/v1/services")
    assert json.loads(body)["metadata"]["resourceVersion"] == str(base + 4)
