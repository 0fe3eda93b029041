"""A small aiohttp listener for the health, ready and metrics endpoints."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from kdns.corefile.tree import Directive, to_integer

log = logging.getLogger(__name__)

Route = tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


def split_address(text: str, default_port: int) -> tuple[str, int]:
    """CoreDNS address forms: ":8080", "localhost:9153", "127.0.0.1", "[::1]:8080"."""
    host, sep, port = text.rpartition(":")
    if not sep or host.endswith(":") and not host.startswith("["):
        host, port = text, ""
    host = host.strip("[]")
    if not port:
        return host, default_port
    value = to_integer(port)
    if value is None:
        raise ValueError(f"port '{port}' is not a number")
    if not 0 <= value <= 65535:
        raise ValueError(f"port {port} out of range")
    return host, value


def address_arg(d: Directive, default: tuple[str, int]) -> tuple[str, int]:
    """The optional ADDRESS argument of health, ready and prometheus, or default."""
    args = d.expect_args(0, 1)
    if not args:
        return default
    try:
        return split_address(args[0], default[1])
    except ValueError as e:
        raise d.error(f"invalid address '{args[0]}': {e}", d.args[0]) from None


class HttpEndpoint:
    def __init__(self, host: str, port: int, routes: list[Route]) -> None:
        self.host = host
        self.port = port
        app = web.Application()
        for path, handler in routes:
            app.router.add_get(path, handler)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self.site: web.TCPSite | None = None

    async def start(self) -> None:
        await self.runner.setup()
        self.site = web.TCPSite(self.runner, self.host or None, self.port, reuse_address=True)
        await self.site.start()
        if self.port == 0:
            server = self.site._server
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self.runner.cleanup()
