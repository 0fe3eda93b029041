"""The `manifests` source (kdns extension): the cluster's objects read from YAML or JSON files.

Files and directories (read recursively: *.yaml, *.yml, *.json), multi-document YAML, `kind: List`
(and `ServiceList` etc.) with `items`. Kinds used: Namespace, Service, EndpointSlice, Endpoints,
Pod; other kinds (Deployment, ConfigMap...) are skipped. Files are polled for changes (mtime, size,
the set of files) and every kind is replaced atomically from the new contents; a file that fails
to parse is logged and the previous state is kept whole.

What a person writes may be shorter than what the API returns:
- an object without metadata.namespace is in `default`, as kubectl puts it;
- a namespace used by any object exists even when no Namespace object lists it;
- a Service may give only `clusterIP` (no `clusterIPs`), an EndpointSlice may leave out
  `addressType` (taken from its addresses) but needs the `kubernetes.io/service-name` label.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import yaml

from kdns.plugins.kubernetes.index import ClusterIndex, Slim, gc_paused

log = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml", ".json")
KNOWN = ("Namespace", "Service", "EndpointSlice", "Endpoints", "Pod")
# libyaml's loader when PyYAML was built with it: the same documents, several times faster.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestError(Exception):
    pass


def manifest_files(paths: Sequence[str]) -> list[str]:
    """Every manifest file under paths, in a stable order; a missing path is an error."""
    out: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out.extend(
                    os.path.join(root, f)
                    for f in sorted(files)
                    if f.endswith(SUFFIXES) and not f.startswith(".")
                )
        elif os.path.isfile(path):
            out.append(path)
        else:
            raise ManifestError(f"{path}: no such file or directory")
    return out


def _documents(path: str) -> Iterator[Any]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        yield json.loads(text)
    else:
        yield from yaml.load_all(text, Loader=_LOADER)


def _flatten(doc: Any, path: str) -> Iterator[dict[str, Any]]:
    if doc is None:
        return
    if not isinstance(doc, dict):
        raise ManifestError(f"{path}: a document is not an object")
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and "items" in doc:
        item_kind = kind[: -len("List")]
        for item in doc.get("items") or []:
            if isinstance(item, dict) and "kind" not in item and item_kind:
                # API list items carry no kind (k8s-api FIELDS.md surprise 6).
                item = {**item, "kind": item_kind}
            yield from _flatten(item, path)
        return
    yield doc


def _file_objects(path: str) -> list[tuple[str, tuple[str, str], dict[str, Any]]]:
    """(kind, (namespace, name), object) of the kinds DNS uses in one file; ManifestError."""
    try:
        docs = list(_documents(path))
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise ManifestError(f"{path}: {e}") from None
    out = []
    for doc in docs:
        for obj in _flatten(doc, path):
            kind = obj.get("kind")
            if kind not in KNOWN:
                continue
            meta = obj.get("metadata")
            if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
                raise ManifestError(f"{path}: a {kind} without metadata.name")
            if kind != "Namespace" and not meta.get("namespace"):
                obj = {**obj, "metadata": {**meta, "namespace": "default"}}
                meta = obj["metadata"]
            out.append((kind, (str(meta.get("namespace", "")), meta["name"]), obj))
    return out


def _implied_namespace(ns: str) -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": {"name": ns}}


def load(paths: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Objects of the kinds DNS uses, by kind; ManifestError naming the file on any problem."""
    by_kind: dict[str, dict[tuple[str, str], dict[str, Any]]] = {k: {} for k in KNOWN}
    for path in manifest_files(paths):
        for kind, key, obj in _file_objects(path):
            if key in by_kind[kind]:
                log.warning("%s: %s %s/%s given twice; the last one counts", path, kind, *key)
            by_kind[kind][key] = obj
    namespaces = by_kind["Namespace"]
    listed = {name for _, name in namespaces}
    for kind in KNOWN[1:]:
        for ns, _ in by_kind[kind]:
            if ns not in listed:
                listed.add(ns)
                namespaces[("", ns)] = _implied_namespace(ns)
    return {kind: list(objs.values()) for kind, objs in by_kind.items()}


def load_slim(paths: Sequence[str], kinds: Sequence[str]) -> dict[str, Slim]:
    """load() for the index: the objects of kinds, converted file by file (ManifestError as load).

    Only one file's raw objects exist at a time, so reading a large cluster does not first build
    all of it as dicts (the peak would stay in the process's RSS).
    """
    batches = {kind: Slim(kind) for kind in KNOWN}
    listed: set[str] = set()
    used: set[str] = set()
    for path in manifest_files(paths):
        for kind, key, obj in _file_objects(path):
            if kind == "Namespace":
                listed.add(key[1])
            else:
                used.add(key[0])
            if kind in kinds and batches[kind].add((obj,)):
                log.warning("%s: %s %s/%s given twice; the last one counts", path, kind, *key)
    batches["Namespace"].add(_implied_namespace(ns) for ns in sorted(used - listed))
    return {kind: batches[kind] for kind in kinds}


class ManifestSource:
    def __init__(self, paths: Sequence[str], index: ClusterIndex, interval: float = 1.0) -> None:
        self.paths = tuple(paths)
        self.index = index
        self.interval = interval
        self._signature: tuple[Any, ...] | None = None
        self._task: asyncio.Task[None] | None = None

    def signature(self) -> tuple[Any, ...]:
        """What changes when a file is added, removed or written."""
        out: list[Any] = []
        try:
            files = manifest_files(self.paths)
        except ManifestError as e:
            return (str(e),)
        for path in files:
            try:
                st = os.stat(path)
            except OSError:
                out.append((path, None))
                continue
            out.append((path, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def reload(self) -> bool:
        """Read every file and replace the index's kinds; False (state kept) when one is broken."""
        self._signature = self.signature()
        with gc_paused():
            try:
                batches = load_slim(self.paths, self.index.kinds)
            except ManifestError as e:
                log.error("manifests not loaded, keeping the previous state: %s", e)
                return False
            for kind in self.index.kinds:
                self.index.replace(kind, batches.get(kind) or [])
                self.index.mark_synced(kind)
        return True

    async def start(self) -> None:
        self.reload()
        self._task = asyncio.create_task(self._poll(), name="kubernetes-manifests")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.signature() != self._signature:
                self.reload()
