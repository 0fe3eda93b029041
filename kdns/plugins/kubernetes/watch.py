"""The list -> watch -> relist loop for one API resource, layered like kopf's.

Innermost, a Transport does one HTTP call: a list page (JSON) or a watch stream (one JSON event per
line). In the middle, list_all() pages through a list (limit/continue) and Watcher.watch_from()
applies a stream's events to the index. Outermost, Watcher.run() strings them together for ever:
list -> index.replace + mark_synced -> watch from the list's resourceVersion with
allowWatchBookmarks -> on a clean stream end re-watch from the last resourceVersion seen -> on 410
Gone (an ERROR event inside a 200 stream, or an HTTP 410) list again and replace atomically -> on
connection errors, 5xx, 401/403 back off (capped, jittered) and retry, never giving up.

The protocol details come from a real kube-apiserver (recordings in tests/fakeapi/recordings/):
list items carry no kind/apiVersion, watch objects do; a BOOKMARK's object is an empty object of
the kind whose only content is metadata.resourceVersion; a too-old resourceVersion on a watch is a
200 with one ERROR line (Status code 410), on a list (expired continue token) a real HTTP 410.
Objects stay raw dicts (no kubernetes_asyncio model classes: they cost CPU and memory).

Where the server offers it (Kubernetes 1.32+ by default), the list is a streaming list instead
(KEP-3157, recordings in watchlist/): one watch with sendInitialEvents=true and
resourceVersionMatch=NotOlderThan sends an ADDED event per object, then a BOOKMARK annotated
`k8s.io/initial-events-end` whose resourceVersion is the list's, then carries on as an ordinary
watch. The apiserver streams those events from its watch cache instead of building list pages in
memory, which is what makes many DNS replicas starting at once cheap for it. A server that refuses
it (422 for the parameters, an ERROR event before the bookmark as an apiserver on an old etcd sends:
errors/old-etcd-*, or a stream without the bookmark) makes the watcher list + watch instead, for
its lifetime, as client-go's reflector falls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kdns.errors import KdnsError
from kdns.plugins.kubernetes.index import gc_paused
from kdns.plugins.kubernetes.settings import DEFAULT_SETTINGS, WatchSettings

log = logging.getLogger(__name__)

EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED"})
# The annotation of the BOOKMARK that ends a streaming list's initial events (KEP-3157).
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
# Errors of a streaming list that say nothing about the feature: the same request is retried
# (with backoff) rather than given up for list + watch.
_TRANSIENT_STATUSES = frozenset({401, 403, 429, 503, 504})
# kube-apiserver's 403 message: `... cannot list resource "services" in API group "" at the ...`
_FORBIDDEN = re.compile(r'cannot (\w+) resource "([^"]*)" in API group "([^"]*)"')


# ---------------------------------------------------------------------------------------------
# Errors a transport raises


class ApiError(KdnsError):
    """Talking to the API server failed."""


class ApiConnectionError(ApiError):
    """No answer, a broken connection, a stalled stream or unreadable bytes: retry with backoff."""


class ApiStatusError(ApiError):
    """The API server answered with an error status (HTTP status, or an ERROR event's Status)."""

    def __init__(self, status: int, body: Mapping[str, Any] | None = None, text: str = "") -> None:
        self.status = status
        self.body: Mapping[str, Any] = body or {}
        self.reason = str(self.body.get("reason") or "")
        self.message = str(self.body.get("message") or text or "")
        super().__init__(f"HTTP {status} {self.reason}: {self.message}".rstrip(": "))

    @property
    def gone(self) -> bool:
        """410 Gone / Expired: the resourceVersion or continue token is too old; list again."""
        return self.status == 410


class WatchExpired(ApiError):
    """A watch's resourceVersion fell out of the server's window: the state must be listed again."""


class WatchListUnsupported(ApiError):
    """The server did not serve a streaming list: sync with list + watch instead."""


# ---------------------------------------------------------------------------------------------
# The resources kdns watches


@dataclass(frozen=True)
class Resource:
    kind: str
    plural: str
    group: str  # "" for the core group
    version: str = "v1"
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None) -> str:
        """The collection path, cluster-wide or in one namespace."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    @property
    def display(self) -> str:
        """As RBAC and the apiserver's messages name it: `services`, `endpointslices.discovery.k8s.io`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES: dict[str, Resource] = {
    r.kind: r
    for r in (
        Resource("Namespace", "namespaces", "", namespaced=False),
        Resource("Service", "services", ""),
        Resource("EndpointSlice", "endpointslices", "discovery.k8s.io"),
        Resource("Pod", "pods", ""),
        Resource("Endpoints", "endpoints", ""),
        Resource("ServiceImport", "serviceimports", "multicluster.x-k8s.io", "v1alpha1"),
    )
}


