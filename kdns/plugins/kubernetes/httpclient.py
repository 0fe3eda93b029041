"""HTTP/1.1 GETs on asyncio streams: all that list and watch ask of the API server.

One verb, JSON bodies, a few headers: bodies sized by Content-Length, chunked (every watch) or ended
by the close, gzip when the server compresses (kube-apiserver does for large lists, as client-go
asks), keep-alive connections reused for the pages of a list, an HTTP proxy from the kubeconfig or
the environment (CONNECT for https, as client-go). aiohttp's client did the same, but importing it
took ~90 ms of a start-up that must be over in 200 ms (its connector builds SSL contexts at import).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import ssl
import urllib.parse
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

# The most a status line and headers may take (kube-apiserver sends a few hundred bytes), and the
# reader's buffer: also the longest chunk-size line.
MAX_HEAD = 65536
# How many bytes a body read asks for at once.
_READ = 1 << 18
# Idle connections kept for reuse; a list pages through one, each watch holds its own.
_KEEP = 4


class HttpError(Exception):
    """No usable HTTP exchange: refused, reset, cut short, timed out or not HTTP at all."""


@dataclass(frozen=True)
class Url:
    scheme: str  # "http" or "https"
    host: str  # without brackets
    port: int
    path: str  # the base path, without a trailing slash
    userinfo: str = ""  # "user:password" of a proxy URL, still %-encoded

    @classmethod
    def parse(cls, text: str) -> Url:
        parts = urllib.parse.urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {text!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as e:
            raise ValueError(f"bad port in {text!r}: {e}") from None
        userinfo = parts.netloc.rpartition("@")[0]
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"), userinfo)

    @property
    def host_port(self) -> str:
        """host:port, an IPv6 address in brackets: CONNECT's target."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def authority(self) -> str:
        """The Host header: host:port without the scheme's default port."""
        default = 443 if self.scheme == "https" else 80
        return self.host_port if self.port != default else self.host_port.rpartition(":")[0]


def environment_proxy(url: Url, environ: Mapping[str, str] = os.environ) -> str | None:
    """The proxy HTTPS_PROXY / HTTP_PROXY names for url, read as client-go reads them
    (golang.org/x/net/http/httpproxy): the upper-case name first; a value without a scheme is an
    http:// one; never for localhost or a loopback address; not when NO_PROXY lists `*`, the host's
    address or a CIDR block holding it, or a domain name (`name` matches it and its subdomains,
    `.name` and `*.name` only the subdomains), each with an optional :PORT."""

    def var(name: str) -> str:
        return environ.get(name.upper()) or environ.get(name.lower()) or ""

    proxy = var(f"{url.scheme}_proxy")
    name = url.host.lower()
    if not proxy or name == "localhost":
        return None
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        return None
    port = str(url.port)
    for entry in var("no_proxy").split(","):
        entry = entry.strip().lower()
        if entry == "*":
            return None
        if "/" in entry:
            try:
                if address is not None and address in ipaddress.ip_network(entry, strict=False):
                    return None
            except ValueError:
                pass
            continue
        host, entry_port = _split_host_port(entry)
        try:
            if address is not None and address == ipaddress.ip_address(host):
                if not entry_port or entry_port == port:
                    return None
                continue
        except ValueError:
            pass
        if not host or (entry_port and entry_port != port):
            continue
        subdomains_only = host.startswith((".", "*."))
        host = host.lstrip("*").lstrip(".")
        if name.endswith("." + host) or (not subdomains_only and name == host):
            return None
    return proxy if "://" in proxy else "http://" + proxy


