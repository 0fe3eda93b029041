"""A fake kube-apiserver for tests: the list/watch protocol as recorded from kube-apiserver v1.36.2.

The recordings (recordings/ beside this file, see its README.md) are the specification;
tests/plugins/kubernetes/test_fakeapi_recorded.py checks this server's bytes against them.
What it serves:

- Namespaces, Services, EndpointSlices (discovery.k8s.io/v1), Pods, Endpoints; one shared
  resourceVersion counter raised by every write of any kind.
- Lists: compact JSON + "\\n", items without kind/apiVersion ordered by the string "namespace/name",
  metadata.resourceVersion; limit/continue (base64url tokens shaped like the apiserver's),
  remainingItemCount; 400 for a garbage token, 410 Expired (with a fresh token) for an expired one;
  resourceVersion=0 ignores limit; namespaced paths; labelSelector (=, ==, !=, in, notin, exists, !).
  Bodies up to 2048 bytes go with Content-Length, larger ones chunked (Go's net/http does that).
  Bodies over 128 KiB are gzipped for a client that accepts gzip (APIResponseCompression, on by
  default since 1.16, with its threshold); watches never are.
  Like the watch cache, lists are quick at any size: items are encoded once when written, a page
  joins their bytes, and a continue page bisects its snapshot's keys (copy-on-write, see KindStore).
- Watches: chunked, one JSON event per line; ADDED/MODIFIED/DELETED with full objects (kind and
  apiVersion first); objects leaving/entering a label selector become DELETED/ADDED (watch cache
  semantics); BOOKMARK (allowWatchBookmarks) every bookmark_interval and once bookmark_before_end
  before timeoutSeconds, shaped per kind as recorded; a clean end at timeoutSeconds; RV 0/unset
  sends initial ADDED events (+ the initial-events-end bookmark with allowWatchBookmarks); a
  resourceVersion older than the history window is a 200 with one ERROR line (410 Expired).
- Streaming lists (watch-list, KEP-3157): sendInitialEvents=true needs
  resourceVersionMatch=NotOlderThan (else 422, as recorded) and sends the initial events and the
  initial-events-end bookmark, then changes. watch_list="old-etcd" answers such watches as an
  apiserver on an etcd without RequestWatchProgress does (a 200 with one ERROR line, code 500:
  errors/old-etcd-*); watch_list="unknown" is a server from before the parameters existed (they
  are ignored: initial ADDED events for resourceVersion 0/unset, but never the bookmark).
- Errors as Status objects (401, 403 naming verb/resource/scope, 404, 410, 422, 500, 504...);
  unknown paths and groups are a text/plain 404.

Python API (tests): `async with FakeApi() as api:` -> api.url; create/update/patch/delete/get/
objects; `ssl_context=` serves https; replay_event() keeps a recorded event's resourceVersion; faults: cut_streams(),
stall(seconds), expire_watches(count), compact(), expire_continue_tokens(), fail_next(status,
count, resource), set_auth_failure(status, resource); stop()/start() keep state and port.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import copy
import json
import re
import ssl
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiohttp import web

# Responses recorded from a real kube-apiserver (recordings/README.md): the fake's specification.
RECORDINGS = Path(__file__).resolve().parent / "recordings"


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    group: str
    version: str
    namespaced: bool
    # The empty object a BOOKMARK carries besides metadata, as recorded (Go zero values).
    bookmark_body: tuple[tuple[str, Any], ...]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def display(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("Namespace", "namespaces", "", "v1", False, (("spec", {}), ("status", {}))),
        Kind("Service", "services", "", "v1", True, (("spec", {}), ("status", {"loadBalancer": {}}))),
        Kind(
            "EndpointSlice",
            "endpointslices",
            "discovery.k8s.io",
            "v1",
            True,
            (("addressType", ""), ("endpoints", None), ("ports", None)),
        ),
        Kind("Pod", "pods", "", "v1", True, (("spec", {"containers": None}), ("status", {}))),
        # Endpoints.subsets is omitempty: its zero value is just metadata.
        Kind("Endpoints", "endpoints", "", "v1", True, ()),
        # A custom resource (the MCS API's CRD; not recorded): the apiserver's unstructured
        # bookmark of a CRD carries kind, apiVersion and metadata only.
        Kind("ServiceImport", "serviceimports", "multicluster.x-k8s.io", "v1alpha1", True, ()),
    )
}
GROUPS: dict[tuple[str, str], dict[str, Kind]] = {}
for _k in KINDS.values():
    GROUPS.setdefault((_k.group, _k.version), {})[_k.plural] = _k
# Groups the real server knows but the fake holds nothing of: unknown resources there are a
# JSON 404 (not the text 404 of unknown groups).
GROUPS.setdefault(("apps", "v1"), {})

ENDPOINTS_WARNING = '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"'
USER = "system:serviceaccount:kube-system:kdns"
# Go's net/http sends a body of at most this many bytes with Content-Length, more chunked.
CHUNKING_THRESHOLD = 2048
# kube-apiserver's defaultGzipThresholdBytes.
GZIP_THRESHOLD = 128 * 1024
TRUE_VALUES = ("1", "true", "True")


METADATA_ORDER = (
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)


def dumps(obj: Any) -> str:
    """Compact JSON as kube-apiserver writes it (byte-identical on the recordings)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def list_body(kind: Kind, meta: Mapping[str, Any], items: Iterable[bytes]) -> bytes:
    """A List's bytes from its items' encodings: what dumps() of the whole List (items last) plus
    "\\n" gives, without encoding the items again."""
    head = dumps({"kind": kind.list_kind, "apiVersion": kind.api_version, "metadata": meta})
    return b"".join((head[:-1].encode(), b',"items":[', b",".join(items), b"]}\n"))


