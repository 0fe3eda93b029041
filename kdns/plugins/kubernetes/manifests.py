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

import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

from kdns.errors import KdnsError
from kdns.plugins.kubernetes.index import ClusterIndex, PodNamespaces, Slim, gc_paused
from kdns.plugins.kubernetes.objects import is_subdomain
from kdns.server.poller import Poller, file_stamp

log = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml", ".json")
KNOWN = ("Namespace", "Service", "EndpointSlice", "Endpoints", "Pod", "ServiceImport")


@cache
def _yaml_loader() -> Any:
    """libyaml's parser when PyYAML was built with it (several times faster), PyYAML's composer.

    CSafeLoader builds the node tree in C, recursing once per nesting level without any depth
    check: a document nested ~30k deep (`[[[[...`) overflows the C stack and the process dies of
    SIGSEGV. The Python composer over the same (iterative) parser raises RecursionError instead,
    and costs under a tenth more.

    Made on the first YAML file: manifests written as JSON never import PyYAML (start-up).
    """
    import yaml
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.resolver import Resolver

    try:
        from yaml._yaml import CParser
    except ImportError:
        return yaml.SafeLoader

    class Loader(Composer, CParser, SafeConstructor, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    return Loader


class ManifestError(KdnsError):
    """A manifest file that cannot be read as Kubernetes objects; the message names the file."""


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


def _documents(path: str) -> list[Any]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        return [json.loads(text)]
    import yaml

    loader = _yaml_loader()
    try:
        try:
            return list(yaml.load_all(text, Loader=loader))
        except yaml.YAMLError:
            if loader is yaml.SafeLoader:
                raise
            # libyaml refuses some YAML that PyYAML's own parser reads: from PyYAML 6.0.4 on (the
            # libyaml its wheels carry), collections nested past 1,000 levels, with an error of its
            # own where 6.0.3 reached the composer's RecursionError. PyYAML's parser is the
            # reference: it reads the document, or raises its own error, RecursionError for that
            # nesting as before.
            return list(yaml.load_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise ValueError(str(e)) from None  # as json's errors: the caller names the file


def _flatten(doc: Any, path: str) -> Iterator[dict[str, Any]]:
    """The objects of a document, the items of (nested) `kind: List`s in order."""
    pending = [doc]  # a stack, not recursion: Lists may nest as deep as the file does
    # A YAML alias can put a List inside itself (no end) or many times over (exponential); the
    # API never writes aliases, so a List met twice is an error.
    expanded: set[int] = set()
    while pending:
        doc = pending.pop()
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ManifestError(f"{path}: a document is not an object")
        kind = doc.get("kind")
        if not (isinstance(kind, str) and kind.endswith("List") and "items" in doc):
            yield doc
            continue
        if id(doc) in expanded:
            raise ManifestError(f"{path}: a {kind} appears more than once (a YAML alias)")
        expanded.add(id(doc))
        items = doc.get("items") or []
        if not isinstance(items, list):
            raise ManifestError(f"{path}: the items of a {kind} are not a list")
        item_kind = kind[: -len("List")]
        pending.extend(_with_kind(item, item_kind) for item in reversed(items))


def _with_kind(item: Any, kind: str) -> Any:
    """An item of a List as an object: API list items carry no kind (k8s-api FIELDS.md surprise 6)."""
    if isinstance(item, dict) and "kind" not in item and kind:
        return {**item, "kind": kind}
    return item


def _file_objects(path: str) -> list[tuple[str, tuple[str, str], dict[str, Any]]]:
    """(kind, (namespace, name), object) of the kinds DNS uses in one file; ManifestError."""
    try:
        docs = _documents(path)
    except (OSError, ValueError) as e:
        raise ManifestError(f"{path}: {e}") from None
    except RecursionError:
        raise ManifestError(f"{path}: nested too deeply to be a manifest") from None
    out = []
    for doc in docs:
        for obj in _flatten(doc, path):
            kind = obj.get("kind")
            if kind not in KNOWN:
                continue
            meta = obj.get("metadata")
            if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
                raise ManifestError(f"{path}: a {kind} without metadata.name")
            namespace = "" if kind == "Namespace" else meta.get("namespace") or "default"
            if not isinstance(namespace, str):
                # Skipped here, so that its namespace does not become an implied Namespace.
                log.warning("%s: skipping %s %s: metadata.namespace is not a string", path, kind, meta["name"])
                continue
            if namespace and not is_subdomain(namespace):
                # Skipped for the same reason, with this file named (objects.py would name neither).
                log.warning("%s: skipping %s %s: metadata.namespace %r is not a valid name", path, kind, meta["name"], namespace)
                continue
            if kind != "Namespace" and namespace != meta.get("namespace"):
                obj = {**obj, "metadata": {**meta, "namespace": namespace}}
            out.append((kind, (namespace, meta["name"]), obj))
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


def load_slim(
    paths: Sequence[str], kinds: Sequence[str], slim: Callable[[str], Slim | PodNamespaces] = Slim
) -> dict[str, Slim | PodNamespaces]:
    """load() for the index: the objects of kinds, converted file by file (ManifestError as load).

    Only one file's raw objects exist at a time, so reading a large cluster does not first build
    all of it as dicts (the peak would stay in the process's RSS).
    """
    batches = {kind: slim(kind) for kind in KNOWN}
    listed: set[str] = set()
    used: set[str] = set()
    for path in manifest_files(paths):
        for kind, key, obj in _file_objects(path):
            if kind == "Namespace":
                listed.add(key[1])
            else:
                used.add(key[0])
            if kind in kinds and batches[kind].add((obj,), source=path):
                log.warning("%s: %s %s/%s given twice; the last one counts", path, kind, *key)
    batches["Namespace"].add(_implied_namespace(ns) for ns in sorted(used - listed))
    return {kind: batches[kind] for kind in kinds}


class ManifestSource:
    def __init__(self, paths: Sequence[str], index: ClusterIndex, interval: float = 1.0) -> None:
        self.paths = tuple(paths)
        self.index = index
        self._signature: tuple[Any, ...] | None = None
        self.poller = Poller(interval, self.refresh, f"manifests {' '.join(self.paths)}")

    def signature(self) -> tuple[Any, ...]:
        """What changes when a file is added, removed or written."""
        try:
            files = manifest_files(self.paths)
        except ManifestError as e:
            return (str(e),)
        return tuple((path, file_stamp(path)) for path in files)

    def reload(self) -> bool:
        """Read every file and replace the index's kinds; False (state kept) when one is broken."""
        self._signature = self.signature()
        with gc_paused():
            try:
                batches = load_slim(self.paths, self.index.kinds, self.index.slim)
            except ManifestError as e:
                log.error("manifests not loaded, keeping the previous state: %s", e)
                return False
            for kind in self.index.kinds:
                self.index.replace(kind, batches[kind])
                self.index.mark_synced(kind)
        return True

    def refresh(self) -> bool:
        """reload() when a file was added, removed or written since the last one; the poller's job."""
        if self.signature() == self._signature:
            return False
        return self.reload()

    async def start(self) -> None:
        self.reload()
        await self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()