def _split_host_port(entry: str) -> tuple[str, str]:
    """A NO_PROXY entry's host (an IPv6 address without brackets) and port ("" without one)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, rest.removeprefix(":")
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, port
    return entry, ""


class Response:
    """The status and headers of an answer; its body read whole or piece by piece, once."""

    def __init__(self, client: HttpClient, conn: _Connection, version: str, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers
        self._client = client
        self._conn: _Connection | None = conn
        self._ended = False  # the body was read to its end: the connection may carry another GET
        connection = headers.get("connection", "").lower()
        self._keep = connection == "keep-alive" if version == "HTTP/1.0" else connection != "close"
        self._gzip = zlib.decompressobj(16 + zlib.MAX_WBITS) if headers.get("content-encoding") == "gzip" else None
        length = headers.get("content-length")
        if status in (204, 304):
            self._body = self._sized(0)
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._body = self._chunked()
        elif length is not None:
            if not length.isascii() or not length.isdigit():
                raise HttpError(f"bad Content-Length {length!r}")
            self._body = self._sized(int(length))
        else:
            self._keep = False
            self._body = self._until_close()

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([piece async for piece in self.pieces()])

    async def pieces(self, idle_timeout: float | None = None) -> AsyncIterator[bytes]:
        """The body as it arrives; HttpError when nothing came for idle_timeout seconds."""
        try:
            while True:
                try:
                    async with asyncio.timeout(idle_timeout):
                        piece = await anext(self._body, None)
                except TimeoutError:
                    raise HttpError(f"no data for {idle_timeout:g} s") from None
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
                    raise HttpError(f"reading the body: {_why(e)}") from None
                if piece is None:
                    break
                if self._gzip is not None:
                    try:
                        piece = self._gzip.decompress(piece)
                    except zlib.error as e:
                        raise HttpError(f"bad gzip body: {e}") from None
                if piece:
                    yield piece
        finally:
            self.close()

    def close(self) -> None:
        """Done with the answer: a connection read to the end goes back to the pool, any other closes."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._client._release(conn, self._keep and self._ended)

    async def _sized(self, length: int) -> AsyncIterator[bytes]:
        assert self._conn is not None
        reader = self._conn.reader
        while length:
            data = await reader.read(min(length, _READ))
            if not data:
                raise asyncio.IncompleteReadError(b"", length)
            length -= len(data)
            yield data
        self._ended = True

    async def _chunked(self) -> AsyncIterator[bytes]:
        assert self._conn is not None
        reader = self._conn.reader
        while True:
            line = await reader.readuntil(b"\r\n")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ValueError(f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers: none wanted
                    pass
                self._ended = True
                return
            yield await reader.readexactly(size)
            if await reader.readexactly(2) != b"\r\n":
                raise ValueError("chunk not followed by CRLF")

    async def _until_close(self) -> AsyncIterator[bytes]:
        assert self._conn is not None
        while data := await self._conn.reader.read(_READ):
            yield data


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()


class HttpClient:
    """GETs to one server (a base URL), over TLS when it is https, through a proxy when given."""

    def __init__(
        self, base: str, context: ssl.SSLContext | None = None, server_name: str | None = None,
        proxy: str | None = None,
    ) -> None:
        self.url = Url.parse(base)
        if self.url.scheme == "https" and context is None:
            context = ssl.create_default_context()
        self.context = context if self.url.scheme == "https" else None
        self.server_name = server_name or self.url.host
        if proxy and not proxy.startswith("http://"):
            raise ValueError(f"only http:// proxies are supported, not {proxy!r}")
        self.proxy = Url.parse(proxy) if proxy else None
        self._proxy_auth = ""
        if self.proxy is not None and self.proxy.userinfo:
            self._proxy_auth = f"Proxy-Authorization: {basic_auth(self.proxy.userinfo)}\r\n"
        self._idle: list[_Connection] = []

    async def get(self, target: str, headers: Mapping[str, str], connect_timeout: float) -> Response:
        """Send GET target (path and query under the base URL) and read the answer's head.

        A reused connection that the server had closed meanwhile is replaced once by a new one.
        Raises HttpError; the Response must be read to its end or closed.
        """
        conn = self._take()
        if conn is not None:
            try:
                resp = await self._exchange(conn, target, headers)
            except HttpError:
                conn.close()  # closed by the server while it was idle: once more, on a new one
            except BaseException:
                conn.close()
                raise
            else:
                if resp.status != 408:
                    return resp
                # A 408 on a kept connection is what a server said as it closed it while idle,
                # before this request came: as Go's transport, once more on a new one.
                resp.close()
        conn = await self._connect(connect_timeout)
        try:
            return await self._exchange(conn, target, headers)
        except BaseException:
            conn.close()
            raise

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn
            conn.close()
        return None

    def _release(self, conn: _Connection, reusable: bool) -> None:
        if reusable and len(self._idle) < _KEEP and not conn.reader.at_eof():
            self._idle.append(conn)
        else:
            conn.close()

    async def _connect(self, timeout: float) -> _Connection:
        peer = self.proxy or self.url
        tunnel = self.proxy is not None and self.context is not None
        conn = None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    peer.host, peer.port, limit=MAX_HEAD,
                    ssl=None if tunnel else self.context,
                    server_hostname=None if tunnel or self.context is None else self.server_name,
                )
                conn = _Connection(reader, writer)
                if tunnel:
                    assert self.context is not None
                    await self._tunnel(conn)
                    await writer.start_tls(self.context, server_hostname=self.server_name)
            return conn
        except BaseException as e:
            if conn is not None:
                conn.close()
            if isinstance(e, TimeoutError):
                raise HttpError(f"connecting to {peer.host_port}: timed out after {timeout:g} s") from None
            if isinstance(e, (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)):
                raise HttpError(f"connecting to {peer.host_port}: {_why(e)}") from None
            raise

    async def _tunnel(self, conn: _Connection) -> None:
        """CONNECT through the proxy to the server; TLS then runs inside the tunnel."""
        target = self.url.host_port
        conn.writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{self._proxy_auth}\r\n".encode("latin-1"))
        _, status, _ = await _read_head(conn.reader)
        if status != 200:
            raise OSError(f"the proxy refused CONNECT {target}: HTTP {status}")

    async def _exchange(self, conn: _Connection, target: str, headers: Mapping[str, str]) -> Response:
        path = self.url.path + target
        extra = ""
        if self.proxy is not None and self.context is None:
            # Plain http through a proxy: the absolute form, and the proxy's credentials.
            path, extra = f"http://{self.url.authority}{path}", self._proxy_auth
        head = f"GET {path} HTTP/1.1\r\nHost: {self.url.authority}\r\nAccept-Encoding: gzip\r\n{extra}"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        try:
            conn.writer.write((head + "\r\n").encode("latin-1"))
            await conn.writer.drain()
            version, status, response_headers = await _read_head(conn.reader)
            while 100 <= status < 200:  # interim answers (100 Continue, 103 Early Hints): the final follows
                version, status, response_headers = await _read_head(conn.reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
            raise HttpError(f"no answer: {_why(e)}") from None
        return Response(self, conn, version, status, response_headers)


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, int, dict[str, str]]:
    """The version, status code and headers (names in lower case) of an HTTP/1.x answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not (code.isascii() and code.isdigit()):
        raise HttpError(f"not an HTTP/1.x answer: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return version, int(code), headers


def _why(e: BaseException) -> str:
    """An I/O failure in words; the callers say which request (asyncio's wording for a stream
    closed early names byte counts, not what happened)."""
    if isinstance(e, asyncio.IncompleteReadError):
        return "the server closed the connection"
    return f"{type(e).__name__}: {e}"


def basic_auth(userinfo: str) -> str:
    """A Proxy-Authorization value for a proxy URL's user:password."""
    user, _, password = urllib.parse.unquote(userinfo).partition(":")
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