def key_of(item: Mapping[str, Any]) -> str:
    meta = item["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def status_body(
    code: int, reason: str | None, message: str, details: dict[str, Any] | None = None, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": meta or {},
        "status": "Failure",
        "message": message,
    }
    if reason:
        body["reason"] = reason
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


# ------------------------------------------------------------------------------------------
# Label selectors (apimachinery labels.Parse, the subset clients use)

_SEL_SET = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_SEL_EQ = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_SEL_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def parse_selector(text: str) -> list[tuple[str, str, frozenset[str]]]:
    """[(key, op, values)]; ValueError when text is not a selector."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    out = []
    for part in parts:
        if not part.strip():
            continue
        if m := _SEL_SET.match(part):
            out.append((m[1], m[2], frozenset(v.strip() for v in m[3].split(","))))
        elif m := _SEL_EQ.match(part):
            out.append((m[1], "!=" if m[2] == "!=" else "=", frozenset([m[3]])))
        elif m := _SEL_EXISTS.match(part):
            out.append((m[2], "!" if m[1] else "exists", frozenset()))
        else:
            raise ValueError(f"unable to parse requirement: {part!r}")
    return out


Selector = list[tuple[str, str, frozenset[str]]]


def selector_matches(selector: Selector, item: Mapping[str, Any]) -> bool:
    labels = item.get("metadata", {}).get("labels") or {}
    for key, op, values in selector:
        has = key in labels
        if op in ("=", "in") and not (has and labels[key] in values):
            return False
        if op in ("!=", "notin") and has and labels[key] in values:
            return False
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
    return True


def in_scope(namespace: str | None, selector: Selector, item: Mapping[str, Any]) -> bool:
    """Whether a list or watch of `namespace` (None: every one) with `selector` includes item."""
    if namespace and item["metadata"].get("namespace") != namespace:
        return False
    return selector_matches(selector, item)


# ------------------------------------------------------------------------------------------
# State


class Entry:
    """A stored item and its compact JSON, encoded when written so that a list page only joins
    bytes (as the apiserver's watch cache serves lists without touching storage).

    Stored items are never mutated (a write stores a new item in a new Entry), so the encoding
    cannot go stale.
    """

    __slots__ = ("encoded", "item")

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.encoded = dumps(item).encode()


class View:
    """The items of one kind by key, with the keys in list order and, per (namespace, selector),
    the keys a list includes: built once, so that a continue page is a bisect and a slice."""

    def __init__(self, entries: dict[str, Entry], keys: list[str] | None = None) -> None:
        self.entries = entries
        self._keys = keys  # sorted, or None until a list needs them (loading stays linear)
        self._matching: dict[tuple[str | None, tuple[Any, ...]], list[str]] = {}

    @property
    def keys(self) -> list[str]:
        if self._keys is None:
            self._keys = sorted(self.entries)
        return self._keys

    def matching(self, namespace: str | None, selector: Selector) -> list[str]:
        """The keys of the items in scope, in list order."""
        if not namespace and not selector:
            return self.keys
        scope = (namespace, tuple(selector))
        if (keys := self._matching.get(scope)) is None:
            keys = [k for k in self.keys if in_scope(namespace, selector, self.entries[k].item)]
            self._matching[scope] = keys
        return keys

    def copy(self) -> View:
        return View(dict(self.entries), None if self._keys is None else list(self._keys))

    def put(self, key: str, item: dict[str, Any]) -> None:
        if key not in self.entries and self._keys is not None:
            bisect.insort(self._keys, key)
        self.entries[key] = Entry(item)
        self._matching.clear()

    def remove(self, key: str) -> None:
        if self.entries.pop(key, None) is not None and self._keys is not None:
            del self._keys[bisect.bisect_left(self._keys, key)]
        self._matching.clear()


class KindStore:
    """The live View of one kind. Snapshots (for continue tokens) share it until the next write,
    which copies it first: a snapshot costs nothing for the kinds nobody writes meanwhile."""

    def __init__(self, items: Iterable[dict[str, Any]] = ()) -> None:
        self.view = View({key_of(item): Entry(item) for item in items})
        self._shared = False

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self.view.entries.get(key)
        return entry.item if entry is not None else None

    def items(self) -> list[dict[str, Any]]:
        """The stored items in list order (not copies)."""
        return [self.view.entries[k].item for k in self.view.keys]

    def snapshot(self) -> View:
        self._shared = True
        return self.view

    def put(self, key: str, item: dict[str, Any]) -> None:
        self._writable().put(key, item)

    def remove(self, key: str) -> None:
        self._writable().remove(key)

    def _writable(self) -> View:
        if self._shared:
            self.view = self.view.copy()
            self._shared = False
        return self.view


@dataclass
class Change:
    rv: int
    kind: str
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]  # the item after the change (DELETED: last state, deletion RV)
    prev: dict[str, Any] | None  # the item before (MODIFIED, DELETED)


_CUT = object()


@dataclass(eq=False)
class Stream:
    kind: Kind
    namespace: str | None
    selector: Selector
    from_rv: int
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    cut: bool = False

    def matches(self, item: Mapping[str, Any] | None) -> bool:
        return item is not None and in_scope(self.namespace, self.selector, item)


@dataclass
class Fault:
    status: int
    count: int | None  # None: until cleared
    resource: str | None  # plural, or None for every resource


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeApi:
    """An in-process fake kube-apiserver on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        objects: Iterable[Mapping[str, Any]] | None = None,
        *,
        recorded: bool = False,
        token: str | None = None,
        bookmark_interval: float = 60.0,
        bookmark_before_end: float = 2.0,
        default_watch_timeout: float = 1800.0,
        host: str = "127.0.0.1",
        watch_list: str = "yes",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if watch_list not in ("yes", "old-etcd", "unknown"):
            raise ValueError(f"watch_list must be yes, old-etcd or unknown, not {watch_list!r}")
        self.watch_list = watch_list
        self.ssl_context = ssl_context
        self.host = host
        self.port = 0
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.bookmark_before_end = bookmark_before_end
        self.default_watch_timeout = default_watch_timeout
        self._stores: dict[str, KindStore] = {k: KindStore() for k in KINDS}
        self._rv = 0
        self._oldest_rv = 0
        self._history: list[Change] = []
        self._streams: set[Stream] = set()
        # Continue tokens resume in the state of their list's resourceVersion (kind -> View).
        self._snapshots: OrderedDict[int, dict[str, View]] = OrderedDict()
        self._faults: list[Fault] = []
        self._auth_failure: tuple[int, str | None] | None = None
        self._expire_watches = 0
        self._stalled_until = 0.0
        self._runner: web.AppRunner | None = None
        # What clients asked, for tests: (method, path, query string).
        self.requests: list[tuple[str, str, str]] = []
        self.request_headers: list[dict[str, str]] = []
        self.gzipped = 0  # responses sent gzipped
        if recorded:
            self.load_recorded()
        for obj in objects or ():
            self._create(obj)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    async def __aenter__(self) -> FakeApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen (again: on the same port after stop(), with the same state)."""
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, ssl_context=self.ssl_context)
        await site.start()
        server = getattr(site, "_server", None)
        if self.port == 0 and server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening and cut every open stream (state is kept for start())."""
        self.cut_streams()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- state --------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def load_recorded(self, directory: Path | None = None) -> None:
        """Load the recorded cluster state (lists/*.json at resourceVersion 338)."""
        lists = (directory or RECORDINGS) / "lists"
        self.load_lists(
            {kind: lists / f"{k.plural}.json" for kind, k in KINDS.items() if (lists / f"{k.plural}.json").exists()}
        )

    def load_lists(self, files: Mapping[str, Path]) -> None:
        """Replace the state of each kind by the items of a recorded list body (kind -> file).

        The shared resourceVersion becomes the highest list resourceVersion, and watches from
        before it get 410 (the fake has no history older than what it loaded).
        """
        for kind, path in files.items():
            body = json.loads(Path(path).read_text(encoding="utf-8"))
            self._stores[kind] = KindStore(body["items"])
            self._rv = max(self._rv, int(body["metadata"]["resourceVersion"]))
        self._history.clear()
        self._oldest_rv = self._rv

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Current items of a kind in list order (copies, without kind/apiVersion)."""
        return [copy.deepcopy(item) for item in self._stores[kind].items()]

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        item = self._stores[kind].get(f"{namespace}/{name}" if namespace else name)
        return copy.deepcopy(item) if item is not None else None

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Add an object (its `kind` says which); returns the stored item. ValueError if it exists."""
        return copy.deepcopy(self._create(obj))

    def _create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        kind, item = self._split(obj)
        meta = item["metadata"]
        if KINDS[kind].namespaced:
            meta.setdefault("namespace", "default")
        key = key_of(item)
        if self._stores[kind].get(key) is not None:
            raise ValueError(f"{kind} {key} already exists")
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        return self._write(kind, "ADDED", item, None)

    def update(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace an existing object with obj (uid and creationTimestamp kept)."""
        kind, item = self._split(obj)
        if KINDS[kind].namespaced:
            item["metadata"].setdefault("namespace", "default")
        key = key_of(item)
        old = self._stores[kind].get(key)
        if old is None:
            raise KeyError(f"{kind} {key} not found")
        for field_name in ("uid", "creationTimestamp"):
            if field_name in old["metadata"]:
                item["metadata"][field_name] = old["metadata"][field_name]
        return copy.deepcopy(self._write(kind, "MODIFIED", item, old))

    def patch(self, kind: str, name: str, patch: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """JSON merge patch (RFC 7386) of an existing object."""
        key = f"{namespace}/{name}" if namespace else name
        old = self._stores[kind].get(key)
        if old is None:
            raise KeyError(f"{kind} {key} not found")
        item = merge_patch(copy.deepcopy(old), dict(patch))
        item["metadata"]["name"] = name
        if namespace:
            item["metadata"]["namespace"] = namespace
        return copy.deepcopy(self._write(kind, "MODIFIED", item, old))

    def delete(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        key = f"{namespace}/{name}" if namespace else name
        old = self._stores[kind].get(key)
        if old is None:
            raise KeyError(f"{kind} {key} not found")
        return copy.deepcopy(self._write(kind, "DELETED", copy.deepcopy(old), old))

    def replay_event(self, event: Mapping[str, Any]) -> None:
        """Apply a recorded watch event keeping its object's resourceVersion (must be newer)."""
        kind, item = self._split(event["object"])
        rv = int(item["metadata"]["resourceVersion"])
        if rv <= self._rv:
            raise ValueError(f"resourceVersion {rv} is not newer than {self._rv}")
        old = self._stores[kind].get(key_of(item))
        self._write(kind, event["type"], item, old, rv=rv)

    def touch(self) -> int:
        """A write of a kind nobody watches: only raises the shared resourceVersion."""
        self._rv += 1
        return self._rv

    def _split(self, obj: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        kind = obj.get("kind")
        if kind not in KINDS:
            raise ValueError(f"the fake API does not hold kind {kind!r}")
        item = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("kind", "apiVersion")}
        if not isinstance(item.get("metadata"), dict) or not item["metadata"].get("name"):
            raise ValueError("object without metadata.name")
        # The apiserver writes metadata first, its fields in Go's struct order.
        meta = item.pop("metadata")
        ordered = {k: meta[k] for k in METADATA_ORDER if k in meta}
        ordered.update((k, v) for k, v in meta.items() if k not in ordered)
        return kind, {"metadata": ordered, **item}

    def _write(
        self, kind: str, etype: str, item: dict[str, Any], prev: dict[str, Any] | None, rv: int | None = None
    ) -> dict[str, Any]:
        self._rv = rv if rv is not None else self._rv + 1
        meta = item["metadata"]
        meta["resourceVersion"] = str(self._rv)
        item["metadata"] = {k: meta[k] for k in METADATA_ORDER if k in meta}
        item["metadata"].update((k, v) for k, v in meta.items() if k not in item["metadata"])
        key = key_of(item)
        if etype == "DELETED":
            self._stores[kind].remove(key)
        else:
            self._stores[kind].put(key, item)
        change = Change(self._rv, kind, etype, item, prev)
        self._history.append(change)
        for stream in list(self._streams):
            if stream.kind.kind == kind:
                stream.queue.put_nowait(change)
        # The stored item itself: callers hand out copies (loading the initial objects needs none).
        return item

    # -- faults -------------------------------------------------------------------------

    def cut_streams(self) -> int:
        """Break every open watch stream mid-way (no clean end); returns how many."""
        for stream in self._streams:
            stream.cut = True
            stream.queue.put_nowait(_CUT)
        return len(self._streams)

    def stall(self, seconds: float) -> None:
        """For `seconds`, send nothing: open streams hold their events, new requests wait."""
        self._stalled_until = time.monotonic() + seconds

    def expire_watches(self, count: int = 1) -> None:
        """The next `count` watches from a resourceVersion get the 410 ERROR event (too old)."""
        self._expire_watches += count

    def compact(self) -> None:
        """Forget the history: every watch from an older resourceVersion gets 410 from now on."""
        self._history.clear()
        self._oldest_rv = self._rv

    def expire_continue_tokens(self) -> None:
        """Every continue token issued so far is answered with HTTP 410 Expired."""
        self._snapshots.clear()

    def fail_next(self, status: int, count: int = 1, resource: str | None = None) -> None:
        """The next `count` requests (for `resource`, a plural, or any) get HTTP `status`."""
        self._faults.append(Fault(status, count, resource))

    def set_auth_failure(self, status: int | None, resource: str | None = None) -> None:
        """Answer 401 or 403 (for `resource`, a plural, or every one) until set to None."""
        self._auth_failure = (status, resource) if status else None

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    # -- HTTP ---------------------------------------------------------------------------

    def _json(self, status: int, body: Any, *, kind: Kind | None = None, chunked: bool | None = None) -> web.StreamResponse:
        return self._respond(status, (dumps(body) + "\n").encode(), kind=kind, chunked=chunked)

    def _respond(
        self, status: int, text: bytes, *, kind: Kind | None = None, chunked: bool | None = None
    ) -> web.StreamResponse:
        headers = {
            "Audit-Id": str(uuid.uuid4()),
            "Cache-Control": "no-cache, private",
            "Content-Type": "application/json",
        }
        if kind is not None and kind.kind == "Endpoints":
            headers["Warning"] = ENDPOINTS_WARNING
        if status == 403:
            headers["X-Content-Type-Options"] = "nosniff"
        if status in (429, 504):
            headers["Retry-After"] = "1"
        if chunked is None:
            chunked = len(text) > CHUNKING_THRESHOLD
        resp = web.Response(status=status, body=text, headers=headers)
        if chunked:
            resp.enable_chunked_encoding()
        return resp

    def _status(self, code: int, message: str, details: dict[str, Any] | None = None, reason: str | None = "") -> web.StreamResponse:
        return self._json(code, status_body(code, REASONS.get(code) if reason == "" else reason, message, details), chunked=False)

    def _text_404(self) -> web.StreamResponse:
        return web.Response(
            status=404,
            body=b"404 page not found\n",
            headers={
                "Audit-Id": str(uuid.uuid4()),
                "Cache-Control": "no-cache, private",
                "Content-Type": "text/plain; charset=utf-8",
                "X-Content-Type-Options": "nosniff",
            },
        )

    def _forbidden(self, kind: Kind, verb: str, namespace: str | None, user: str = USER) -> web.StreamResponse:
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        details: dict[str, Any] = {"group": kind.group} if kind.group else {}
        details["kind"] = kind.plural
        return self._status(
            403,
            f'{kind.display} is forbidden: User "{user}" cannot {verb} resource "{kind.plural}" '
            f'in API group "{kind.group}" {scope}',
            details,
        )

    def _injected(self, status: int, kind: Kind, verb: str, namespace: str | None) -> web.StreamResponse:
        if status == 401:
            return self._status(401, "Unauthorized")
        if status == 403:
            return self._forbidden(kind, verb, namespace)
        if status == 410:
            return self._status(410, "The resourceVersion for the provided list is too old.")
        if status == 504:
            return self._status(504, "Timeout: request did not complete within the allowed duration", {"retryAfterSeconds": 1})
        if status == 429:
            return self._status(429, "Too many requests, please try again later.", {"retryAfterSeconds": 1})
        if status == 500:
            return self._status(500, "Internal error occurred: injected fault", {"causes": [{"message": "injected fault"}]})
        return self._status(status, f"injected fault {status}")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        resp = await self._answer(request)
        if (
            isinstance(resp, web.Response) and not resp.prepared and resp.body is not None
            and len(resp.body) > GZIP_THRESHOLD and "gzip" in request.headers.get("Accept-Encoding", "")
        ):
            resp.enable_compression(web.ContentCoding.gzip)
            self.gzipped += 1
        return resp

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, request.query_string))
        self.request_headers.append(dict(request.headers))
        while (wait := self._stalled_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        parts = [p for p in request.path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
            group, rest = ("", "v1"), parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis" and (parts[1], parts[2]) in GROUPS:
            group, rest = (parts[1], parts[2]), parts[3:]
        else:
            return self._text_404()
        namespace = name = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, plural, name = rest[1], rest[2], (rest[3] if len(rest) == 4 else None)
            if len(rest) > 4:
                return self._text_404()
        elif len(rest) in (1, 2):
            plural, name = rest[0], (rest[1] if len(rest) == 2 else None)
        else:
            return self._text_404()
        kind = GROUPS[group].get(plural)
        if kind is None or (namespace and not kind.namespaced):
            return self._status(404, "the server could not find the requested resource", {})
        if request.method != "GET":
            return self._status(405, "the server does not allow this method on the requested resource")
        query = request.query
        watching = query.get("watch") in TRUE_VALUES
        verb = "get" if name else ("watch" if watching else "list")

        # Authentication, then authorization, then injected faults.
        auth = request.headers.get("Authorization")
        if self.token is not None:
            if auth is None:
                return self._forbidden(kind, verb, namespace, "system:anonymous")
            if auth != f"Bearer {self.token}":
                return self._status(401, "Unauthorized")
        if self._auth_failure is not None:
            status, resource = self._auth_failure
            if resource is None or resource == kind.plural:
                return self._injected(status, kind, verb, namespace)
        for fault in self._faults:
            if fault.resource is None or fault.resource == kind.plural:
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                return self._injected(fault.status, kind, verb, namespace)

        try:
            selector = parse_selector(query.get("labelSelector", ""))
        except ValueError as e:
            return self._status(400, f"unable to parse requirement: {e}")
        if name is not None:
            return self._get(kind, namespace, name)
        if watching:
            return await self._watch(request, kind, namespace, selector)
        return self._list(kind, namespace, selector, query)

    def _get(self, kind: Kind, namespace: str | None, name: str) -> web.StreamResponse:
        item = self._stores[kind.kind].get(f"{namespace}/{name}" if namespace else name)
        if item is None:
            details: dict[str, Any] = {"name": name}
            if kind.group:
                details["group"] = kind.group
            details["kind"] = kind.plural
            return self._status(404, f'{kind.display} "{name}" not found', details)
        return self._json(200, {"kind": kind.kind, "apiVersion": kind.api_version, **item}, kind=kind, chunked=False)

    # -- lists --------------------------------------------------------------------------

    def _list(self, kind: Kind, namespace: str | None, selector: list[Any], query: Mapping[str, str]) -> web.StreamResponse:
        rv_param = query.get("resourceVersion")
        if rv_param not in (None, "") and not rv_param.isdigit():
            return self._status(
                400,
                f'invalid resource version: resourceVersion: Invalid value: "{rv_param}": '
                f'strconv.ParseUint: parsing "{rv_param}": invalid syntax',
            )
        token = query.get("continue")
        limit_text = query.get("limit", "")
        limit = int(limit_text) if limit_text.isdigit() and int(limit_text) > 0 else 0
        start = ""
        list_rv = self._rv
        if token:
            decoded = _decode_token(token)
            if decoded is None:
                return self._status(400, "invalid continue token: continue key is not valid")
            token_rv, start = decoded
            if token_rv not in self._snapshots:
                fresh = _encode_token(-1, start)
                return self._json(
                    410,
                    status_body(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result. "
                        "You can start a new list without the continue parameter, or use the continue token "
                        "in this response to retrieve the remainder of the results. Continuing with the "
                        "provided token results in an inconsistent list - objects that were created, "
                        "modified, or deleted between the time the first chunk was returned and now may "
                        "show up in the list.",
                        meta={"continue": fresh},
                    ),
                    chunked=False,
                )
            list_rv = token_rv
            view = self._snapshots[token_rv][kind.kind]
        else:
            view = self._stores[kind.kind].view
            if rv_param == "0":
                # Served from the watch cache: limit is ignored (FIELDS.md surprise 7).
                limit = 0
        keys = view.matching(namespace, selector)
        first = bisect.bisect_left(keys, start)
        end = min(len(keys), first + limit) if limit else len(keys)
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if end < len(keys):
            if list_rv not in self._snapshots:
                self._snapshots[list_rv] = {k: store.snapshot() for k, store in self._stores.items()}
                while len(self._snapshots) > 32:
                    self._snapshots.popitem(last=False)
            meta["continue"] = _encode_token(list_rv, keys[end - 1] + "\x00")
            meta["remainingItemCount"] = len(keys) - end
        body = list_body(kind, meta, (view.entries[k].encoded for k in keys[first:end]))
        return self._respond(200, body, kind=kind)

    # -- watches ------------------------------------------------------------------------

    def _bookmark(self, kind: Kind, rv: int, initial_end: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj: dict[str, Any] = {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta}
        for k, v in kind.bookmark_body:
            obj[k] = copy.deepcopy(v)
        return {"type": "BOOKMARK", "object": obj}

    def _event(self, stream: Stream, change: Change) -> dict[str, Any] | None:
        """The event a stream sees for a change, or None (watch cache filtering semantics)."""
        if change.rv <= stream.from_rv:
            return None
        now_in = change.type != "DELETED" and stream.matches(change.obj)
        was_in = stream.matches(change.prev)
        if change.type == "DELETED":
            etype, obj = ("DELETED", change.obj) if stream.matches(change.obj) else (None, None)
        elif now_in and was_in:
            etype, obj = "MODIFIED", change.obj
        elif now_in:
            etype, obj = "ADDED", change.obj
        elif was_in and change.prev is not None:
            # Left the selector: the last matching state, with the change's resourceVersion.
            obj = copy.deepcopy(change.prev)
            obj["metadata"]["resourceVersion"] = str(change.rv)
            etype = "DELETED"
        else:
            return None
        if etype is None or obj is None:
            return None
        kind = stream.kind
        return {"type": etype, "object": {"kind": kind.kind, "apiVersion": kind.api_version, **obj}}

    async def _watch(self, request: web.Request, kind: Kind, namespace: str | None, selector: list[Any]) -> web.StreamResponse:
        query = request.query
        rv_param = query.get("resourceVersion", "")
        bookmarks = query.get("allowWatchBookmarks") in TRUE_VALUES
        if rv_param and not rv_param.isdigit():
            return self._status(
                500, f'resourceVersion: Invalid value: "{rv_param}": strconv.ParseUint: parsing "{rv_param}": invalid syntax', reason=None
            )
        send_initial = query.get("sendInitialEvents") if self.watch_list != "unknown" else None
        if send_initial is not None and query.get("resourceVersionMatch") != "NotOlderThan":
            return self._status(
                422,
                'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires '
                "setting resourceVersionMatch to NotOlderThan",
                {
                    "group": "meta.k8s.io",
                    "kind": "ListOptions",
                    "causes": [
                        {
                            "reason": "FieldValueForbidden",
                            "message": "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                            "field": "resourceVersionMatch",
                        }
                    ],
                },
            )
        try:
            timeout = float(query.get("timeoutSeconds", "") or self.default_watch_timeout)
        except ValueError:
            timeout = self.default_watch_timeout
        initial = rv_param in ("", "0") or send_initial in TRUE_VALUES
        from_rv = self._rv if initial else int(rv_param)

        resp = web.StreamResponse(
            status=200,
            headers={
                "Audit-Id": str(uuid.uuid4()),
                "Cache-Control": "no-cache, private",
                "Content-Type": "application/json",
            },
        )
        if kind.kind == "Endpoints":
            resp.headers["Warning"] = ENDPOINTS_WARNING
        resp.enable_chunked_encoding()
        await resp.prepare(request)

        async def send(event: Mapping[str, Any]) -> None:
            await resp.write((dumps(event) + "\n").encode())

        if self.watch_list == "old-etcd" and initial and (bookmarks or send_initial in TRUE_VALUES):
            message = "a watch stream was requested by the client but the required storage feature RequestWatchProgress is disabled"
            await send({"type": "ERROR", "object": status_body(500, "InternalError", message)})
            await resp.write_eof()
            return resp
        too_old = not initial and from_rv < self._oldest_rv
        # Only a watch from a resourceVersion can be too old (a streaming list starts from now).
        expire = self._expire_watches > 0 and not initial
        if expire or too_old:
            if expire:
                self._expire_watches -= 1
            oldest = max(self._oldest_rv, self._rv if not too_old else self._oldest_rv)
            await send(
                {
                    "type": "ERROR",
                    "object": status_body(410, "Expired", f"too old resource version: {rv_param or 0} ({oldest})"),
                }
            )
            await resp.write_eof()
            return resp

        stream = Stream(kind, namespace, selector, from_rv)
        # Subscribing and reading the history happen without an await between them: nothing is
        # missed or sent twice.
        self._streams.add(stream)
        backlog: list[dict[str, Any]] = []
        initial_view: View | None = None
        if initial:
            # The state now, sent from its items' encodings (copy-on-write: later writes do not
            # change it), as the watch cache streams initial events without building a list.
            initial_view = self._stores[kind.kind].snapshot()
            initial_keys = initial_view.matching(namespace, selector)
            if bookmarks and self.watch_list == "yes":
                backlog.append(self._bookmark(kind, self._rv, initial_end=True))
        else:
            for change in self._history:
                if change.kind == kind.kind and (event := self._event(stream, change)) is not None:
                    backlog.append(event)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + timeout
        next_bookmark = started + self.bookmark_interval
        end_bookmark = deadline - self.bookmark_before_end if timeout > 2 * self.bookmark_before_end else None
        try:
            if initial_view is not None:
                # `{"type":"ADDED","object":{"kind":..,"apiVersion":..,` + the item's fields: what
                # dumps() of the event gives, written 64 events at a time.
                head = dumps({"type": "ADDED", "object": {"kind": kind.kind, "apiVersion": kind.api_version}})
                prefix, end, entries = head[:-2].encode() + b",", b"}\n", initial_view.entries
                for first in range(0, len(initial_keys), 64):
                    await resp.write(
                        b"".join(
                            part
                            for key in initial_keys[first : first + 64]
                            for part in (prefix, memoryview(entries[key].encoded)[1:], end)
                        )
                    )
            for event in backlog:
                await send(event)
            while True:
                if stream.cut:
                    break
                now = loop.time()
                if (wait := self._stalled_until - time.monotonic()) > 0:
                    await asyncio.sleep(min(wait, 0.05))
                    continue
                if now >= deadline:
                    await resp.write_eof()
                    return resp
                if bookmarks and now >= next_bookmark:
                    next_bookmark = now + self.bookmark_interval
                    await send(self._bookmark(kind, self._rv))
                    continue
                if bookmarks and end_bookmark is not None and now >= end_bookmark:
                    end_bookmark = None
                    await send(self._bookmark(kind, self._rv))
                    continue
                wake = deadline
                if bookmarks:
                    wake = min(wake, next_bookmark, end_bookmark if end_bookmark is not None else wake)
                try:
                    item = await asyncio.wait_for(stream.queue.get(), max(0.0, wake - now))
                except asyncio.TimeoutError:
                    continue
                if item is _CUT:
                    break
                if (wait := self._stalled_until - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                if stream.cut:
                    break
                event = self._event(stream, item)
                if event is not None:
                    await send(event)
        except (ConnectionError, asyncio.CancelledError):
            self._streams.discard(stream)
            raise
        finally:
            self._streams.discard(stream)
        # Cut: drop the connection without the chunked terminator, as a network failure would.
        if request.transport is not None:
            request.transport.abort()
        return resp


def _encode_token(rv: int, start: str) -> str:
    raw = dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": "/" + start if rv >= 0 else start})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[int, str] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        rv = int(data["rv"])
        start = str(data["start"])
    except (ValueError, KeyError, TypeError):
        return None
    return rv, start[1:] if start.startswith("/") else start
