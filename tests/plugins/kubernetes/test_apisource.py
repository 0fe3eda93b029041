"""apisource.HttpTransport: every wait of a list or a watch is bounded, and a connection given up
is closed, against scripted servers on loopback (test_httpclient.py's)."""

from __future__ import annotations

import asyncio

import pytest

from kdns.plugins.kubernetes.apisource import HttpTransport
from kdns.plugins.kubernetes.credentials import Credentials
from kdns.plugins.kubernetes.settings import WatchSettings
from kdns.plugins.kubernetes.watch import ApiConnectionError
from tests.plugins.kubernetes.test_httpclient import Scripted, scripted

SETTINGS = WatchSettings(connect_timeout=2, list_timeout=0.3)


async def test_watch_whose_server_never_answers_ends_after_the_idle_timeout() -> None:
    # The server takes the request and says nothing: not even the head of the answer.
    closed = asyncio.Event()

    async def script(s: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await s.head(reader)
        await reader.read()
        closed.set()

    async with scripted(script) as server:
        transport = HttpTransport(Credentials(server.url), SETTINGS)
        async with asyncio.timeout(10):  # a bound on a hang, not a measured time
            with pytest.raises(ApiConnectionError, match="watch /api/v1/services: no answer in 0.2 s"):
                async for _ in transport.stream("/api/v1/services", {"watch": "true"}, 0.2):
                    pass
            await closed.wait()  # and kdns closed the connection
        await transport.close()


class Stuck(Credentials):
    """Credentials whose reload after a 401 never finishes (an exec plugin that hangs)."""

    async def refresh(self) -> None:
        await asyncio.Event().wait()


@pytest.mark.parametrize("watch", [False, True])
async def test_connection_of_a_401_is_closed_when_the_reload_is_given_up(watch: bool) -> None:
    closed = asyncio.Event()

    async def script(s: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await s.head(reader)
        writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}")
        await reader.read()
        closed.set()

    async with scripted(script) as server:
        transport = HttpTransport(Stuck(server.url), SETTINGS)
        async with asyncio.timeout(10):
            with pytest.raises(ApiConnectionError):
                if watch:
                    async for _ in transport.stream("/api/v1/services", {"watch": "true"}, 0.2):
                        pass
                else:
                    await transport.get("/api/v1/services", {})
            await closed.wait()
        await transport.close()


@pytest.mark.parametrize("answer, message", [
    (b"", "GET /api/v1/services: no answer: the server closed the connection"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "GET /api/v1/services: reading the body: the server closed the connection"),
])
async def test_connection_closed_early_is_said_once_in_words(answer: bytes, message: str) -> None:
    async def script(s: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await s.head(reader)
        writer.write(answer)

    async with scripted(script) as server:
        transport = HttpTransport(Credentials(server.url))
        with pytest.raises(ApiConnectionError) as failed:
            await transport.get("/api/v1/services", {"limit": "500"})
        await transport.close()
    assert str(failed.value) == message
