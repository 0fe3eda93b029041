"""One DNS-over-TLS connection carrying many queries at once.

RFC 7858 section 3.4 asks clients to reuse a TLS connection and to pipeline: several queries in
flight, their answers in any order (RFC 7766 section 6.2.1.1), each matched to its query by ID and
question. One reader task per connection hands every answer to the query waiting for it; an answer
nobody waits for (late, or forged) is dropped.
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
        sock = writer.get_extra_info("socket")
        self._sock = sock if _QUICKACK is not None and sock is not None else None
        self._quickack()
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def dial(
        cls, host: str, port: int, context: ssl.SSLContext, server_name: str, timeout: float,
    ) -> PipelinedConnection:
        """Connect and complete the TLS handshake (certificate chain and name verified)."""
        async with asyncio.timeout(timeout):
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
        done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[qid] = (match, done)
        sent = time.monotonic()
        try:
            self.writer.write(_TWO.pack(len(query)) + query)
            async with asyncio.timeout(timeout):
                await self.writer.drain()
                return await done
        except TimeoutError:
            if self.heard < sent:
                # Nothing at all came back since this query left: the connection is wedged (a peer
                # gone without a FIN or RST); a fresh one will be dialled for the next query.
                self.close()
            raise
        except (OSError, RuntimeError) as e:
            self.close()
            raise ConnectionGone(str(e)) from None
        finally:
            self.pending.pop(qid, None)

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
            for _match, done in self.pending.values():
                if not done.done():
                    done.set_exception(ConnectionGone(reason))

    def close(self) -> None:
        self.closed = True
        self.writer.close()
        self._reader.cancel()

    async def aclose(self) -> None:
        self.close()
        try:
            await self._reader
        except asyncio.CancelledError:
            pass
