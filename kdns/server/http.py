"""A small HTTP listener for the health, ready, metrics and pprof endpoints, and the reading of a
host:port (their ADDRESS, forward's upstreams)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kdns.corefile.tree import Directive, to_integer

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: dict[str, str]


@dataclass(frozen=True)
class HttpResponse:
    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]
Route = tuple[str, Handler]

# The most a request line and its headers may take; a probe's is a few hundred bytes.
_MAX_HEAD = 16384
_CONTENT_LENGTH = re.compile(r"[0-9]{1,9}")
# An idle keep-alive connection is closed after this long (the kubelet opens one per probe).
_IDLE = 60.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error",
            503: "Service Unavailable"}


class HttpEndpoint:
    """GET (and HEAD) of a few fixed paths over HTTP/1.1, on asyncio streams.

    All health, ready, metrics and pprof need: a full web framework (aiohttp.web) took a third of
    kdns's start-up to import, for a handful of probes a minute.
    """

    def __init__(self, host: str, port: int, routes: list[Route]) -> None:
        self.host = host
        self.port = port
        self.routes = dict(routes)
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._serve, self.host or None, self.port, reuse_address=True, limit=_MAX_HEAD,
        )
        if self.port == 0 and self.server.sockets:
            self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self.connections):
            writer.close()
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _IDLE)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
                    return
                keep = await self._answer(head, reader, writer)
                await writer.drain()
                if not keep:
                    return
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            return
        finally:
            self.connections.discard(writer)
            writer.close()

    async def _answer(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer the request whose head is given; whether the connection stays open."""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._write(writer, HttpResponse("bad request\n", 400), False, False)
            return False
        method, target, version = parts
        # ASCII digits only (str.isdigit takes '²', which int() refuses), and no body larger than a
        # head: no endpoint reads one, and a client must not make kdns buffer what it likes.
        length = headers.get("content-length", "0")
        if not _CONTENT_LENGTH.fullmatch(length) or int(length) > _MAX_HEAD:
            self._write(writer, HttpResponse("bad Content-Length\n", 400), False, False)
            return False
        if int(length):
            await asyncio.wait_for(reader.readexactly(int(length)), _IDLE)
        connection = headers.get("connection", "").lower()
        keep = connection == "keep-alive" if version == "HTTP/1.0" else connection != "close"
        path, _, query = target.partition("?")
        handler = self.routes.get(path)
        if method not in ("GET", "HEAD"):
            response = HttpResponse("method not allowed\n", 405)
        elif handler is None:
            response = HttpResponse("404: Not Found", 404)
        else:
            try:
                response = await handler(HttpRequest(method, path, dict(urllib.parse.parse_qsl(query))))
            except Exception:  # an endpoint's bug: a 500 and its traceback, as aiohttp.web gave
                log.exception("%s %s", method, path)
                response = HttpResponse("500: Internal Server Error\n", 500)
        self._write(writer, response, keep, method == "HEAD")
        return keep

    @staticmethod
    def _write(writer: asyncio.StreamWriter, response: HttpResponse, keep: bool, head_only: bool) -> None:
        body = response.body.encode() if isinstance(response.body, str) else response.body
        status = response.status
        writer.write(
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: {response.content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: {'keep-alive' if keep else 'close'}\r\n\r\n".encode()
        )
        if not head_only:
            writer.write(body)


class EndpointService:
    """A service that is one HTTP endpoint (health, ready, prometheus): the app starts and stops it."""

    endpoint: HttpEndpoint

    async def start(self) -> None:
        await self.endpoint.start()

    async def stop(self) -> None:
        await self.endpoint.stop()
