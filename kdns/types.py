"""The contracts between the server and its plugins (Protocols only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from kdns.metric_types import CollectorRegistry

    from kdns.request import Request
    from kdns.response import Response


class Handler(Protocol):
    """One link of a server block's chain: answers, or awaits next(request) and returns that."""

    async def __call__(self, request: Request) -> Response: ...


Next = Callable[["Request"], Awaitable["Response"]]


class Lifecycle(Protocol):
    """Optional hooks a handler or service may have; the app calls the ones present."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class AppContext(Protocol):
    """What lifecycle-only plugins (health, ready, prometheus, reload) may see of the running app."""

    corefile: str
    registry: CollectorRegistry

    def readiness(self) -> list[tuple[str, bool]]: ...

    def lameduck_started(self) -> bool: ...

    def request_reload(self) -> None: ...

    def watched_files(self) -> list[str]: ...


class Invalidates(Protocol):
    """A source of fast-path answers (server/fastpath.py) calls invalidate(tags) when state changes."""

    def invalidate(self, tags: set[Hashable]) -> None: ...


Settings = Any


@runtime_checkable
class AutoPather(Protocol):
    """A plugin that knows the search path of the client behind a query (CoreDNS's AutoPather).

    `autopath @NAME` is handed the NAME plugin of its server block (PluginSpec.needs); kubernetes
    implements this. enable_autopath() is called once, before start (kubernetes then watches pods);
    autopath(request) is the client's search path ending with "" (the name itself), or None for no
    autopath; could_autopath(qname) says whether some client's search path may start at qname
    (then the answer depends on the client and must not enter the fast path).
    """

    def enable_autopath(self) -> None: ...

    def autopath(self, request: Request) -> tuple[str, ...] | None: ...

    def could_autopath(self, qname: str) -> bool: ...


@runtime_checkable
class Externaler(Protocol):
    """A plugin whose cluster index k8s_external answers from (kubernetes; CoreDNS's Externaler).

    external_index() is the live ClusterIndex (plugins/kubernetes/index.py): answers read it
    synchronously and carry its tags, which the provider already invalidates in the server's
    fast-path tables.
    """

    def external_index(self) -> Any: ...


class BlockInfo(Protocol):
    """What a handler learns of its server block through attach(info), called before start().

    zones: the block's zones (lowercase, fully qualified); addresses: the (host, port) pairs it
    listens on (host "" = every address); resolve(qname, qtype) runs a query through this block's
    whole chain, from the first plugin, and returns the Response; app: the running application.
    """

    zones: list[str]
    addresses: list[tuple[str, int]]
    app: AppContext

    async def resolve(self, qname: str, qtype: int) -> Response: ...
