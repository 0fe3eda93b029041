"""The Kubernetes API as a source of the ClusterIndex: one Watcher task per kind.

Where the server is and the credentials come from credentials.py (endpoint [+ tls], kubeconfig,
or the pod's service account); the GETs go over httpclient.py's HTTP/1.1 on asyncio streams. A
watch needs a read timeout per piece with no total timeout, lines split by us (events can be
larger than any line limit), the raw status and body of every error (Status objects), and a place
to time every request for the REST metrics. Plain http endpoints work (the fake API in tests is
http).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import urllib.parse
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from kdns.plugins.kubernetes import metrics
from kdns.plugins.kubernetes.config import Config, Selector
from kdns.plugins.kubernetes.credentials import ClientConfigError, Credentials, load_credentials
from kdns.plugins.kubernetes.httpclient import HttpClient, HttpError, Response, Url, environment_proxy
from kdns.plugins.kubernetes.index import gc_paused
from kdns.plugins.kubernetes.objects import SERVICE_NAME_LABEL
from kdns.plugins.kubernetes.settings import DEFAULT_SETTINGS, WatchSettings
from kdns.plugins.kubernetes.watch import (
    ApiConnectionError,
    ApiStatusError,
    Index,
    OnChange,
    Watcher,
    object_name,
    resources_for,
)

log = logging.getLogger(__name__)

USER_AGENT = "kdns (python)"


def _status_error(status: int, body: bytes) -> ApiStatusError:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return ApiStatusError(status, parsed)
    return ApiStatusError(status, None, body.decode("utf-8", "replace").strip()[:200])


class HttpTransport:
    """watch.Transport over HTTP/1.1, authenticated by Credentials."""

    def __init__(self, credentials: Credentials, settings: WatchSettings = DEFAULT_SETTINGS) -> None:
        self.credentials = credentials
        self.settings = settings
        url = Url.parse(credentials.url)
        self.base = credentials.url
        self.host = url.host_port
        # As client-go: the kubeconfig's proxy-url, else HTTPS_PROXY/HTTP_PROXY unless NO_PROXY.
        proxy = credentials.proxy or environment_proxy(url)
        try:
            self.client = HttpClient(credentials.url, credentials.context, credentials.server_name, proxy)
        except ValueError as e:
            raise ClientConfigError(str(e)) from None

    async def close(self) -> None:
        await self.client.close()

    async def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        authorization = await self.credentials.authorization()
        if authorization:
            headers["Authorization"] = authorization
        return headers

    async def _request(self, path: str, params: Mapping[str, str]) -> Response:
        target = f"{path}?{urllib.parse.urlencode(params)}" if params else path
        started = time.monotonic()
        try:
            resp = await self.client.get(target, await self._headers(), self.settings.connect_timeout)
        except HttpError as e:
            metrics.observe_request("<error>", "GET", self.host, time.monotonic() - started)
            raise ApiConnectionError(f"GET {path}: {e}") from None
        # Latency to the response headers (for a watch, the body lasts minutes).
        metrics.observe_request(str(resp.status), "GET", self.host, time.monotonic() - started)
        if resp.status == 401:
            # Exec/OIDC kubeconfig tokens expire, service account tokens rotate: load them again
            # before the retry.
            try:
                await self.credentials.refresh()
            except BaseException:  # given up (a timeout, a stop): the answer's connection with it
                resp.close()
                raise
        return resp

    async def get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self.settings.list_timeout):
                resp = await self._request(path, params)
                body = await resp.read()
        except TimeoutError:
            raise ApiConnectionError(f"GET {path}: no whole answer in {self.settings.list_timeout:g} s") from None
        except HttpError as e:
            raise ApiConnectionError(f"GET {path}: {e}") from None
        if resp.status != 200:
            raise _status_error(resp.status, body)
        try:
            with gc_paused():  # a list page is thousands of containers, none of them cyclic
                parsed = json.loads(body)
        except ValueError as e:
            raise ApiConnectionError(f"GET {path}: body is not JSON: {e}") from e
        if not isinstance(parsed, dict):
            raise ApiConnectionError(f"GET {path}: body is not a JSON object")
        return parsed

    async def stream(
        self, path: str, params: Mapping[str, str], idle_timeout: float
    ) -> AsyncGenerator[dict[str, Any], None]:
        try:
            # The head of the answer comes at once (the server flushes it before any event): bounded
            # like the silence between events.
            async with asyncio.timeout(idle_timeout):
                resp = await self._request(path, params)
        except TimeoutError:
            raise ApiConnectionError(f"watch {path}: no answer in {idle_timeout:g} s") from None
        try:
            if resp.status != 200:
                try:
                    async with asyncio.timeout(self.settings.list_timeout):
                        body = await resp.read()
                except (HttpError, TimeoutError):
                    body = b""
                raise _status_error(resp.status, body)
            pending = bytearray()
            try:
                async for piece in resp.pieces(idle_timeout):
                    pending += piece
                    end = pending.rfind(b"\n")
                    if end < 0:
                        continue
                    lines = [line for line in bytes(pending[:end]).split(b"\n") if line.strip()]
                    del pending[: end + 1]
                    for event in _events(lines, path):
                        yield event
            except HttpError as e:
                raise ApiConnectionError(f"watch {path}: {e}") from None
            if bytes(pending).strip():
                yield _event(bytes(pending), path)
        finally:
            resp.close()


def _events(lines: list[bytes], path: str) -> list[dict[str, Any]]:
    """The events of several complete lines. A streaming list's initial events arrive dozens to a
    chunk: they are parsed as one JSON array, one call instead of one per line."""
    if len(lines) > 1:
        try:
            with gc_paused():
                events = json.loads(b"[" + b",".join(lines) + b"]")
        except ValueError:
            events = None  # a bad line: parsed one by one below, to name it
        if isinstance(events, list) and len(events) == len(lines) and all(isinstance(e, dict) for e in events):
            return events
    return [_event(line, path) for line in lines]


def _event(line: bytes, path: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError as e:
        raise ApiConnectionError(f"watch {path}: unreadable event line: {e}") from e
    if not isinstance(event, dict):
        raise ApiConnectionError(f"watch {path}: event is not a JSON object")
    return event


# ---------------------------------------------------------------------------------------------
# Label selectors


def selector_text(value: Selector | str | None) -> str | None:
    """A label selector as the API's labelSelector parameter wants it (the Corefile's text)."""
    if value is None:
        return None
    return (value if isinstance(value, str) else value.text) or None


class ProgrammingLatency:
    """The index as the watchers write to it, timing CoreDNS's DNS programming latency.

    CoreDNS (plugin/kubernetes/object/informer.go, EndpointLatencyRecorder) observes
    coredns_kubernetes_dns_programming_duration_seconds after each endpoints delta has been stored,
    only when the object's last-change-trigger-time annotation is set and it belongs to exactly one
    headless Service (ClusterIP answers do not depend on endpoints). As CoreDNS's earlier OnAdd did,
    nothing is observed for a (re)list: its age would measure how long the watch was away, not how
    fast a change reached DNS. index.apply() has already invalidated the fast-path answers when it
    returns, so "now" is when queries see the change.
    """

    def __init__(self, index: Any) -> None:
        self.index = index
        self.kinds: tuple[str, ...] = tuple(getattr(index, "kinds", ()))
        # Page-by-page conversion of lists (watch.Index), when the index offers it.
        slim = getattr(index, "slim", None)
        if slim is not None:
            self.slim = slim

    def replace(self, kind: str, objects: Any) -> set[Any]:
        touched: set[Any] = self.index.replace(kind, objects)
        return touched

    def mark_synced(self, kind: str) -> None:
        self.index.mark_synced(kind)

    def apply(self, kind: str, event: str, obj: dict[str, Any]) -> set[Any]:
        touched: set[Any] = self.index.apply(kind, event, obj)
        if kind in _ENDPOINT_KINDS and event in ("ADDED", "MODIFIED", "DELETED"):
            try:
                metrics.observe_programming(obj, self._service_kind(kind, obj))
            except Exception as e:  # the change is applied: its tags must still reach the caches
                log.warning(
                    "no DNS programming latency for %s %s: %s: %s",
                    kind,
                    object_name(obj),
                    type(e).__name__,
                    e,
                )
        return touched

    def _service_kind(self, kind: str, obj: Mapping[str, Any]) -> str | None:
        lookup = getattr(self.index, "service", None)
        meta = obj.get("metadata")
        if lookup is None or not isinstance(meta, Mapping):
            return None
        if kind == "Endpoints":
            name = meta.get("name")
        else:
            labels = meta.get("labels")
            name = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, Mapping) else None
        namespace = meta.get("namespace") or "default"
        if not isinstance(name, str) or not isinstance(namespace, str):
            return None
        svc = lookup(namespace, name)
        if svc is None or not svc.headless:
            return None
        # Only the EndpointSlice controller writes the annotation, and only for services with a
        # selector (the mirroring controller strips it), so CoreDNS labels every observation
        # headless_with_selector. A hand-written annotated slice of a selector-less service is
        # not a controller's change: skip it rather than emit a series CoreDNS never has.
        return metrics.HEADLESS_WITH_SELECTOR if svc.has_selector else None


_ENDPOINT_KINDS = ("EndpointSlice", "Endpoints")


class ApiSource:
    """Fills a ClusterIndex from the Kubernetes API: one list/watch task per kind of index.kinds.

    start() returns once the tasks run (it does not wait for the first sync: see wait_synced());
    stop() cancels them and closes the HTTP session. After the first sync the index keeps the last
    known state through any API outage; the watchers converge it again when the API returns.
    """

    def __init__(
        self,
        config: Config,
        index: Any,
        settings: WatchSettings | None = None,
        *,
        on_change: OnChange | None = None,
        transport: Any | None = None,
    ) -> None:
        self.config = config
        self.index: Index = index
        self.settings = settings or dataclasses.replace(DEFAULT_SETTINGS, startup_timeout=config.startup_timeout)
        self.on_change = on_change
        self.transport: Any | None = transport
        self.watchers: list[Watcher] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self._tasks:
            return
        if self.transport is None:
            self.transport = HttpTransport(await load_credentials(self.config), self.settings)
            log.info("using the API server at %s", self.transport.base)
        labels = selector_text(self.config.labels)
        namespace_labels = selector_text(self.config.namespace_labels)
        self.watchers = []
        measured = ProgrammingLatency(self.index)
        for resource in resources_for(self.index.kinds if hasattr(self.index, "kinds") else ()):
            # As CoreDNS: `labels` filters services, endpoint slices and pods, not ServiceImports
            # (nor does the index when they come from manifests); `namespace_labels` filters
            # namespaces.
            selector = namespace_labels if resource.kind == "Namespace" else labels
            if resource.kind == "ServiceImport":
                selector = None
            self.watchers.append(
                Watcher(
                    self.transport,
                    resource,
                    measured,
                    self.settings,
                    label_selector=selector,
                    on_change=self.on_change,
                )
            )
        for watcher in self.watchers:
            self._tasks.append(
                asyncio.create_task(watcher.run(), name=f"kdns-watch-{watcher.resource.plural}")
            )

    def synced(self) -> bool:
        """True once every kind has listed at least once."""
        return bool(self.watchers) and all(w.synced.is_set() for w in self.watchers)

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait up to timeout (default: startup_timeout) for the first sync; True when synced."""
        limit = self.settings.startup_timeout if timeout is None else timeout
        waits = [asyncio.ensure_future(w.synced.wait()) for w in self.watchers]
        if not waits:
            return False
        try:
            await asyncio.wait_for(asyncio.gather(*waits), limit)
        except asyncio.TimeoutError:
            pending = [w.resource.display for w in self.watchers if not w.synced.is_set()]
            log.warning(
                "not synced with the API after %.1f s (waiting for %s); serving anyway",
                limit,
                ", ".join(pending),
            )
            return False
        return True

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.stop_timeout)
        if isinstance(self.transport, HttpTransport):
            await self.transport.close()
