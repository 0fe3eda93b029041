"""The Kubernetes API as a source of the ClusterIndex: one Watcher task per kind.

Configuration and credentials come from kubernetes_asyncio (as the design asks): the in-cluster
service account by default (load_incluster_config, whose token hook re-reads the projected,
rotating token), `kubeconfig FILE [CONTEXT]` (load_kube_config: certificates, tokens, exec and
OIDC providers), or `endpoint URL` with optional `tls CERT KEY CACERT` (as CoreDNS: no other
credentials then). Plain http endpoints work (the fake API in tests is http).

The HTTP itself is one aiohttp session built from that Configuration (SSL context and
Authorization header), not kubernetes_asyncio's ApiClient.call_api: a watch needs a socket read
timeout with no total timeout, lines split ourselves (events can be larger than aiohttp's default
line limit), the raw status and body of every error (Status objects), and a place to time every
request for the REST metrics; call_api(_preload_content=False) would give the same aiohttp
response with extra layers (and a Content-Type header on every GET) in between.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from yarl import URL

from kdns.errors import KdnsError
from kdns.plugins.kubernetes import metrics
from kdns.plugins.kubernetes.config import Config, Selector
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

USER_AGENT = "kdns (python; kubernetes_asyncio)"
# Watch events can be large (etcd allows 1.5 MiB objects); lines are split by us, this only sizes
# aiohttp's read buffer (kubernetes_asyncio uses the same).
READ_BUFSIZE = 2**21

_CONNECTION_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def _status_error(status: int, body: bytes) -> ApiStatusError:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return ApiStatusError(status, parsed)
    return ApiStatusError(status, None, body.decode("utf-8", "replace").strip()[:200])


class HttpTransport:
    """watch.Transport over aiohttp, authenticated from a kubernetes_asyncio Configuration."""

    def __init__(
        self,
        configuration: Any,
        settings: WatchSettings = DEFAULT_SETTINGS,
        refresh_credentials: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.configuration = configuration
        self.settings = settings
        self._refresh_credentials = refresh_credentials
        self.base = str(configuration.host).rstrip("/")
        url = URL(self.base)
        self.host = f"{url.host}:{url.port}" if url.port else str(url.host)
        self._ssl: ssl.SSLContext | None = self._ssl_context() if url.scheme == "https" else None
        self._session: aiohttp.ClientSession | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        c = self.configuration
        context = ssl.create_default_context(cafile=c.ssl_ca_cert or None)
        if c.cert_file:
            context.load_cert_chain(c.cert_file, keyfile=c.key_file or None)
        if not c.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False)
            # trust_env: honour HTTPS_PROXY/NO_PROXY like client-go does.
            self._session = aiohttp.ClientSession(
                connector=connector, read_bufsize=READ_BUFSIZE, trust_env=True
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        # auth_settings() runs the token refresh hook (in-cluster tokens rotate).
        for auth in (await self.configuration.auth_settings()).values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"].title()] = auth["value"]
        return headers

    async def _request(
        self, path: str, params: Mapping[str, str], timeout: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        url = URL(self.base + path).with_query(dict(params))
        extra: dict[str, Any] = {}
        server_name = getattr(self.configuration, "tls_server_name", None)
        if server_name and self._ssl is not None:
            extra["server_hostname"] = server_name
        proxy = getattr(self.configuration, "proxy", None)
        if proxy:
            extra["proxy"] = proxy
        started = time.monotonic()
        try:
            resp = await self._client().get(
                url, headers=await self._headers(), timeout=timeout, **extra
            )
        except _CONNECTION_ERRORS as e:
            metrics.observe_request("<error>", "GET", self.host, time.monotonic() - started)
            raise ApiConnectionError(f"GET {path}: {type(e).__name__}: {e}") from e
        # Latency to the response headers (for a watch, the body lasts minutes).
        metrics.observe_request(str(resp.status), "GET", self.host, time.monotonic() - started)
        if resp.status == 401 and self._refresh_credentials is not None:
            # Exec/OIDC kubeconfig tokens expire: load them again before the retry.
            try:
                await self._refresh_credentials()
            except Exception as e:  # logged, the retry reports the 401 again
                log.warning("reloading credentials failed: %s", e)
        return resp

    async def get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        s = self.settings
        timeout = aiohttp.ClientTimeout(total=s.list_timeout, sock_connect=s.connect_timeout)
        resp = await self._request(path, params, timeout)
        try:
            async with resp:
                body = await resp.read()
        except _CONNECTION_ERRORS as e:
            raise ApiConnectionError(f"GET {path}: {type(e).__name__}: {e}") from e
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
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.settings.connect_timeout, sock_read=idle_timeout
        )
        resp = await self._request(path, params, timeout)
        async with resp:
            if resp.status != 200:
                try:
                    body = await resp.read()
                except _CONNECTION_ERRORS:
                    body = b""
                raise _status_error(resp.status, body)
            pending = bytearray()
            try:
                async for chunk in resp.content.iter_any():
                    pending += chunk
                    end = pending.rfind(b"\n")
                    if end < 0:
                        continue
                    lines = [line for line in bytes(pending[:end]).split(b"\n") if line.strip()]
                    del pending[: end + 1]
                    for event in _events(lines, path):
                        yield event
            except _CONNECTION_ERRORS as e:
                raise ApiConnectionError(f"watch {path}: {type(e).__name__}: {e}") from e
            if bytes(pending).strip():
                yield _event(bytes(pending), path)


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
# Configuration


def selector_text(value: Selector | str | None) -> str | None:
    """A label selector as the API's labelSelector parameter wants it (the Corefile's text)."""
    if value is None:
        return None
    return (value if isinstance(value, str) else value.text) or None


def _api_client(*args: Any, **kwargs: Any) -> Any:
    from kubernetes_asyncio.client.api_client import ApiClient

    return ApiClient(*args, **kwargs)


def kubernetes_config() -> tuple[Any, Any]:
    """kubernetes_asyncio's Configuration class and its `config` package, without its API client.

    `import kubernetes_asyncio.<anything>` first runs the package's __init__, which imports the
    generated client: ~900 model and API modules, ~37 MB of RSS that kdns never uses (it speaks
    HTTP itself, see HttpTransport). Configuration and the config loaders need none of them, so
    they are imported with the two package __init__s stood in for by empty packages; the stand-ins
    are removed at once, so a later ordinary import of kubernetes_asyncio (by anyone) runs the real
    __init__s and gets these same modules.
    """
    import importlib.util
    import sys
    import types

    loaded = sys.modules.get("kubernetes_asyncio.config")
    if loaded is not None and "kubernetes_asyncio.client.configuration" in sys.modules:
        return sys.modules["kubernetes_asyncio.client.configuration"].Configuration, loaded
    spec = importlib.util.find_spec("kubernetes_asyncio")
    if spec is None or not spec.submodule_search_locations:
        raise KdnsError("kubernetes: the kubernetes_asyncio package is not installed")
    root = next(iter(spec.submodule_search_locations))
    stand_ins = {}
    for name, path in (("kubernetes_asyncio", root), ("kubernetes_asyncio.client", f"{root}/client")):
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = [path]
            stand_ins[name] = sys.modules[name] = module
    try:
        from kubernetes_asyncio.client.configuration import Configuration

        client = sys.modules["kubernetes_asyncio.client"]
        if "kubernetes_asyncio.client" in stand_ins:
            # What kubernetes_asyncio.config imports from the client. ApiClient is only used by
            # new_client_from_config(), which kdns does not call: it imports the real one if asked.
            client.Configuration = Configuration  # type: ignore[attr-defined]
            client.ApiClient = _api_client  # type: ignore[attr-defined]
        import kubernetes_asyncio.config as k8s_config
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return Configuration, k8s_config


async def load_configuration(config: Config) -> tuple[Any, Callable[[], Awaitable[None]] | None]:
    """A kubernetes_asyncio Configuration for the plugin's config, and a credential refresher.

    endpoint URL [+ tls CERT KEY CACERT] -> that server, with client certificates when given;
    kubeconfig FILE [CONTEXT] -> that file; otherwise the in-cluster service account.
    """
    Configuration, k8s_config = kubernetes_config()
    configuration = Configuration()
    endpoint, kubeconfig = config.endpoint, config.kubeconfig
    refresh: Callable[[], Awaitable[None]] | None = None
    try:
        if endpoint:
            configuration.host = endpoint.rstrip("/")
            if config.tls:
                cert, key, cacert = config.tls  # the Corefile's order
                configuration.cert_file = cert or None
                configuration.key_file = key or None
                configuration.ssl_ca_cert = cacert or None
        elif kubeconfig:
            file, context = kubeconfig, config.kubeconfig_context

            async def refresh() -> None:
                await k8s_config.load_kube_config(
                    config_file=file, context=context or None, client_configuration=configuration
                )

            await refresh()
        else:
            k8s_config.load_incluster_config(client_configuration=configuration)
    except (k8s_config.ConfigException, OSError, ValueError, KeyError) as e:
        raise KdnsError(f"kubernetes: cannot configure the API client: {e}") from e
    return configuration, refresh


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
            configuration, refresh = await load_configuration(self.config)
            self.transport = HttpTransport(configuration, self.settings, refresh)
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