# ---------------------------------------------------------------------------------------------
# Layer 1: the HTTP calls (apisource.HttpTransport; tests use a replay transport)


class Transport(Protocol):
    async def get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET path?params and return the JSON body; ApiStatusError / ApiConnectionError."""
        ...

    def stream(
        self, path: str, params: Mapping[str, str], idle_timeout: float
    ) -> AsyncGenerator[dict[str, Any], None]:
        """GET a watch; yield each event (a dict) as its line arrives; return at a clean end.

        Raises ApiStatusError when the answer is not 200, ApiConnectionError when the stream
        breaks or nothing arrives for idle_timeout seconds.
        """
        ...


class Index(Protocol):
    """The part of ClusterIndex the watch loop needs (kdns/plugins/kubernetes/index.py).

    An index may also offer slim(kind) -> PageSink: the list's pages are then added to it as they
    arrive (converted at once, so the raw pages are not all held at the same time) and the sink is
    what replace() gets.
    """

    def replace(self, kind: str, objects: Any) -> set[Any]: ...

    def apply(self, kind: str, event: str, obj: dict[str, Any]) -> set[Any]: ...

    def mark_synced(self, kind: str) -> None: ...


OnChange = Callable[[str, set[Any]], None]


class PageSink(Protocol):
    """Collects a list's items page by page (index.Slim)."""

    def add(self, items: list[dict[str, Any]]) -> Any: ...

    def clear(self) -> None: ...

    def __len__(self) -> int: ...


# ---------------------------------------------------------------------------------------------
# Backoff


