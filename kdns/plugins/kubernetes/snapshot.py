"""Warm restart (kdns extension): the index kept in a local file, served when the API is down at start.

`snapshot FILE [MAX_AGE]` in the kubernetes block. While the index is in sync with the API, its
slim objects are written to FILE as they change: gzip-compressed JSON, at most once every
`snapshot_interval` (settings.py; MAX_AGE/4 when that is shorter) and at least every MAX_AGE/2 (so
a quiet cluster's file stays young), to a temporary file then renamed, so a reader sees the old file or the new one, never half
of one. The encoding is the slim objects' fields in order; gzip's CRC and length tell a truncated
or damaged file from a whole one.

At start, if the API cannot be listed within `startup_timeout`, a snapshot younger than MAX_AGE
that was written for the same API and kinds is loaded into the index for the kinds not listed yet,
and the handler answers from it as it would from the last-known state during an API outage. Each
list that arrives replaces its kind, exactly as a relist does. Any other file is ignored, with one
log line naming why (missing, truncated, corrupt, foreign, too old).

Pods watched only for autopath (index.PodNamespaces: address -> namespace) are not kept: until
they are listed, autopath answers as without a pod of that address (the plain search path).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import json
import logging
import math
import os
import time
import zlib
from collections.abc import Callable
from typing import Any

from kdns.errors import KdnsError
from kdns.plugins.kubernetes.config import Config
from kdns.plugins.kubernetes.index import ClusterIndex, Slim
from kdns.plugins.kubernetes.objects import Endpoint, EndpointSlice, Namespace, Pod, Port, Service

log = logging.getLogger(__name__)

FORMAT = "kdns-index-snapshot"
VERSION = 1
CLASSES: dict[str, type] = {cls.__name__: cls for cls in (Port, Namespace, Service, Endpoint, EndpointSlice, Pod)}
# The field names of every slim class: a snapshot written by a kdns whose objects differ is foreign.
SCHEMA = {name: [f.name for f in dataclasses.fields(cls)] for name, cls in CLASSES.items()}
# What the index stores per kind (a running pod with one address as that address: index.compact();
# a ServiceImport as the Service it stands for: objects.service_import_from).
STORED: dict[str, tuple[type, ...]] = {
    "Namespace": (Namespace,), "Service": (Service,), "EndpointSlice": (EndpointSlice,),
    "Endpoints": (EndpointSlice,), "Pod": (Pod, str), "ServiceImport": (Service,),
}


class SnapshotError(KdnsError):
    """Why a snapshot file cannot be used."""


def kept_kinds(index: ClusterIndex) -> tuple[str, ...]:
    """The kinds the index stores as slim objects (not autopath's PodNamespaces)."""
    return tuple(kind for kind in index.kinds if isinstance(index.slim(kind), Slim))


def identity(config: Config) -> str:
    """Which API the index came from: a snapshot of another cluster must not be served."""
    if config.endpoint:
        return f"endpoint {config.endpoint}"
    if config.kubeconfig:
        return f"kubeconfig {config.kubeconfig} {config.kubeconfig_context}".rstrip()
    return "in-cluster"


def _encode_object(obj: Any) -> Any:
    name = type(obj).__name__
    if name not in CLASSES:
        raise TypeError(f"{name} is not a slim object")
    return {name: [getattr(obj, f) for f in SCHEMA[name]]}


def _decoded(value: Any) -> Any:
    """JSON lists as tuples, {"Class": [fields...]} as the slim object (TypeError on a mismatch)."""
    if type(value) is list:
        return tuple(_decoded(v) for v in value)
    if type(value) is dict and len(value) == 1:
        ((name, values),) = value.items()
        cls = CLASSES.get(name)
        if cls is not None and type(values) is list:
            return cls(*(_decoded(v) for v in values))
    return value


def encode(state: dict[str, list[tuple[tuple[str, str], Any]]], source: str, written: float) -> bytes:
    """The file's bytes for state: kind -> [(key, stored slim object), ...]."""
    document = {
        "format": FORMAT, "version": VERSION, "schema": SCHEMA, "source": source, "written": written,
        "kinds": {kind: [[key[0], key[1], obj] for key, obj in items] for kind, items in state.items()},
    }
    text = json.dumps(document, default=_encode_object, separators=(",", ":"))
    return gzip.compress(text.encode(), compresslevel=1, mtime=0)


def decode(
    data: bytes, source: str, kinds: tuple[str, ...], max_age: float, now: float
) -> tuple[float, dict[str, Slim]]:
    """(written, a Slim batch per kind) from a file's bytes; SnapshotError naming why not."""
    try:
        text = gzip.decompress(data)
    except EOFError:
        raise SnapshotError("truncated") from None
    except (OSError, zlib.error) as e:
        raise SnapshotError(f"corrupt ({e})") from None
    try:
        document = json.loads(text)
    except ValueError as e:
        raise SnapshotError(f"corrupt (not JSON: {e})") from None
    except RecursionError:
        raise SnapshotError("corrupt (nested too deeply)") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SnapshotError("foreign (not a kdns index snapshot)")
    if document.get("version") != VERSION or document.get("schema") != SCHEMA:
        raise SnapshotError("foreign (written by a kdns with other index objects)")
    if document.get("source") != source:
        raise SnapshotError(f"foreign (written for {document.get('source')}, this server watches {source})")
    stored = document.get("kinds")
    if not isinstance(stored, dict):
        raise SnapshotError("corrupt (no kinds)")
    if sorted(stored) != sorted(kinds):
        held, watched = ", ".join(sorted(stored)), ", ".join(sorted(kinds))
        raise SnapshotError(f"foreign (holds {held}; this server watches {watched})")
    written = document.get("written")
    if not isinstance(written, (int, float)) or not math.isfinite(written):
        raise SnapshotError("corrupt (no time of writing)")
    age = now - written
    if age > max_age:
        raise SnapshotError(f"too old (written {_span(age)} ago, MAX_AGE {_span(max_age)})")
    batches = {}
    for kind in kinds:
        batch = Slim(kind)
        want = STORED.get(kind, ())
        try:
            batch.objects = {(ns, name): _decoded(obj) for ns, name, obj in stored[kind]}
        except (TypeError, ValueError, RecursionError):
            raise SnapshotError(f"corrupt ({kind} entries)") from None
        if not all(
            type(ns) is str and type(name) is str and isinstance(obj, want)
            for (ns, name), obj in batch.objects.items()
        ):
            raise SnapshotError(f"corrupt ({kind} entries)")
        batches[kind] = batch
    return written, batches


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Snapshots:
    """The snapshot file of one kubernetes block: restore() at start, then written as the index changes."""

    def __init__(
        self, path: str, max_age: float, index: ClusterIndex, source: str, interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_age = max_age
        self.index = index
        self.source = source
        # The pause between writes; the file is at most this plus MAX_AGE/2 old while kdns runs,
        # which stays under MAX_AGE even when MAX_AGE is short next to snapshot_interval.
        self.interval = min(interval, max_age / 4)
        self.clock = clock
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failed = ""  # the last write error logged, so a full disk is not logged every time
        # Written once synced even if nothing changes after this: the sync itself came before.
        self._dirty.set()
        index.subscribe(lambda _tags: self._dirty.set())

    def restore(self) -> bool:
        """Load the file into the index for every kind not listed yet; False (one log line) if unusable."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
            written, batches = decode(data, self.source, kept_kinds(self.index), self.max_age, self.clock())
        except FileNotFoundError:
            log.info("snapshot %s: none yet, nothing to serve until the API is listed", self.path)
            return False
        except OSError as e:
            log.warning("snapshot %s ignored: unreadable (%s)", self.path, e)
            return False
        except SnapshotError as e:
            log.warning("snapshot %s ignored: %s", self.path, e)
            return False
        restored = [kind for kind in batches if not self.index.listed(kind)]
        for kind in restored:
            self.index.replace(kind, batches[kind])
        log.warning(
            "kubernetes API not listed: serving the snapshot %s written %s ago (%s) until it is",
            self.path, _span(self.clock() - written), ", ".join(f"{len(batches[k])} {k}" for k in restored),
        )
        return True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._dirty.is_set() and self.index.synced:
            await self.write()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), timeout=self.max_age / 2)
            # Only the API's own state is written: never a mix with an older snapshot.
            while not self.index.synced:
                await asyncio.sleep(self.interval)
            self._dirty.clear()
            await self.write()
            await asyncio.sleep(self.interval)

    async def write(self) -> None:
        # The objects are immutable: the lists taken here stay consistent while a thread encodes them.
        state = {kind: list(self.index.stored(kind).items()) for kind in kept_kinds(self.index)}
        try:
            await asyncio.to_thread(self._write, state, self.clock())
        except OSError as e:
            if str(e) != self._failed:
                log.warning("snapshot %s not written: %s", self.path, e)
            self._failed = str(e)
        except Exception:  # a bug must not end the writing (nor the server): logged, tried again
            log.exception("snapshot %s not written", self.path)
        else:
            self._failed = ""

    def _write(self, state: dict[str, list[tuple[tuple[str, str], Any]]], now: float) -> None:
        data = encode(state, self.source, now)
        tmp = f"{self.path}.tmp{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
