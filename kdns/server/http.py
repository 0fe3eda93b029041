"""A small aiohttp listener for the health, ready and metrics endpoints, and the reading of a
host:port (their ADDRESS, forward's upstreams)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from kdns.corefile.tree import Directive, to_integer

log = logging.getLogger(__name__)

Route = tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


def split_host_port(text: str) -> tuple[str, str | None]:
    """The host and port text of "host", "host:port", "[IPv6]" or "[IPv6]:port"; port None when
    none is given. A bare IPv6 address ("::1") is all host. ValueError when the brackets or colons
    make no sense, so a typo is a config error and not a listen failure."""
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed:
            raise ValueError("missing ']'")
        if rest and not rest.startswith(":"):
            raise ValueError(f"'{rest}' after ']', expected ':PORT'")
        return host, rest[1:] if rest else None
    if "[" in text or "]" in text:
        raise ValueError("brackets go around the whole IPv6 address: [IPv6]:PORT")
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    if ":" in text:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            raise ValueError("neither HOST:PORT nor an IPv6 address") from None
    return text, None


def split_address(text: str, default_port: int) -> tuple[str, int]:
    """CoreDNS address forms: ":8080", "localhost:9153", "127.0.0.1", "[::1]:8080"."""
    host, port = split_host_port(text)
    if port is None:
        return host, default_port
    value = to_integer(port)
    if value is None:
        raise ValueError(f"port '{port}' is not a number")
    if not 0 <= value <= 65535:
        raise ValueError(f"port {port} out of range")
    return host, value


def address_arg(d: Directive, default: tuple[str, int], port_required: bool = False) -> tuple[str, int]:
    """The optional ADDRESS argument of health, ready, prometheus and pprof, or default.
    port_required: ADDRESS must name a port (pprof's, read by Go's net.SplitHostPort)."""
    args = d.expect_args(0, 1)
    if not args:
        return default
    try:
        if port_required and split_host_port(args[0])[1] is None:
            raise ValueError("missing port in address")
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


class EndpointService:
    """A service that is one HTTP endpoint (health, ready, prometheus): the app starts and stops it."""

    endpoint: HttpEndpoint

    async def start(self) -> None:
        await self.endpoint.start()

    async def stop(self) -> None:
        await self.endpoint.stop()
