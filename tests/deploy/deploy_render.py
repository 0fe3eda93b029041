"""A small kustomize for the tests: renders deploy/ and its overlays without a kustomize binary.

It understands exactly what deploy/ uses (resources: files and directories; patches: JSON 6902 with
a target) and refuses anything else, so a kustomization that outgrows it fails loudly instead of
rendering differently from `kubectl apply -k`. test_manifests.py checks it against `kubectl
kustomize` where kubectl is installed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUSTOMIZATIONS = {
    "base": DEPLOY,
    "legacy-endpoints": DEPLOY / "overlays" / "legacy-endpoints",
    "nodelocal": DEPLOY / "overlays" / "nodelocal",
    "autoscale": DEPLOY / "overlays" / "autoscale",
}
_FIELDS = {"apiVersion", "kind", "resources", "patches"}
_TARGET_FIELDS = {"group", "version", "kind", "name", "namespace"}

Obj = dict[str, Any]


class RenderError(Exception):
    pass


def load_kustomization(directory: Path) -> Obj:
    data = yaml.safe_load((directory / "kustomization.yaml").read_text())
    if data.get("kind") != "Kustomization":
        raise RenderError(f"{directory}: not a Kustomization")
    extra = set(data) - _FIELDS
    if extra:
        raise RenderError(f"{directory}: fields this renderer does not implement: {sorted(extra)}")
    return data


def build(directory: Path) -> list[Obj]:
    """The objects `kubectl kustomize directory` would print (order aside)."""
    kustomization = load_kustomization(directory)
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            objects.extend(build(path))
        elif path.is_file():
            objects.extend(load_objects(path))
        else:
            raise RenderError(f"{directory}: resource {entry} does not exist")
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path", "target"} or not set(patch["target"]) <= _TARGET_FIELDS:
            raise RenderError(f"{directory}: only JSON 6902 patches with a path and a target: {patch}")
        targets = [o for o in objects if _matches(o, patch["target"])]
        if len(targets) != 1:
            raise RenderError(f"{directory}: patch target {patch['target']} matches {len(targets)} objects")
        operations = yaml.safe_load((directory / patch["path"]).read_text())
        apply_json6902(targets[0], operations)
    seen: set[tuple[str, ...]] = set()
    for obj in objects:
        if identity(obj) in seen:
            raise RenderError(f"{directory}: {identity(obj)} defined twice")
        seen.add(identity(obj))
    return objects


def load_objects(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def identity(obj: Obj) -> tuple[str, str, str, str]:
    meta = obj.get("metadata", {})
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def _matches(obj: Obj, target: Obj) -> bool:
    group, _, version = obj["apiVersion"].rpartition("/")
    meta = obj["metadata"]
    wanted = {
        "group": group,
        "version": version,
        "kind": obj["kind"],
        "name": meta["name"],
        "namespace": meta.get("namespace", ""),
    }
    return all(wanted[k] == v for k, v in target.items())


def apply_json6902(obj: Obj, operations: list[Obj]) -> None:
    """RFC 6902 add, remove and replace (all deploy/ uses), in place."""
    for op in operations:
        *parents, last = _pointer(op["path"])
        node: Any = obj
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        kind = op["op"]
        if isinstance(node, list):
            if kind == "add":
                value = copy.deepcopy(op["value"])
                node.append(value) if last == "-" else node.insert(int(last), value)
            elif kind == "remove":
                del node[int(last)]
            elif kind == "replace":
                node[int(last)] = copy.deepcopy(op["value"])
            else:
                raise RenderError(f"unsupported JSON 6902 op {kind}")
        else:
            if kind in ("remove", "replace") and last not in node:
                raise RenderError(f"JSON 6902 {kind}: {op['path']} does not exist")
            if kind in ("add", "replace"):
                node[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del node[last]
            else:
                raise RenderError(f"unsupported JSON 6902 op {kind}")


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise RenderError(f"not a JSON pointer: {path}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    hits = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(hits) != 1:
        raise LookupError(f"{kind}/{name}: {len(hits)} objects")
    return hits[0]
