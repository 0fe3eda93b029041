"""DNS over TCP (RFC 7766): length-prefixed frames, pipelined queries, answers sent as they are ready."""

from __future__ import annotations

import asyncio
import socket
import struct

from kdns.server.mux import Listener
from kdns.server.settings import ServerSettings
from kdns.server.sockets import bound_socket


class TcpState:
    """Connections of one TCP listener, for the cap and for closing them on stop."""

    def __init__(self) -> None:
        self.connections: set[TcpProtocol] = set()


class TcpProtocol(asyncio.Protocol):
    def __init__(self, listener: Listener, family: str, settings: ServerSettings, state: TcpState) -> None:
        self.listener = listener
        self.family = family
        self.settings = settings
        self.state = state
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.peer: tuple[str, int] = ("", 0)
        self.tasks: set[asyncio.Task[None]] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if len(self.state.connections) >= self.settings.tcp_max_connections:
            transport.abort()  # type: ignore[attr-defined]
            return
        self.state.connections.add(self)
        peer = transport.get_extra_info("peername") or ("", 0)
        self.peer = (peer[0], peer[1])
        self._arm(self.settings.tcp_idle_timeout)

    def _arm(self, seconds: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(seconds, self._timeout)

    def _timeout(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        frame_started = not buf
        buf += data
        while len(buf) >= 2:
            size = buf[0] << 8 | buf[1]
            if len(buf) < 2 + size:
                break
            message = bytes(buf[2 : 2 + size])
            del buf[: 2 + size]
            frame_started = True
            self._query(message)
        if not buf:
            self._arm(self.settings.tcp_idle_timeout)
        elif frame_started:
            # A frame, once begun, must arrive whole within the read timeout; more bytes of the
            # same frame do not extend it (a peer sending one byte a second is cut off).
            self._arm(self.settings.tcp_read_timeout)

    def _query(self, message: bytes) -> None:
        out = self.listener.table.answer(message, "tcp", self.family)
        if out is not None:
            self._send(out)
            return
        task = asyncio.get_running_loop().create_task(self._answer(message))
        self.tasks.add(task)
        task.add_done_callback(self._done)
        if len(self.tasks) >= self.settings.tcp_max_inflight_per_connection and not self.paused:
            self.paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if self.paused and len(self.tasks) < self.settings.tcp_max_inflight_per_connection:
            self.paused = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

    async def _answer(self, message: bytes) -> None:
        out = await self.listener.handle(message, "tcp", self.peer, self.family)
        if out is None:
            # RFC 7766 section 8: a message we will not answer ends the connection.
            if self.transport is not None:
                self.transport.close()
            return
        if out:  # SILENT (acl's drop): nothing, and the connection stays open
            self._send(out)

    def _send(self, out: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(struct.pack("!H", len(out)) + out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        for task in self.tasks:
            task.cancel()


def tcp_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    sock = bound_socket(host, port, socket.SOCK_STREAM, reuse_port)
    try:
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock
