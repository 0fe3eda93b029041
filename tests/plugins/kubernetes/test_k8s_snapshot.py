"""Warm restart from a local snapshot (issue 15, kdns extension): `snapshot FILE [MAX_AGE]`.

Live, over real sockets: kdns writes the snapshot while synced with the fake API; restarted while
the API is down, it answers the cluster's names from the snapshot (and /ready says 200); when the
API is back it converges exactly to what a freshly started kdns answers. Unusable files (corrupt,
truncated, foreign, too old) are ignored with one log line naming why, and kdns answers SERVFAIL
as without a snapshot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import logging
from pathlib import Path

import pytest
from plugins.kubernetes.test_k8s_live import (
    FAST,
    NAMES,
    ZONE,
    apply_changes,
    ask,
    data,
    k8s_handler,
    live_api,
    snapshot,
    until,
)

from conftest import kdns_server
from kdns.errors import ConfigError
from kdns.plugins.kubernetes import apisource
from kdns.plugins.kubernetes import snapshot as snap
from kdns.plugins.kubernetes.config import SNAPSHOT_MAX_AGE, parse
from kdns.plugins.kubernetes.index import ClusterIndex
from kdns.plugins.kubernetes.manifests import ManifestSource
from plugins.kubernetes.k8s_cases import FIXTURES, check, config, handler
from plugins.kubernetes.k8s_cases import ask as ask_handler
from plugins.kubernetes.test_k8s_multicluster import README_CASES, mc_handler
from tests.fakeapi import FakeApi
from tests.upstreams import directive

WEB = f"web.demo.svc.{ZONE}"


@pytest.fixture(autouse=True)
def fast_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apisource, "DEFAULT_SETTINGS", dataclasses.replace(FAST, snapshot_interval=0.05))


def corefile(api: FakeApi, path: Path, max_age: str = "") -> str:
    return f"""
    .:0 {{
        ready 127.0.0.1:0
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            endpoint {api.url}
            pods verified
            startup_timeout 300ms
            snapshot {path} {max_age}
        }}
    }}
    """


async def written(path: Path) -> None:
    await until(lambda: asyncio.sleep(0, result=path.exists()), f"{path} written", timeout=10)


async def test_api_down_at_start_serves_the_snapshot_then_converges(tmp_path: Path) -> None:
    path = tmp_path / "index.snap"
    async with live_api() as api:
        async with kdns_server(corefile(api, path)) as first:
            await written(path)
            before = await snapshot(first, NAMES)
        await api.stop()
        apply_changes(api)  # the cluster moves on while no kdns sees it
        async with kdns_server(corefile(api, path)) as server:
            handler = k8s_handler(server)
            assert not handler.index.synced and handler.from_snapshot
            # the last-known state, as after an outage: answers (not SERVFAIL), NXDOMAINs included
            assert await snapshot(server, NAMES) == before
            assert await snapshot(server, NAMES, tcp=True) == before
            assert data(await ask(server, f"nothing.demo.svc.{ZONE}", "A")) == ("NXDOMAIN", set())
            assert await server.http("ready", "/ready") == (200, "OK")

            await api.start()
            async with kdns_server(corefile(api, tmp_path / "fresh.snap")) as fresh:
                want = await snapshot(fresh, NAMES)
            assert want != before

            async def converged() -> bool:
                return await snapshot(server, NAMES) == want

            await until(converged, "the snapshot replaced by the live lists", timeout=10)
            assert handler.index.synced
            assert await snapshot(server, NAMES, tcp=True) == want


async def test_without_a_snapshot_the_api_down_at_start_is_servfail(tmp_path: Path) -> None:
    path = tmp_path / "none.snap"
    async with live_api() as api:
        await api.stop()
        async with kdns_server(corefile(api, path)) as server:
            assert not k8s_handler(server).from_snapshot
            assert data(await ask(server, f"nothing.demo.svc.{ZONE}", "A"))[0] == "SERVFAIL"
            status, _ = await server.http("ready", "/ready")
            assert status == 503


# -- files that are not used ----------------------------------------------------------------------


def good_bytes(source: str = "endpoint http://api", written: float = 1000.0) -> tuple[bytes, ClusterIndex]:
    index = ClusterIndex(config(pods="verified"))
    assert ManifestSource([str(FIXTURES)], index).reload()
    state = {kind: list(index.stored(kind).items()) for kind in index.kinds}
    return snap.encode(state, source, written), index


def test_a_snapshot_round_trips_to_the_same_index() -> None:
    data_, index = good_bytes()
    _, batches = snap.decode(data_, "endpoint http://api", index.kinds, 3600, 1000.0)
    restored = ClusterIndex(config(pods="verified"))
    for kind, batch in batches.items():
        restored.replace(kind, batch)
    for kind in index.kinds:
        assert restored.stored(kind) == index.stored(kind), kind
    assert len(restored.stored("Pod")) > 0 and len(restored.stored("EndpointSlice")) > 0


async def test_a_multicluster_snapshot_restores_the_service_imports() -> None:
    live = mc_handler()
    kinds = snap.kept_kinds(live.index)
    assert "ServiceImport" in kinds and live.index.stored("ServiceImport")
    data_ = snap.encode({kind: list(live.index.stored(kind).items()) for kind in kinds}, "in-cluster", 1000.0)
    _, batches = snap.decode(data_, "in-cluster", kinds, 3600, 1000.0)
    restored = handler(live.config, load=False)
    for kind, batch in batches.items():
        restored.index.replace(kind, batch)
    restored.from_snapshot = True  # as Handler.start() sets it after restore()
    for case in README_CASES:
        check(case, await ask_handler(restored, case.qname, case.qtype))


def _rewrite(data_: bytes, **changes: object) -> bytes:
    document = json.loads(gzip.decompress(data_))
    document.update(changes)
    return gzip.compress(json.dumps(document).encode())


UNUSABLE = {
    "truncated": lambda d: d[: len(d) // 2],
    "corrupt (": lambda d: d[:20] + bytes(b ^ 0xFF for b in d[20:40]) + d[40:],
    "corrupt (not JSON": lambda d: gzip.compress(gzip.decompress(d)[:-10]),
    "foreign (not a kdns index snapshot)": lambda d: gzip.compress(b'{"format": "something else"}'),
    "foreign (written for endpoint http://other, this server watches endpoint http://api)":
        lambda d: _rewrite(d, source="endpoint http://other"),
    "foreign (written by a kdns with other index objects)": lambda d: _rewrite(d, schema={"Port": ["name"]}),
    "foreign (holds EndpointSlice, Namespace, Service; this server watches":
        lambda d: _rewrite(d, kinds={k: v for k, v in json.loads(gzip.decompress(d))["kinds"].items() if k != "Pod"}),
    "corrupt (Service entries)": lambda d: _rewrite(d, kinds={
        **json.loads(gzip.decompress(d))["kinds"], "Service": [["demo", "web", "not a service"]]}),
    "corrupt (no kinds)": lambda d: _rewrite(d, kinds=[1, 2]),
    "corrupt (no time of writing)": lambda d: _rewrite(d, written=float("nan")),
    "corrupt (Namespace entries)": lambda d: _rewrite(d, kinds={
        **json.loads(gzip.decompress(d))["kinds"], "Namespace": [[1, 2, {"Namespace": ["demo", True]}]]}),
    "corrupt (nested too deeply)": lambda d: gzip.compress(b"[" * 100_000),
    "too old (written 2.0h ago, MAX_AGE 1.0h)": lambda d: d,  # decoded at written + 2 h
}


@pytest.mark.parametrize("why", list(UNUSABLE))
async def test_unusable_snapshots_are_ignored_with_one_line_naming_why(
    why: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    data_, index = good_bytes(written=1000.0)
    path = tmp_path / "index.snap"
    path.write_bytes(UNUSABLE[why](data_))
    fresh = ClusterIndex(config(pods="verified"))
    now = 1000.0 + (7200 if why.startswith("too old") else 0)
    snapshots = snap.Snapshots(str(path), SNAPSHOT_MAX_AGE, fresh, "endpoint http://api", 1.0, clock=lambda: now)
    with caplog.at_level(logging.INFO, logger="kdns.plugins.kubernetes.snapshot"):
        assert not snapshots.restore()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith(f"snapshot {path} ignored: {why}"), lines
    assert all(not fresh.stored(kind) for kind in fresh.kinds)


async def test_a_missing_snapshot_is_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    snapshots = snap.Snapshots(str(tmp_path / "nope"), 60, ClusterIndex(), "in-cluster", 1.0)
    with caplog.at_level(logging.INFO, logger="kdns.plugins.kubernetes.snapshot"):
        assert not snapshots.restore()
    assert [r.getMessage() for r in caplog.records] == [f"snapshot {tmp_path / 'nope'}: none yet, nothing to serve until the API is listed"]


async def test_writes_are_atomic_and_only_of_a_synced_index(tmp_path: Path) -> None:
    path = tmp_path / "index.snap"
    index = ClusterIndex(config())
    snapshots = snap.Snapshots(str(path), 60, index, "in-cluster", 0.01)
    snapshots.start()
    index.replace("Namespace", [{"metadata": {"name": "demo"}}])  # listed, but not every kind yet
    await asyncio.sleep(0.1)
    assert not path.exists()
    for kind in index.kinds:
        index.mark_synced(kind)
    index.replace("Service", [{"metadata": {"name": "web", "namespace": "demo"}, "spec": {"clusterIP": "10.96.0.10"}}])
    await until(lambda: asyncio.sleep(0, result=path.exists()), "written")
    await snapshots.stop()
    assert [p.name for p in tmp_path.iterdir()] == ["index.snap"]  # no temporary file left
    _, batches = snap.decode(path.read_bytes(), "in-cluster", index.kinds, 60, snapshots.clock())
    assert set(batches["Service"].objects) == {("demo", "web")}


async def test_a_short_max_age_is_kept_by_writing_more_often(tmp_path: Path) -> None:
    # MAX_AGE 4 s next to a 30 s snapshot_interval: a change is written well within MAX_AGE,
    # not 30 s later, when a restart would find the file too old.
    path = tmp_path / "index.snap"
    index = ClusterIndex(config())
    for kind in index.kinds:
        index.mark_synced(kind)
    snapshots = snap.Snapshots(str(path), 4.0, index, "in-cluster", 30.0)
    snapshots.start()
    try:
        await written(path)
        index.replace("Service", [{"metadata": {"name": "web", "namespace": "demo"}, "spec": {"clusterIP": "10.96.0.10"}}])

        async def has_web() -> bool:
            _, batches = snap.decode(path.read_bytes(), "in-cluster", index.kinds, 3600, snapshots.clock())
            return ("demo", "web") in batches["Service"].objects

        await until(has_web, "the change written", timeout=10)
    finally:
        await snapshots.stop()


def test_snapshot_option() -> None:
    def parsed(body: str) -> object:
        return parse(directive(f". {{\n kubernetes cluster.local {{\n  {body}\n }}\n}}\n", "kubernetes"))

    c = parsed("snapshot /var/lib/kdns/index.snap")
    assert (c.snapshot, c.snapshot_max_age) == ("/var/lib/kdns/index.snap", 3600.0)  # type: ignore[attr-defined]
    c = parsed("snapshot /tmp/x 30m")
    assert c.snapshot_max_age == 1800.0  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="MAX_AGE must be positive"):
        parsed("snapshot /tmp/x 0s")
    with pytest.raises(ConfigError, match="cannot be combined with 'manifests'"):
        parsed("snapshot /tmp/x\n  manifests /tmp")


async def test_pods_watched_only_for_autopath_are_not_kept(tmp_path: Path) -> None:
    index = ClusterIndex(config())
    index.track_pod_namespaces()  # autopath without `pods verified`: address -> namespace only
    assert "Pod" in index.kinds and "Pod" not in snap.kept_kinds(index)
    assert ManifestSource([str(FIXTURES)], index).reload()
    path = tmp_path / "index.snap"
    await snap.Snapshots(str(path), 60, index, "in-cluster", 0.01).write()
    restored = ClusterIndex(config())
    restored.track_pod_namespaces()
    assert snap.Snapshots(str(path), 60, restored, "in-cluster", 0.01).restore()
    assert restored.stored("Service") == index.stored("Service")
    assert not restored.listed("Pod") and restored.client_namespace("10.244.0.10") is None
