"""The fake API server's lists against its own state: cached item encodings, paging snapshots and
filtered pages (the recordings pin the bytes; these pin what the recordings cannot show)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakeapi import FakeApi
from tests.fakeapi.server import dumps

SERVICES = "/api/v1/services"


def service(name: str, namespace: str = "demo", app: str = "web", port: int = 80) -> dict[str, Any]:
    return {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {"clusterIP": "None", "ports": [{"port": port}]},
    }


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    objects = [service(f"s-{i}", f"ns-{i % 3}", ("web", "db")[i % 2]) for i in range(12)]
    async with FakeApi(objects) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url) as resp:
        assert resp.status == 200
        body: dict[str, Any] = json.loads(await resp.read())
        return body


async def pages(http: aiohttp.ClientSession, url: str, limit: int) -> list[dict[str, Any]]:
    """Every page of a paged list, following continue tokens."""
    out = [await get_json(http, f"{url}{'&' if '?' in url else '?'}limit={limit}")]
    while token := out[-1]["metadata"].get("continue"):
        out.append(await get_json(http, f"{url}{'&' if '?' in url else '?'}limit={limit}&continue={token}"))
    return out


async def test_a_list_is_the_json_of_the_current_items_after_writes(api: FakeApi, http: aiohttp.ClientSession) -> None:
    await get_json(http, api.url + SERVICES)  # encodings in use before the writes
    api.update(service("s-1", "ns-1", port=81))
    api.patch("Service", "s-2", {"metadata": {"labels": {"app": "cache"}}}, "ns-2")
    api.delete("Service", "s-3", "ns-0")
    api.create(service("s-0a", "ns-0"))
    async with http.get(api.url + SERVICES) as resp:
        body = await resp.read()
    want = {"kind": "ServiceList", "apiVersion": "v1", "metadata": {"resourceVersion": str(api.resource_version)}}
    assert body == (dumps(want | {"items": api.objects("Service")}) + "\n").encode()
    by_name = {item["metadata"]["name"]: item for item in json.loads(body)["items"]}
    assert by_name["s-1"]["spec"]["ports"] == [{"port": 81}] and "s-3" not in by_name


async def test_continue_pages_keep_the_first_pages_state(api: FakeApi, http: aiohttp.ClientSession) -> None:
    before = api.objects("Service")
    first = await get_json(http, api.url + SERVICES + "?limit=5")
    api.update(service("s-8", "ns-2", port=88))  # on a later page
    api.delete("Service", "s-9", "ns-0")
    api.create(service("s-99", "ns-2"))
    rest = await get_json(http, api.url + SERVICES + f"?continue={first['metadata']['continue']}")
    assert first["items"] + rest["items"] == before
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    # A new list sees the writes, the updated item freshly encoded.
    assert [p["items"] for p in await pages(http, api.url + SERVICES, 5)] == [
        api.objects("Service")[i : i + 5] for i in range(0, 12, 5)
    ]
    assert api.get("Service", "s-8", "ns-2")["spec"]["ports"] == [{"port": 88}]  # type: ignore[index]


@pytest.mark.parametrize(
    "path",
    [
        SERVICES,
        SERVICES + "?labelSelector=app%3Dweb",
        "/api/v1/namespaces/ns-1/services",
        "/api/v1/namespaces/ns-1/services?labelSelector=app+in+(db)",
        "/api/v1/namespaces/ns-9/services",
    ],
)
@pytest.mark.parametrize("limit", [1, 2, 5])
async def test_filtered_pages_add_up_to_the_full_list(api: FakeApi, http: aiohttp.ClientSession, path: str, limit: int) -> None:
    full = (await get_json(http, api.url + path))["items"]
    got = await pages(http, api.url + path, limit)
    assert [item for page in got for item in page["items"]] == full
    seen = 0
    for page in got[:-1]:
        seen += len(page["items"])
        assert len(page["items"]) == limit and page["metadata"]["remainingItemCount"] == len(full) - seen
    assert "remainingItemCount" not in got[-1]["metadata"]


async def test_a_write_between_pages_of_a_filtered_list(api: FakeApi, http: aiohttp.ClientSession) -> None:
    url = api.url + SERVICES + "?labelSelector=app%3Dweb"
    before = (await get_json(http, url))["items"]
    first = await get_json(http, url + "&limit=2")
    # s-8 leaves the selector, s-9 enters it: the rest of this list does not see either.
    api.patch("Service", "s-8", {"metadata": {"labels": {"app": "db"}}}, "ns-2")
    api.patch("Service", "s-9", {"metadata": {"labels": {"app": "web"}}}, "ns-0")
    rest = await get_json(http, url + f"&continue={first['metadata']['continue']}")
    assert first["items"] + rest["items"] == before
    after = (await get_json(http, url))["items"]
    assert {i["metadata"]["name"] for i in after} == {i["metadata"]["name"] for i in before} - {"s-8"} | {"s-9"}