class Backoff:
    """Capped exponential backoff with jitter; resets after a quiet period (client-go style)."""

    def __init__(
        self,
        settings: WatchSettings = DEFAULT_SETTINGS,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._rng = rng
        self._clock = clock
        self._attempt = 0
        self._last = float("-inf")

    def next_delay(self) -> float:
        s = self._settings
        now = self._clock()
        if now - self._last > s.backoff_reset_after:
            self._attempt = 0
        self._last = now
        base = min(s.backoff_cap, s.backoff_base * s.backoff_factor**self._attempt)
        self._attempt += 1
        return min(s.backoff_cap, base * (1.0 + s.backoff_jitter * self._rng()))

    def reset(self) -> None:
        self._attempt = 0


# ---------------------------------------------------------------------------------------------
# Layer 2: list and watch


def object_name(obj: Mapping[str, Any]) -> str:
    """`namespace/name` of a raw object for a log line, as much of it as the object has."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return "(without metadata)"
    name, namespace = meta.get("name"), meta.get("namespace")
    name = name if isinstance(name, str) and name else "(without name)"
    return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name


def _resource_version(obj: Mapping[str, Any] | None) -> str | None:
    if not isinstance(obj, Mapping):
        return None
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return None
    rv = meta.get("resourceVersion")
    return rv if isinstance(rv, str) and rv else None


async def list_all(
    transport: Transport,
    resource: Resource,
    settings: WatchSettings = DEFAULT_SETTINGS,
    label_selector: str | None = None,
    namespace: str | None = None,
    sink: PageSink | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Every object of the resource and the list's resourceVersion, paging with limit/continue.

    All pages of one list carry the same resourceVersion (a consistent snapshot). When a continue
    token has expired (HTTP 410) the list starts over: the 410's own fresh token would give an
    inconsistent result, and the index must be replaced by one consistent state.

    With a sink, each page's items go to it (cleared when the list starts over) and the returned
    list is empty.
    """
    path = resource.path(namespace)
    restarts = 0
    while True:
        items: list[dict[str, Any]] = []
        if sink is not None:
            sink.clear()
        token: str | None = None
        list_rv: str | None = None
        try:
            while True:
                params = {"limit": str(settings.list_page_size)}
                if label_selector:
                    params["labelSelector"] = label_selector
                if token:
                    params["continue"] = token
                body = await transport.get(path, params)
                meta = body.get("metadata") or {}
                page = body.get("items") or []
                if not isinstance(meta, Mapping) or not isinstance(page, list):
                    # Not a list at all: retried with backoff, as unreadable bytes are.
                    raise ApiConnectionError(f"list {resource.display}: the answer is not a list (metadata or items)")
                if list_rv is None:
                    list_rv = meta.get("resourceVersion")
                if sink is not None:
                    sink.add(page)
                else:
                    items.extend(page)
                del body, page  # this page's raw objects can go before the next one arrives
                token = meta.get("continue") or None
                if token is None:
                    break
        except ApiStatusError as e:
            if e.gone and token and restarts < 3:
                restarts += 1
                log.info("list %s: continue token expired, listing again", resource.display)
                continue
            raise
        if not isinstance(list_rv, str) or not list_rv:
            raise ApiConnectionError(f"list {resource.display}: no metadata.resourceVersion")
        return items, list_rv


def watch_params(
    resource_version: str | None, settings: WatchSettings, label_selector: str | None, rng: Callable[[], float]
) -> dict[str, str]:
    """A watch from resource_version, or (None) a streaming list: the current state, then changes."""
    timeout = settings.watch_timeout * (1.0 + settings.watch_timeout_jitter * rng())
    params = {"watch": "true"}
    if resource_version is None:
        # Without resourceVersion the server first makes sure its cache is current (a consistent
        # read), as a list without resourceVersion would.
        params |= {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"}
    else:
        params["resourceVersion"] = resource_version
    params |= {"allowWatchBookmarks": "true", "timeoutSeconds": str(max(1, int(timeout)))}
    if label_selector:
        params["labelSelector"] = label_selector
    return params


# ---------------------------------------------------------------------------------------------
# Layer 3: the loop


class Watcher:
    """Keeps one resource of the index equal to the cluster's, for ever (run() never returns)."""

    def __init__(
        self,
        transport: Transport,
        resource: Resource,
        index: Index,
        settings: WatchSettings = DEFAULT_SETTINGS,
        *,
        label_selector: str | None = None,
        namespace: str | None = None,
        on_change: OnChange | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.transport = transport
        self.resource = resource
        self.index = index
        self.settings = settings
        self.label_selector = label_selector
        self.namespace = namespace
        self.on_change = on_change
        self._sleep = sleep
        self._rng = rng
        self.backoff = Backoff(settings, rng)
        self.synced = asyncio.Event()
        # Streaming lists until the server refuses one.
        self.watch_list = settings.watch_list
        # The last resourceVersion seen (list, event or bookmark); None means "list next".
        self.resource_version: str | None = None
        # Counters, for logs and tests.
        self.lists = 0
        self.stream_lists = 0
        self.watches = 0
        self.events = 0
        self.bookmarks = 0
        self.relists = 0
        self.errors = 0
        self._gone_streak = 0
        self._status_repeats: dict[tuple[int, str], int] = {}

    @property
    def kind(self) -> str:
        return self.resource.kind

    async def run(self) -> None:
        while True:
            try:
                if self.resource_version is None and self.watch_list:
                    try:
                        await self.stream_list()
                        continue  # it ended as a watch ends: re-watch from the last RV seen
                    except WatchListUnsupported as e:
                        self.watch_list = False
                        log.warning("%s: no streaming list (%s); using list + watch", self._what(), e)
                if self.resource_version is None:
                    self.resource_version = await self.list_and_replace()
                await self.watch_from(self.resource_version)
            except asyncio.CancelledError:
                raise
            except (WatchExpired, ApiStatusError) as e:
                if isinstance(e, WatchExpired) or e.gone:
                    await self._expired(str(e))
                    continue
                self._log_status(e)
                await self._back_off()
            except ApiConnectionError as e:
                log.warning("%s: %s; retrying", self._what(), e)
                await self._back_off()
            except Exception:
                # A bug must not end the loop: the server keeps serving the last state.
                log.exception("%s: unexpected error; retrying", self._what())
                await self._back_off()

    async def list_and_replace(self) -> str:
        """List every object (paged) and replace the kind in the index in one step."""
        slim: Callable[[str], PageSink] | None = getattr(self.index, "slim", None)
        sink = slim(self.kind) if slim is not None else None
        items, list_rv = await list_all(
            self.transport, self.resource, self.settings, self.label_selector, self.namespace, sink
        )
        self.lists += 1
        self._replace_all(sink if sink is not None else items, list_rv)
        return list_rv

    def _replace_all(self, objects: PageSink | list[dict[str, Any]], list_rv: str) -> None:
        count = len(objects)
        touched = self.index.replace(self.kind, objects)
        self.index.mark_synced(self.kind)
        self.synced.set()
        self._status_repeats.clear()
        log.debug("listed %d %s at resourceVersion %s", count, self.resource.display, list_rv)
        self._changed(touched)

    async def stream_list(self) -> None:
        """Sync with a streaming list, then apply the same stream's later events until it ends.

        The initial ADDED events are collected (converted page by page when the index offers a
        sink) and replace the kind in one step at the initial-events-end bookmark, whose
        resourceVersion is the list's. Raises WatchListUnsupported when the server refuses the
        streaming list before that bookmark; after it, errors are a watch's (see watch_from).
        """
        slim: Callable[[str], PageSink] | None = getattr(self.index, "slim", None)
        sink = slim(self.kind) if slim is not None else None
        items: list[dict[str, Any]] = []
        batch: list[dict[str, Any]] = []

        def keep() -> None:
            if sink is not None:
                sink.add(batch)
            else:
                items.extend(batch)
            batch.clear()

        params = watch_params(None, self.settings, self.label_selector, self._rng)
        stream = self.transport.stream(self.resource.path(self.namespace), params, self.settings.watch_idle_timeout)
        self.stream_lists += 1
        synced = False
        # The initial events are tens of thousands of containers, none of them cyclic: the
        # collector would walk them again and again (as list_all's pages, see index.gc_paused).
        paused = contextlib.ExitStack()  # closed at the bookmark, or when the stream ends before it
        paused.enter_context(gc_paused())
        try:
            async with contextlib.aclosing(stream) as events:
                async for event in events:
                    if synced:
                        self._handle(event)
                        continue
                    etype, obj = event.get("type"), event.get("object")
                    if etype == "ADDED" and isinstance(obj, dict):
                        batch.append(obj)
                        if len(batch) >= self.settings.list_page_size:
                            keep()
                    elif etype == "BOOKMARK" and _initial_events_end(obj):
                        list_rv = _resource_version(obj)
                        if not list_rv:
                            raise WatchListUnsupported("initial-events-end bookmark without resourceVersion")
                        keep()
                        self._replace_all(sink if sink is not None else items, list_rv)
                        # Only once the index holds the list: a failed replace streams it again.
                        self.resource_version = list_rv
                        synced = True
                        paused.close()
                    elif etype == "ERROR":
                        self._handle(event)  # raises
                    else:
                        # A server that ignores sendInitialEvents goes on with bookmarks or
                        # changes and never says the state is complete.
                        raise WatchListUnsupported(f"{etype} event before the initial-events-end bookmark")
        except ApiStatusError as e:
            if synced or e.status in _TRANSIENT_STATUSES:
                raise
            raise WatchListUnsupported(str(e)) from e
        finally:
            paused.close()
        if not synced:
            raise WatchListUnsupported("the stream ended before the initial-events-end bookmark")
        self.backoff.reset()

    async def watch_from(self, resource_version: str) -> str:
        """Apply one watch stream's events; return the last resourceVersion at its clean end.

        Raises WatchExpired on a 410 (ERROR event or HTTP), ApiStatusError on other errors,
        ApiConnectionError when the stream breaks or stalls. self.resource_version follows every
        event and bookmark, so a retry after any error re-watches from the last one seen.
        """
        params = watch_params(resource_version, self.settings, self.label_selector, self._rng)
        path = self.resource.path(self.namespace)
        started = time.monotonic()
        delivered = 0
        self.watches += 1
        stream = self.transport.stream(path, params, self.settings.watch_idle_timeout)
        async with contextlib.aclosing(stream) as events:
            async for event in events:
                delivered += 1
                self._handle(event)
        if delivered == 0 and time.monotonic() - started < self.settings.min_watch_duration:
            raise ApiConnectionError("watch ended at once without any event")
        self.backoff.reset()
        return self.resource_version or resource_version

    def _handle(self, event: Mapping[str, Any]) -> None:
        etype = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise ApiConnectionError(f"watch event without an object: {str(event)[:200]}")
        if etype == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise WatchExpired(str(obj.get("message") or "410 Gone"))
            raise ApiStatusError(code if isinstance(code, int) else 500, obj)
        rv = _resource_version(obj)
        if etype == "BOOKMARK":
            # Only the resourceVersion of a bookmark means anything.
            if rv:
                self.resource_version = rv
            self.bookmarks += 1
            return
        if etype not in EVENT_TYPES:
            log.warning("%s: ignoring watch event of type %r", self._what(), etype)
            return
        # The event counts as seen before it is applied: a re-watch from before a bad object would
        # get the same object again, fail again, and never reach the events after it.
        if rv:
            self.resource_version = rv
        self.events += 1
        self._gone_streak = 0
        try:
            touched = self.index.apply(self.kind, etype, obj)
        except Exception as e:  # whatever one object does, the watch goes on without it
            reason = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
            log.warning("skipping malformed %s %s: %s", self.kind, object_name(obj), reason)
            return
        self._changed(touched)

    async def _expired(self, why: str) -> None:
        self.relists += 1
        self.resource_version = None
        log.info("%s: %s; listing again", self._what(), why)
        # The first 410 relists at once; 410 after 410 with nothing in between backs off.
        if self._gone_streak:
            await self._back_off()
        self._gone_streak += 1

    def _changed(self, touched: set[Any]) -> None:
        if self.on_change is not None and touched:
            self.on_change(self.kind, touched)

    async def _back_off(self) -> None:
        self.errors += 1
        await self._sleep(self.backoff.next_delay())

    def _what(self) -> str:
        return f"watch {self.resource.display}"

    def _log_status(self, e: ApiStatusError) -> None:
        key = (e.status, e.message)
        seen = self._status_repeats.get(key, 0)
        self._status_repeats[key] = seen + 1
        # Repeats of the same error are logged again now and then, not on every retry.
        level = logging.ERROR if seen % 10 == 0 else logging.DEBUG
        verb = "list" if self.resource_version is None else "watch"
        plural, group = self.resource.plural, self.resource.group
        said = _FORBIDDEN.search(e.message)
        if said:
            verb, plural, group = said.groups()
        if e.status == 401:
            log.log(
                level,
                "%s %s: 401 Unauthorized: the API server rejected kdns's credentials "
                "(service account token, kubeconfig user or client certificate); retrying",
                verb,
                self.resource.display,
            )
        elif e.status == 403:
            log.log(
                level,
                "%s %s: 403 Forbidden: missing RBAC permission: verb %r on resource %r "
                "in API group %r (grant get/list/watch on it to kdns's service account). "
                "Server said: %s",
                verb,
                self.resource.display,
                verb,
                plural,
                group,
                e.message,
            )
        elif e.status == 404 and self.resource.group:
            # A group the cluster lacks (the MCS API's ServiceImports for `multicluster`): kdns
            # is never ready without it, so say what is missing rather than the bare 404.
            log.log(
                level,
                "%s %s: 404: the API server does not serve %s/%s; is its CustomResourceDefinition "
                "installed? Retrying",
                verb,
                self.resource.display,
                self.resource.api_version,
                self.resource.plural,
            )
        else:
            log.log(
                level if e.status < 500 else logging.WARNING,
                "%s %s: %s; retrying",
                verb,
                self.resource.display,
                e,
            )


def _initial_events_end(obj: Any) -> bool:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    return isinstance(annotations, Mapping) and annotations.get(INITIAL_EVENTS_END) == "true"


def resources_for(kinds: Iterable[str]) -> list[Resource]:
    """The Resource of each kind name the index asks for; unknown kinds are an error."""
    out = []
    for kind in kinds:
        if kind not in RESOURCES:
            raise KdnsError(f"kubernetes: no API resource known for kind {kind!r}")
        out.append(RESOURCES[kind])
    return out
