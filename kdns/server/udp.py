"""The UDP side of a listener: the receive path does the least work it can.

On Linux a socket is read in batches (BatchedUdp: recvmmsg/sendmmsg, kdns/server/_mmsg.c, or
kdns/server/mmsg.py where that was not compiled) straight from the event loop's reader callback;
elsewhere, or with `udp_batch = 0`, through an asyncio datagram transport (UdpProtocol). Both
answer from the fast-path table inline, and run a miss's slow path inline too, handing it to a task
only if its chain suspends (UdpServer.miss).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import socket
import types
from collections.abc import Coroutine, Generator
from typing import Any

from dnslib import RCODE

from kdns.server import mmsg, wire
from kdns.server.mux import Listener
from kdns.server.settings import ServerSettings
from kdns.server.sockets import Address, bound_socket

log = logging.getLogger(__name__)



class UdpServer:
    """What both ways of reading a UDP socket share: the slow path for a fast-path miss."""

    def __init__(self, listener: Listener, family: str, settings: ServerSettings) -> None:
        self.listener = listener
        self.family = family
        self.settings = settings
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = False

    def send(self, out: bytes, addr: Address) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def miss(self, data: bytes, addr: Address) -> bytes | None:
        """The slow path for one query: its answer when the chain finished without suspending.

        The chain runs at once, inside the reader callback, much as Python 3.12's eager tasks do: a
        kubernetes answer never suspends, and the task (with the separate send that followed it)
        was about a tenth of a first query's cost. A chain that does suspend (forward, a CNAME
        chased through the chain) goes on as a task from there, under the overload limit. Until
        then there is no current task: a plugin that needs one awaits chain.in_task() first.
        """
        listener = self.listener
        if listener.inflight >= self.settings.max_inflight:
            # Overload policy: answer REFUSED from the header alone rather than queue without bound.
            if len(data) >= 12 and not data[2] & 0x80:
                return wire.error_reply(int.from_bytes(data[:2], "big"), data[2] << 8 | data[3], RCODE.REFUSED)
            return None
        coro = listener.handle(data, "udp", (addr[0], addr[1]), self.family)
        # Its own context, which the task inherits: context variables set by the chain stay its own.
        context = contextvars.Context()
        try:
            waiting = context.run(coro.send, None)
        except StopIteration as done:
            return done.value or None  # SILENT: no datagram at all
        except Exception:
            log.exception("answering %s", addr[0])
            return None
        # Counted from now, not from when the task first runs: a batch of misses must see each
        # other; uncounted by the done callback, which runs even for a task cancelled unstarted.
        listener.inflight += 1
        task = asyncio.get_running_loop().create_task(self._finish(coro, waiting, addr), context=context)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return None

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.listener.inflight -= 1

    async def _finish(self, coro: Coroutine[Any, Any, bytes | None], waiting: Any, addr: Address) -> None:
        out = await _resume(coro, waiting)
        if out and not self.closed:  # neither a drop (None) nor SILENT
            self.send(out, addr)


@types.coroutine
def _resume(coro: Coroutine[Any, Any, bytes | None], waiting: Any) -> Generator[Any, Any, bytes | None]:
    """Await a coroutine that has already run up to its first suspension, on `waiting`.

    What `await` does for a fresh coroutine, from the second step on: whatever the task sends or
    throws in (a result, a cancellation) goes to the coroutine, and what it yields to the task.
    """
    while True:
        value, thrown = None, None
        try:
            value = yield waiting
        except BaseException as e:
            thrown = e
        try:
            waiting = coro.send(value) if thrown is None else coro.throw(thrown)
        except StopIteration as done:
            return done.value


class BatchedUdp(UdpServer):
    """A socket read by the event loop's reader callback, a batch of datagrams per system call."""

    def __init__(self, sock: socket.socket, listener: Listener, family: str, settings: ServerSettings) -> None:
        super().__init__(listener, family, settings)
        self.sock = sock
        self.batch = mmsg.new_batch(sock, settings.udp_batch)
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(sock.fileno(), self.readable)

    def readable(self) -> None:
        try:
            self.batch.serve(self.listener.table, self.family, self.miss)
        except OSError as e:
            log.warning("reading UDP on %s: %s", self.listener.server, e)

    def send(self, out: bytes, addr: Address) -> None:
        try:
            self.sock.sendto(out, addr)
        except OSError:
            # A full send buffer or an unreachable source: the datagram is lost, the client retries.
            pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.batch.close()


class UdpProtocol(UdpServer, asyncio.DatagramProtocol):
    """A socket read through an asyncio datagram transport, one datagram per callback."""

    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        out = self.listener.table.answer(data, "udp", self.family)
        if out is None:
            out = self.miss(data, addr)
        if out is not None:
            self.transport.sendto(out, addr)

    def send(self, out: bytes, addr: Address) -> None:
        if not self.transport.is_closing():
            self.transport.sendto(out, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to do.
        pass

    def close(self) -> None:
        self.closed = True
        self.transport.close()


@functools.cache
def _say_not_compiled() -> None:
    # setup.py builds the module only where a C compiler and the Python headers were at hand; pip
    # hides its warning, so an operator would otherwise never learn why queries cost more.
    log.warning("kdns.server._mmsg was not built at install: UDP is served through ctypes, at more CPU per query")


async def serve_udp(sock: socket.socket, listener: Listener, family: str, settings: ServerSettings) -> UdpServer:
    """Start answering on a bound UDP socket, in batches where the platform allows."""
    if settings.udp_batch and mmsg.available():
        if mmsg.CompiledBatch is None:
            _say_not_compiled()
        return BatchedUdp(sock, listener, family, settings)
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(lambda: UdpProtocol(listener, family, settings), sock=sock)
    return protocol


def udp_socket(host: str, port: int, settings: ServerSettings, reuse_port: bool = False) -> socket.socket:
    def buffers(sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, settings.udp_receive_buffer)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.udp_send_buffer)

    sock = bound_socket(host, port, socket.SOCK_DGRAM, reuse_port, buffers)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2  # Linux reports double
    if granted < settings.udp_receive_buffer:
        log.warning(
            "UDP receive buffer on %s:%d is %d bytes, asked for %d: raise net.core.rmem_max",
            host, port, granted, settings.udp_receive_buffer,
        )
    return sock
