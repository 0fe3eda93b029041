"""Streaming list (watch-list) against paged list + watch (issue 16): `python -m bench.memsync --only watchlist`.

The fake API (tests/fakeapi) runs in a child process of its own, so that its memory is measured
alone: in `yes` mode it serves streaming lists, in `old-etcd` mode it refuses them as an apiserver
on an old etcd does (errors/old-etcd-*), and kdns lists and watches instead (one refused request
per kind first). Two figures per mode:

  sync       one `python -m kdns` (the kubeadm Corefile, pinned to the server core) from start to
             answering DNS against that API;
  peak       the fake API's peak RSS above its RSS before, while 10 clients sync at once (kdns's own
             ApiSource, each into an index that keeps only a count, so the clients stay small): its
             VmHWM, reset to its RSS (after a garbage collection and malloc_trim) just before; with
             the time until all 10 were synced. The fake is a spawned process of its own, that has
             served nothing before these syncs.

The fake builds each list page from its items' pre-encoded bytes and writes each watch event as it
goes, as the apiserver's watch cache does; the difference in peak memory is what paged lists buffer.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bench import kdnsserver
from bench.cluster import Cluster, ClusterSpec

MODES = {"list+watch": "old-etcd", "watch-list": "yes"}
CLIENTS = 10


@dataclass(frozen=True)
class WatchListRun:
    mode: str  # list+watch or watch-list
    sync_seconds: float  # one kdns process: start -> answering
    concurrent_seconds: float  # CLIENTS syncs at once: start -> all synced
    peak_bytes: int  # the fake API's RSS high-water mark above its RSS before the syncs


def _status(field: str) -> int:
    """A VmRSS / VmHWM field of this process's /proc status, in bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _settle() -> int:
    """Give freed memory back to the system and restart the RSS high-water mark from here; the RSS
    now. Without this, the syncs' buffers reuse heap that earlier garbage left free and the peak
    reads nothing."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    # 5: reset the peak RSS (VmHWM) to the current RSS (Linux 4.0+).
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")
    return _status("VmRSS")


def _serve(spec: ClusterSpec, mode: str, conn: Connection) -> None:
    """The child (a fresh interpreter, not a fork of the bench, whose heap would hide the fake's
    growth): a FakeApi holding the cluster's objects; answers `start` with its RSS then and `peak`
    with its RSS high-water mark since."""
    if kdnsserver.REPO not in sys.path:
        sys.path.insert(0, kdnsserver.REPO)
    from tests.fakeapi import FakeApi

    # Streams the clients close at the end are not worth a traceback each.
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)

    async def main() -> None:
        api = FakeApi(objects=list(Cluster(spec).api_objects()), watch_list=mode)
        await api.start()
        conn.send(api.url)
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "start":
                conn.send(_settle())
            elif command == "peak":
                conn.send(_status("VmHWM"))
            else:
                await api.stop()
                return

    asyncio.run(main())


class _Counts:
    """The watch.Index of a client that only counts: its own memory stays out of the way."""

    def __init__(self, kinds: tuple[str, ...]) -> None:
        self.kinds = kinds
        self.synced: set[str] = set()

    def replace(self, kind: str, objects: Any) -> set[Any]:
        return set()

    def apply(self, kind: str, event: str, obj: dict[str, Any]) -> set[Any]:
        return set()

    def mark_synced(self, kind: str) -> None:
        self.synced.add(kind)


async def _concurrent_syncs(url: str, clients: int) -> float:
    from kdns.plugins.kubernetes.apisource import ApiSource
    from kdns.plugins.kubernetes.config import Config

    kinds = ("Namespace", "Service", "EndpointSlice")
    # Each client says once per kind that the old-etcd server has no streaming list.
    logging.getLogger("kdns.plugins.kubernetes.watch").setLevel(logging.ERROR)
    sources = [ApiSource(Config(endpoint=url), _Counts(kinds)) for _ in range(clients)]
    started = time.perf_counter()
    try:
        for source in sources:
            await source.start()
        for source in sources:
            if not await source.wait_synced(300):
                raise RuntimeError("a client did not sync within 300 s")
        return time.perf_counter() - started
    finally:
        for source in sources:
            await source.stop()


def compare(directory: str, cluster: Cluster, upstream: int, clients: int = CLIENTS) -> list[WatchListRun]:
    """Both modes against the same cluster; this process runs the clients."""
    if kdnsserver.REPO not in sys.path:
        sys.path.insert(0, kdnsserver.REPO)
    context = multiprocessing.get_context("spawn")
    runs = []
    for name, mode in MODES.items():
        parent, child = context.Pipe()
        fake = context.Process(target=_serve, args=(cluster.spec, mode, child), daemon=True)
        fake.start()
        try:
            url = parent.recv()
            # The concurrent syncs first, on a fake that has served nothing yet.
            parent.send("start")
            before = parent.recv()
            seconds = asyncio.run(_concurrent_syncs(url, clients))
            parent.send("peak")
            peak = parent.recv()
            ports = kdnsserver.Ports.pick()
            corefile = kdnsserver.cluster_corefile(ports, upstream, endpoint=url)
            server = kdnsserver.start(os.path.join(directory, "run"), corefile, ports, tag=f"kdns-{name}")
            try:
                assert server.serving_seconds is not None
                sync = server.serving_seconds
            finally:
                server.stop()
            runs.append(WatchListRun(name, sync, seconds, peak - before))
        finally:
            parent.send("stop")
            fake.join(10)
    return runs
