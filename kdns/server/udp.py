"""The UDP side of a listener: the receive callback does the least work it can."""

from __future__ import annotations

import asyncio
import logging
import socket

from dnslib import RCODE

from kdns.server import wire
from kdns.server.mux import Listener
from kdns.server.settings import ServerSettings
from kdns.server.sockets import bound_socket

log = logging.getLogger(__name__)


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, listener: Listener, family: str, settings: ServerSettings) -> None:
        self.listener = listener
        self.family = family
        self.settings = settings
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        out = self.listener.table.answer(data, "udp", self.family)
        if out is not None:
            self.transport.sendto(out, addr)  # type: ignore[union-attr]
            return
        listener = self.listener
        if listener.inflight >= self.settings.max_inflight:
            # Overload policy: answer REFUSED from the header alone rather than queue without bound.
            if len(data) >= 12 and not data[2] & 0x80:
                self.transport.sendto(  # type: ignore[union-attr]
                    wire.error_reply(int.from_bytes(data[:2], "big"), data[2] << 8 | data[3], RCODE.REFUSED), addr
                )
            return
        task = asyncio.get_running_loop().create_task(self.answer(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def answer(self, data: bytes, addr: tuple[str, int]) -> None:
        listener = self.listener
        listener.inflight += 1
        try:
            out = await listener.handle(data, "udp", (addr[0], addr[1]), self.family)
        finally:
            listener.inflight -= 1
        if out is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(out, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to do.
        pass


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
