"""The HTTP listener of health, ready, metrics and pprof (server/http.py), over real sockets: an HTTP
client library, curl-like raw requests, and what a broken or hostile client sends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from kdns.server.http import HttpEndpoint, HttpRequest, HttpResponse


@asynccontextmanager
async def endpoint() -> AsyncIterator[tuple[HttpEndpoint, list[HttpRequest]]]:
    seen: list[HttpRequest] = []

    async def ok(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse("OK")

    async def down(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"kubernetes", 503, "text/plain")

    async def broken(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("an endpoint's own bug")

    server = HttpEndpoint("127.0.0.1", 0, [("/ready", ok), ("/down", down), ("/broken", broken)])
    await server.start()
    try:
        yield server, seen
    finally:
        await server.stop()


async def raw(port: int, request: bytes, read_all: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536) if not read_all else reader.read(), 3)
    finally:
        writer.close()


async def test_a_client_library_gets_status_body_and_type_on_one_kept_connection() -> None:
    async with endpoint() as (server, seen), aiohttp.ClientSession() as session:
        assert server.port != 0
        for _ in range(3):
            async with session.get(f"http://127.0.0.1:{server.port}/ready?seconds=5&x=1") as resp:
                assert resp.status == 200 and await resp.text() == "OK"
                assert resp.content_type == "text/plain"
        async with session.get(f"http://127.0.0.1:{server.port}/down") as resp:
            assert resp.status == 503 and await resp.text() == "kubernetes"
        async with session.get(f"http://127.0.0.1:{server.port}/nothing") as resp:
            assert resp.status == 404
        async with session.post(f"http://127.0.0.1:{server.port}/ready", data=b"x" * 100) as resp:
            assert resp.status == 405
        assert [(r.method, r.path, r.query) for r in seen] == [("GET", "/ready", {"seconds": "5", "x": "1"})] * 3
        assert len(server.connections) == 1  # keep-alive: one connection for all of them


async def test_http_1_0_and_connection_close_end_the_connection_and_head_has_no_body() -> None:
    async with endpoint() as (server, _):
        out = await raw(server.port, b"GET /ready HTTP/1.0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"\r\n\r\nOK")
        assert b"Connection: close" in out
        out = await raw(server.port, b"HEAD /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b"Content-Length: 2\r\n" in out and out.endswith(b"\r\n\r\n")


async def test_garbage_gets_400_or_a_closed_connection_and_the_endpoint_goes_on() -> None:
    async with endpoint() as (server, _):
        assert (await raw(server.port, b"hello\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        assert (await raw(server.port, b"GET /ready HTTP/1.1\r\nContent-Length: -1\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        # Content-Length in digits Python's int() reads but HTTP does not, or larger than kdns buffers.
        for length in (b"\xc2\xb2", b"99999999999", b"20000"):
            out = await raw(server.port, b"GET /ready HTTP/1.1\r\nContent-Length: " + length + b"\r\n\r\n")
            assert out.startswith(b"HTTP/1.1 400 "), length
        # A head without end, longer than any probe's: the connection is dropped unanswered.
        assert await raw(server.port, b"GET /ready HTTP/1.1\r\nX: " + b"a" * 40000) == b""
        # A client that hangs up half-way.
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /rea")
        writer.close()
        out = await raw(server.port, b"GET /ready HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 OK")


async def test_stop_closes_idle_connections_and_the_port() -> None:
    async with endpoint() as (server, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /ready HTTP/1.1\r\n\r\n")
        await writer.drain()
        assert (await reader.readuntil(b"\r\n\r\nOK")).startswith(b"HTTP/1.1 200")
        port = server.port
    assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by stop()
    writer.close()
    try:
        await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        pass
    else:
        raise AssertionError("the port still accepts connections after stop()")


async def test_an_endpoint_that_raises_gets_a_500_and_the_connection_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    async with endpoint() as (server, seen), aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{server.port}/broken") as resp:
            assert resp.status == 500
        async with session.get(f"http://127.0.0.1:{server.port}/ready") as resp:
            assert resp.status == 200
        assert len(server.connections) == 1
    assert any(r.levelname == "ERROR" and "/broken" in r.getMessage() for r in caplog.records)
