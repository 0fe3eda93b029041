"""Stand-ins for the watch loop's collaborators: a scripted transport and a recording index.

ReplayTransport plays recorded bodies and event streams (recordings/) to a Watcher exactly as they
were recorded, without HTTP; RecordingIndex records every call the watch loop makes and keeps the
resulting state (key "namespace/name" -> raw object) for comparisons.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncGenerator, Iterable, Mapping
from pathlib import Path
from typing import Any

from kdns.plugins.kubernetes.watch import ApiStatusError

from tests.fakeapi.server import RECORDINGS


def recorded(path: str) -> Path:
    return RECORDINGS / path


def read_json(path: str) -> Any:
    return json.loads(recorded(path).read_text(encoding="utf-8"))


def read_events(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in recorded(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def key_of(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def strip(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An object as a list item: without kind/apiVersion."""
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


class RecordingIndex:
    """The ClusterIndex contract (replace/apply/mark_synced/kinds), recording every call."""

    def __init__(self, kinds: Iterable[str] = ("Namespace", "Service", "EndpointSlice")) -> None:
        self.kinds = tuple(kinds)
        self.state: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in self.kinds}
        self.calls: list[tuple[Any, ...]] = []
        self.synced: set[str] = set()
        self.reject: set[str] = set()  # names whose apply raises ValueError (malformed)
        self.changed = asyncio.Event()

    def replace(self, kind: str, objects: list[dict[str, Any]]) -> set[str]:
        self.calls.append(("replace", kind, [key_of(o) for o in objects]))
        old = self.state[kind]
        self.state[kind] = {key_of(o): strip(copy.deepcopy(o)) for o in objects}
        self.changed.set()
        return set(old) | set(self.state[kind])

    def apply(self, kind: str, event: str, obj: dict[str, Any]) -> set[str]:
        if obj["metadata"].get("name") in self.reject:
            raise ValueError("malformed object")
        key = key_of(obj)
        self.calls.append(("apply", kind, event, key, obj["metadata"].get("resourceVersion")))
        if event == "DELETED":
            self.state[kind].pop(key, None)
        else:
            self.state[kind][key] = strip(copy.deepcopy(obj))
        self.changed.set()
        return {key}

    def mark_synced(self, kind: str) -> None:
        self.calls.append(("mark_synced", kind))
        self.synced.add(kind)

    def applied(self, kind: str | None = None) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == "apply" and (kind is None or c[1] == kind)]

    def replaces(self, kind: str | None = None) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == "replace" and (kind is None or c[1] == kind)]


class ReplayTransport:
    """watch.Transport that answers from scripts instead of HTTP.

    lists: path -> list of answers, one per call (a body dict, or an exception to raise);
    streams: path -> list of scripts, one per watch call; a script is a list of events (dicts)
    optionally ending with an exception (the stream breaks) instead of a clean end; a script may
    also be an exception alone (the request fails). With no script left a watch blocks until
    cancelled, like a quiet server. Every call is recorded in `calls` as (verb, path, params).
    """

    def __init__(
        self,
        lists: Mapping[str, list[Any]] | None = None,
        streams: Mapping[str, list[Any]] | None = None,
    ) -> None:
        self.lists = {k: list(v) for k, v in (lists or {}).items()}
        self.streams = {k: list(v) for k, v in (streams or {}).items()}
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.idle = asyncio.Event()  # set when a watch found no script left

    async def get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        self.calls.append(("list", path, dict(params)))
        answers = self.lists.get(path) or []
        if not answers:
            raise ApiStatusError(500, {"message": f"replay: no list answer left for {path}"})
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return copy.deepcopy(answer)

    async def stream(
        self, path: str, params: Mapping[str, str], idle_timeout: float
    ) -> AsyncGenerator[dict[str, Any], None]:
        self.calls.append(("watch", path, dict(params)))
        scripts = self.streams.get(path) or []
        if not scripts:
            self.idle.set()
            await asyncio.Event().wait()
            return
        script = scripts.pop(0)
        if isinstance(script, BaseException):
            raise script
        for item in script:
            if isinstance(item, BaseException):
                raise item
            await asyncio.sleep(0)
            yield copy.deepcopy(item)

    def watches(self, path: str | None = None) -> list[dict[str, str]]:
        return [p for verb, pth, p in self.calls if verb == "watch" and (path is None or pth == path)]

    def list_calls(self, path: str | None = None) -> list[dict[str, str]]:
        return [p for verb, pth, p in self.calls if verb == "list" and (path is None or pth == path)]
