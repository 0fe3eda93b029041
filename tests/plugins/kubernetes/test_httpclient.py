"""httpclient: HTTP/1.1 framing, connection reuse and failures, against scripted servers on loopback.

The fake API (test_api_fake.py, test_credentials.py) covers the client as kdns uses it; here each
server answers with exactly the bytes a test gives, to reach framings and failures no well-behaved
server makes on demand.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from kdns.plugins.kubernetes.httpclient import HttpClient, HttpError, Url, environment_proxy

class Scripted:
    """A TCP server whose every connection runs script(reader, writer); counts connections and
    keeps the request heads it read with head()."""

    def __init__(self, script: Callable[[Scripted, asyncio.StreamReader, asyncio.StreamWriter], object]) -> None:
        self.script = script
        self.connections = 0
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def head(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        return head

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(self, reader, writer)  # type: ignore[misc]
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


@asynccontextmanager
async def scripted(script: Callable[..., object]) -> AsyncIterator[Scripted]:
    s = Scripted(script)
    s.server = await asyncio.start_server(s._serve, "127.0.0.1", 0)
    try:
        yield s
    finally:
        s.server.close()


def answering(answer: bytes, hold: bool = True) -> Callable[..., object]:
    """A script that reads one request and writes answer, then keeps the connection open until the
    client closes it (hold), or closes it at once."""

    async def script(s: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await s.head(reader)
        writer.write(answer)
        await writer.drain()
        if hold:
            await reader.read()

    return script


def sized(body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def test_content_length_bodies_share_one_kept_connection() -> None:
    async def script(s: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await s.head(reader)
            writer.write(sized(head.split(b" ")[1]))

    async with scripted(script) as server:
        client = HttpClient(server.url + "/base/")
        try:
            for n in range(3):
                resp = await client.get(f"/page?n={n}", {"Accept": "application/json"}, 1)
                assert resp.status == 200
                assert await resp.read() == f"/base/page?n={n}".encode()
        finally:
            await client.close()
    assert server.connections == 1
    assert all(b"\r\nAccept: application/json\r\n" in h and b"\r\nHost: 127.0.0.1:" in h for h in server.heads)


async def test_chunked_body_in_odd_pieces_and_trailers() -> None:
    body = b'{"type":"ADDED"}\n' * 50

    async def script(s: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await s.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(body), 77):
            piece = body[i:i + 77]
            # A chunk extension, and the size line split from its data across writes.
            writer.write(f"{len(piece):x};ext=1\r\n".encode())
            await writer.drain()
            writer.write(piece + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        await reader.read()

    async with scripted(script) as server:
        client = HttpClient(server.url)
        resp = await client.get("/watch", {}, 1)
        pieces = [p async for p in resp.pieces(idle_timeout=2)]
        await client.close()
    assert b"".join(pieces) == body and len(pieces) > 1


async def test_body_until_close_is_not_reused() -> None:
    async with scripted(answering(b"HTTP/1.0 200 OK\r\n\r\nall of it", hold=False)) as server:
        client = HttpClient(server.url)
        for _ in range(2):
            assert await (await client.get("/", {}, 1)).read() == b"all of it"
        await client.close()
    assert server.connections == 2


async def test_gzip_body_is_decoded_and_gzip_asked_for() -> None:
    body = b'{"items":[]}' * 1000

    async with scripted(answering(sized(gzip.compress(body), "Content-Encoding: gzip\r\n"))) as server:
        client = HttpClient(server.url)
        assert await (await client.get("/", {}, 1)).read() == body
        await client.close()
    assert b"\r\nAccept-Encoding: gzip\r\n" in server.heads[0]


async def test_kept_connection_closed_by_the_server_is_replaced_once() -> None:
    # Each connection is closed after one answer, as a server closing idle connections does,
    # without saying so first.
    async with scripted(answering(sized(b"one"), hold=False)) as server:
        client = HttpClient(server.url)
        assert await (await client.get("/", {}, 1)).read() == b"one"
        await asyncio.sleep(0.05)
        assert await (await client.get("/", {}, 1)).read() == b"one"
        await client.close()
    assert server.connections == 2


async def test_kept_connection_the_server_closed_with_a_408_is_replaced_once() -> None:
    # A server (or a proxy) closing an idle kept connection says 408 first, unasked: that answer
    # waits in the connection for the next request, and is not its answer.
    async def script(s: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await s.head(reader)
        writer.write(sized(b"one"))
        writer.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()

    async with scripted(script) as server:
        client = HttpClient(server.url)
        for _ in range(2):
            resp = await client.get("/", {}, 1)
            assert (resp.status, await resp.read()) == (200, b"one")
        await client.close()
    assert server.connections == 2


@pytest.mark.parametrize("answer", [sized(b"x", "Connection: close\r\n"), b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"])
async def test_connection_close_answer_is_not_kept(answer: bytes) -> None:
    async with scripted(answering(answer)) as server:
        client = HttpClient(server.url)
        for _ in range(2):
            assert await (await client.get("/", {}, 1)).read() == b"x"
        await client.close()
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer, message",
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP/1.x answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "reading the body"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: \xc2\xb2\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope", "bad gzip body"),
    ],
)
async def test_broken_answers_are_http_errors(answer: bytes, message: str) -> None:
    async with scripted(answering(answer, hold=False)) as server:
        client = HttpClient(server.url)
        with pytest.raises(HttpError, match=message):
            await (await client.get("/", {}, 1)).read()
        await client.close()


async def test_interim_answers_before_the_final_one_are_skipped() -> None:
    # RFC 9112 section 4 / RFC 9110 15.2: a client reads any number of 1xx answers it did not ask for.
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n"
    async with scripted(answering(interim + sized(b"ok"), hold=False)) as server:
        client = HttpClient(server.url)
        resp = await client.get("/", {}, 1)
        assert (resp.status, await resp.read()) == (200, b"ok")
        await client.close()


async def test_silent_stream_ends_after_the_idle_timeout() -> None:
    # One chunk, then nothing.
    async with scripted(answering(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhi\n\r\n")) as server:
        client = HttpClient(server.url)
        resp = await client.get("/", {}, 1)
        got = []
        with pytest.raises(HttpError, match="no data for 0.2 s"):
            async for piece in resp.pieces(idle_timeout=0.2):
                got.append(piece)
        await client.close()
    assert got == [b"hi\n"]


async def test_refused_connection_is_an_http_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = HttpClient(f"http://127.0.0.1:{port}")
    with pytest.raises(HttpError, match=f"connecting to 127.0.0.1:{port}"):
        await client.get("/", {}, 1)


async def test_plain_http_through_a_proxy_uses_the_absolute_form_and_its_credentials() -> None:
    async with scripted(answering(sized(b"via proxy"))) as proxy:
        proxy_url = proxy.url.replace("http://", "http://kdns:p%40ss@")
        client = HttpClient("http://api.test:8080/", proxy=proxy_url)
        assert await (await client.get("/api/v1/services?limit=1", {}, 1)).read() == b"via proxy"
        await client.close()
    head = proxy.heads[0].decode()
    assert head.startswith("GET http://api.test:8080/api/v1/services?limit=1 HTTP/1.1\r\n")
    assert "\r\nProxy-Authorization: Basic a2RuczpwQHNz\r\n" in head  # kdns:p@ss


def test_only_http_proxies() -> None:
    with pytest.raises(ValueError, match="only http:// proxies"):
        HttpClient("https://10.0.0.1:6443", proxy="socks5://127.0.0.1:1080")


@pytest.mark.parametrize(
    "url, environ, proxy",
    [
        ("https://10.96.0.1:443", {"HTTPS_PROXY": "http://p:3128"}, "http://p:3128"),
        ("https://10.96.0.1:443", {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"}, "http://upper:1"),
        ("https://10.96.0.1:443", {"https_proxy": "http://lower:1"}, "http://lower:1"),
        # A value without a scheme is an http:// proxy (a common way to write it).
        ("https://10.96.0.1:443", {"HTTPS_PROXY": "proxy.corp:3128"}, "http://proxy.corp:3128"),
        ("https://10.96.0.1:443", {"HTTPS_PROXY": "10.0.0.9:3128"}, "http://10.0.0.9:3128"),
        # localhost and loopback addresses: never through a proxy.
        ("https://127.0.0.1:6443", {"HTTPS_PROXY": "http://p:3128"}, None),
        ("https://[::1]:6443", {"HTTPS_PROXY": "http://p:3128"}, None),
        ("https://localhost:6443", {"HTTPS_PROXY": "http://p:3128"}, None),
        # Addresses, with a port or not, compared as addresses.
        ("https://10.96.0.1:443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "10.96.0.1:443"}, None),
        ("https://10.96.0.1:443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "10.96.0.1:6443"}, "http://p:3128"),
        ("https://[fd00::1]:443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "fd00:0::1"}, None),
        ("https://[fd00::1]:443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "[fd00::1]:443"}, None),
        ("https://[fd00::1]:443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "[fd00::1]:80"}, "http://p:3128"),
        # `.name` and `*.name`: subdomains only; `name`: itself too.
        ("https://cluster.test:6443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ".cluster.test"}, "http://p:3128"),
        ("https://api.cluster.test:6443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*.cluster.test"}, None),
        ("https://cluster.test:6443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*.cluster.test"}, "http://p:3128"),
        ("https://cluster.test:6443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "cluster.test"}, None),
        ("http://10.96.0.1:80", {"HTTPS_PROXY": "http://p:3128"}, None),
        ("https://10.96.0.1:443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "10.96.0.0/12"}, None),
        ("https://10.96.0.1:443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "10.0.0.0/24"}, "http://p:3128"),
        ("https://api.cluster.test:6443", {"HTTPS_PROXY": "http://p:3128", "no_proxy": ".cluster.test"}, None),
        ("https://api.cluster.test:6443", {"HTTPS_PROXY": "http://p:3128", "no_proxy": "cluster.test:6443"}, None),
        ("https://api.cluster.test:6443", {"HTTPS_PROXY": "http://p:3128", "no_proxy": "cluster.test:443"}, "http://p:3128"),
        ("https://api.cluster.test:6443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"}, None),
        ("https://notcluster.test:6443", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "cluster.test"}, "http://p:3128"),
    ],
)
def test_environment_proxy(url: str, environ: dict[str, str], proxy: str | None) -> None:
    assert environment_proxy(Url.parse(url), environ) == proxy


def test_url_authority() -> None:
    assert Url.parse("https://[fd00::1]:443/").authority == "[fd00::1]"
    assert Url.parse("https://[fd00::1]:6443").host_port == "[fd00::1]:6443"
    assert Url.parse("http://h:8080/x/").path == "/x"
