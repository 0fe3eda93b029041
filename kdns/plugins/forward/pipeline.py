"""One TCP or DNS-over-TLS connection carrying many queries at once.

RFC 7766 section 6.2.1.1 lets a client pipeline queries on one TCP connection, their answers coming
back in any order, each matched to its query by ID and question; RFC 7858 section 3.4 asks the same
of DNS-over-TLS. One reader task per connection hands every answer to the query waiting for it; an
answer nobody waits for (late, or forged) is dropped. On one connection, answers that arrive
together are one read, and the queries sent in one turn of the event loop one write (_send).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import ssl
import struct
import time
from collections.abc import Callable

_TWO = struct.Struct("!H")
# Linux only: acknowledge what arrives at once. The kernel drops back to delayed ACKs by itself, so
# it is set again after every answer.
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)

Matcher = Callable[[bytes], bool]


def _expire(done: asyncio.Future[bytes]) -> None:
    if not done.done():
        done.set_exception(TimeoutError())


class ConnectionGone(Exception):
    """The connection closed (or broke) with the query still unanswered."""


class PipelinedConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pending: dict[int, tuple[Matcher, asyncio.Future[bytes]]] = {}
        # When the last answer arrived (or the connection was made): idle expiry and wedge detection.
        self.heard = time.monotonic()
        self.closed = False
        # Frames to write at the end of this turn of the event loop (_send).
        self._outgoing: list[bytes] = []
        sock = writer.get_extra_info("socket")
        self._sock = sock if _QUICKACK is not None and sock is not None else None
        self._quickack()
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def dial(
        cls, host: str, port: int, timeout: float, context: ssl.SSLContext | None = None, server_name: str = "",
    ) -> PipelinedConnection:
        """Connect; with a TLS context, complete the handshake too (certificate chain and name verified)."""
        async with asyncio.timeout(timeout):
            if context is None:
                reader, writer = await asyncio.open_connection(host, port)
            else:
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=server_name, ssl_handshake_timeout=timeout,
                )
        return cls(reader, writer)

    def _quickack(self) -> None:
        """ACK the upstream's answers as they come, not 40 ms or more later (Linux's delayed ACK).

        An upstream writing without TCP_NODELAY (Debian's unbound 1.17 on its TLS port) holds a
        second small answer back under Nagle's algorithm until the first one is acknowledged; with
        delayed ACKs that is when our next query carries the ACK. After two answers at once (queries
        pipelined while the upstream resolved the first) every answer then waited for the next
        query: below some 25 queries a second each answer came one query late, and a client waiting
        less than the delayed-ACK timer never got one.
        """
        if self._sock is not None:
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                self._sock = None

    def usable(self, expire: float) -> bool:
        """Open, and not idle longer than expire (CoreDNS's `expire` for cached connections)."""
        if self.closed or self.writer.is_closing():
            return False
        return bool(self.pending) or time.monotonic() - self.heard <= expire

    def new_id(self) -> int:
        """A random ID no query in flight on this connection has (RFC 5452 section 9.2)."""
        while True:
            qid = secrets.randbits(16)
            if qid not in self.pending:
                return qid

    async def exchange(self, query: bytes, qid: int, match: Matcher, timeout: float) -> bytes:
        """Send query (whose ID is qid) and wait for its answer. Raises ConnectionGone, TimeoutError."""
        if self.closed:
            raise ConnectionGone("connection closed")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bytes] = loop.create_future()
        self.pending[qid] = (match, done)
        sent = time.monotonic()
        self._send(_TWO.pack(len(query)) + query)
        # A timer on the future itself: cheaper than asyncio.timeout(), which cancels the task.
        timer = loop.call_later(timeout, _expire, done)
        try:
            return await done
        except TimeoutError:
            if self.heard < sent:
                # Nothing at all came back since this query left: the connection is wedged (a peer
                # gone without a FIN or RST); a fresh one will be dialled for the next query.
                self.close()
            raise
        finally:
            timer.cancel()
            self.pending.pop(qid, None)

    def _send(self, frame: bytes) -> None:
        """Queue frame; everything queued in one turn of the event loop leaves in one write.

        The queries of one batch of client datagrams all reach here in the same turn: one system
        call (and, on loopback, one pass through the upstream's receive path) instead of one each.
        No drain(): what waits to be written is bounded by the queries in flight, each of which
        gives up after its read timeout.
        """
        if self._outgoing:
            self._outgoing.append(frame)
            return
        self._outgoing.append(frame)
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        frames = self._outgoing
        self._outgoing = []
        if self.closed:
            return  # the reader's end already failed every query waiting
        try:
            self.writer.write(frames[0] if len(frames) == 1 else b"".join(frames))
        except (OSError, RuntimeError) as e:
            self._fail(str(e) or type(e).__name__)
            self.close()

    async def _read_loop(self) -> None:
        reason = "connection closed by the upstream"
        try:
            while True:
                length = _TWO.unpack(await self.reader.readexactly(2))[0]
                data = await self.reader.readexactly(length)
                self.heard = time.monotonic()
                self._quickack()
                if len(data) < 12:
                    continue
                waiting = self.pending.get(_TWO.unpack_from(data)[0])
                if waiting is not None and not waiting[1].done() and waiting[0](data):
                    waiting[1].set_result(data)
        except asyncio.IncompleteReadError:
            pass
        except OSError as e:
            reason = str(e) or type(e).__name__
        finally:
            self.closed = True
            self.writer.close()
            self._fail(reason)

    def _fail(self, reason: str) -> None:
        """Every query still waiting gets ConnectionGone: none is left to its timeout."""
        for _match, done in self.pending.values():
            if not done.done():
                done.set_exception(ConnectionGone(reason))

    def close(self) -> None:
        self.closed = True
        self._fail("connection closed")
        self.writer.close()
        self._reader.cancel()

    async def aclose(self) -> None:
        self.close()
        try:
            await self._reader
        except asyncio.CancelledError:
            pass
