"""One upstream server: exchanges over UDP, TCP and DNS-over-TLS, its connection, and its health.

Spoofing resistance (RFC 5452 section 9): every exchange uses a fresh random ID and, over UDP, a new
socket on a kernel-chosen random port, connect()ed to the upstream so the kernel itself discards
datagrams from any other address or port. An answer is only taken when its source, ID and question
(name compared case-insensitively, type, class) all match what was sent; anything else is dropped and
the wait goes on until the read timeout (RFC 5452 section 4.1-4.3).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import struct
import time

from kdns.plugins.forward.config import Config, Upstream
from kdns.plugins.forward.metrics import UpstreamMetrics
from kdns.plugins.forward.pipeline import ConnectionGone, Matcher, PipelinedConnection
from kdns.server.chain import in_task
from kdns.server.wire import wire_name

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!HHH")
_TWO = struct.Struct("!H")
_QTAIL = struct.Struct("!HH")
RCODE_NAMES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE",
}


class UpstreamError(Exception):
    """An exchange that produced no usable answer (network error, timeout, closed connection)."""


def matcher(qid: int, labels: tuple[bytes, ...], qtype: int, qclass: int) -> Matcher:
    """A test that a packet is the answer to exactly this question with this ID.

    The answer's question is compared as bytes: it follows the header, where no compression
    pointer can point (a pointer only points backwards, at a name), so the name is written out in
    full. Its labels compare case-insensitively (bytes.lower leaves length octets, all below 64,
    alone), its type and class exactly.
    """
    name = wire_name(labels).lower()
    end = 12 + len(name)
    tail = _QTAIL.pack(qtype, qclass)

    def match(data: bytes) -> bool:
        if len(data) < end + 4:
            return False
        rid, flags, qdcount = _HEADER.unpack_from(data)
        if rid != qid or not flags & 0x8000 or qdcount != 1:
            return False
        return data[end : end + 4] == tail and data[12:end].lower() == name

    return match


def with_id(wire: bytes, qid: int) -> bytes:
    return _TWO.pack(qid) + wire[2:]


class _UdpExchange(asyncio.DatagramProtocol):
    def __init__(self, peer: tuple[str, int], match: Matcher, done: asyncio.Future[bytes]) -> None:
        self.peer = peer
        self.match = match
        self.done = done

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # The socket is connected, so the kernel filters sources; checking again costs nothing.
        if self.done.done() or (addr[0], addr[1]) != self.peer or not self.match(data):
            return
        self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: this upstream will not answer.
        if not self.done.done():
            self.done.set_exception(UpstreamError(f"udp: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(UpstreamError("udp socket closed"))


class Proxy:
    """An upstream as forward uses it (CoreDNS plugin/pkg/proxy.Proxy)."""

    def __init__(self, upstream: Upstream, config: Config, tls_context: ssl.SSLContext | None) -> None:
        """tls_context: the forward line's TLS client context (TlsClient.context()), which a tls://
        upstream must be given; None for a line without one."""
        self.upstream = upstream
        self.peer = (upstream.host, upstream.port)
        self.config = config
        self.timeouts = config.timeouts
        self.metrics = UpstreamMetrics(upstream.label)
        # Consecutive failed health probes; reset by the first probe that gets an answer.
        self.fails = 0
        # TCP and DNS-over-TLS: one pipelined connection, and the dial in progress that queries share.
        self._tls_context = tls_context if upstream.tls else None
        # The conn cache metrics' proto label, and how errors name the transport.
        self._stream_proto = "tcp-tls" if upstream.tls else "tcp"
        self._stream_name = "tls" if upstream.tls else "tcp"
        self._conn: PipelinedConnection | None = None
        self._dial: asyncio.Task[PipelinedConnection] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._stopped = False

    def __repr__(self) -> str:
        return f"<Proxy {self.upstream.label} fails={self.fails}>"

    @property
    def label(self) -> str:
        return self.upstream.label

    def down(self) -> bool:
        """Out of rotation: max_fails consecutive probes got no answer (0 disables health checks)."""
        max_fails = self.config.max_fails
        return max_fails != 0 and self.fails >= max_fails

    async def exchange(
        self, wire: bytes, labels: tuple[bytes, ...], qtype: int, qclass: int, tcp: bool, budget: float,
    ) -> bytes:
        """The upstream's answer to the query in wire (whose ID is replaced), within budget seconds.

        A truncated UDP answer is asked again over TCP; a DNS-over-TLS upstream is always asked over
        TLS. Raises UpstreamError.
        """
        start = time.perf_counter()
        self.metrics.requests.inc()
        deadline = time.monotonic() + budget
        if tcp or self.upstream.tls:
            data = await self._stream(wire, labels, qtype, qclass, deadline)
        else:
            data = await self._udp_exchange(wire, labels, qtype, qclass, deadline)
            if data[2] & 0x02:
                # RFC 7766 section 5 / RFC 1035 4.2.1: TC=1 means the answer did not fit; TCP gets it whole.
                data = await self._stream(wire, labels, qtype, qclass, deadline)
        rcode = data[3] & 0x0F
        self.metrics.response(RCODE_NAMES.get(rcode, str(rcode)), time.perf_counter() - start)
        return data

    async def _udp_exchange(
        self, wire: bytes, labels: tuple[bytes, ...], qtype: int, qclass: int, deadline: float,
    ) -> bytes:
        qid = secrets.randbits(16)
        timeout = min(self.timeouts.read, deadline - time.monotonic())
        if timeout <= 0:
            raise UpstreamError("out of time")
        self.metrics.conn_misses["udp"].inc()
        return await self._udp(with_id(wire, qid), matcher(qid, labels, qtype, qclass), timeout)

    async def _udp(self, query: bytes, match: Matcher, timeout: float) -> bytes:
        await in_task()  # the exchange's timeout belongs to the query's task
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bytes] = loop.create_future()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpExchange(self.peer, match, done), remote_addr=self.peer,
            )
        except OSError as e:
            raise UpstreamError(f"udp: {e}") from None
        try:
            transport.sendto(query)
            async with asyncio.timeout(timeout):
                return await done
        except TimeoutError:
            raise UpstreamError("udp: timeout") from None
        finally:
            transport.close()
            if not done.done():
                done.cancel()

    async def _stream(
        self, wire: bytes, labels: tuple[bytes, ...], qtype: int, qclass: int, deadline: float,
    ) -> bytes:
        """Over the pipelined TCP or TLS connection; once more on a fresh one if a reused one was gone."""
        name = self._stream_name
        for attempt in (0, 1):
            timeout = min(self.timeouts.read, deadline - time.monotonic())
            if timeout <= 0:
                raise UpstreamError("out of time")
            conn, reused = await self._connection(timeout)
            qid = conn.new_id()
            try:
                return await conn.exchange(with_id(wire, qid), qid, matcher(qid, labels, qtype, qclass), timeout)
            except TimeoutError:
                raise UpstreamError(f"{name}: timeout") from None
            except ConnectionGone as e:
                if not reused or attempt:
                    raise UpstreamError(f"{name}: {e}") from None
        raise AssertionError("unreachable")

    async def _connection(self, timeout: float) -> tuple[PipelinedConnection, bool]:
        """The open connection (True: reused), or a new one; concurrent queries share one dial."""
        conn = self._conn
        proto = self._stream_proto
        if conn is not None and conn.usable(self.config.expire):
            self.metrics.conn_hits[proto].inc()
            return conn, True
        if conn is not None:
            conn.close()
            self._conn = None
        if self._stopped:
            raise UpstreamError("stopped")
        if self._dial is None or self._dial.done():
            # A miss is a new connection (and its handshake); a query joining a dial in progress shares it.
            self.metrics.conn_misses[proto].inc()
            self._dial = asyncio.get_running_loop().create_task(self._dial_shared())
            # Its waiters may all have timed out: the failure is theirs to report, not the loop's.
            self._dial.add_done_callback(lambda t: t.cancelled() or t.exception())
        else:
            self.metrics.conn_hits[proto].inc()
        dial = self._dial
        await in_task()  # the wait's timeout belongs to the query's task
        try:
            async with asyncio.timeout(timeout):
                conn = await asyncio.shield(dial)
        except TimeoutError:
            raise UpstreamError(f"{self._stream_name}: connect timeout") from None
        except asyncio.CancelledError:
            # stop() cancelled the shared dial (a reload retiring this chain), not this query's
            # task: the query fails like any upstream failure instead of ending unanswered.
            task = asyncio.current_task()
            if dial.cancelled() and task is not None and not task.cancelling():
                raise UpstreamError("stopped") from None
            raise
        return conn, False

    async def _dial_shared(self) -> PipelinedConnection:
        conn = await self._dial_stream(self.timeouts.connect)
        if self._stopped:
            await conn.aclose()
            raise UpstreamError("stopped")
        self._conn = conn
        return conn

    async def _dial_stream(self, timeout: float) -> PipelinedConnection:
        name = self._stream_name
        context = self._tls_context
        server_name = self.config.tls.server_name or self.upstream.host
        try:
            return await PipelinedConnection.dial(self.upstream.host, self.upstream.port, timeout, context, server_name)
        except TimeoutError:
            raise UpstreamError(f"{name}: connect timeout") from None
        except OSError as e:
            # A failed handshake or certificate check (ssl.SSLError is an OSError) included: the
            # answer is never taken, and health checks take the upstream down.
            raise UpstreamError(f"{name}: {e}") from None

    # Health checking (CoreDNS plugin/pkg/proxy/health.go): after a failed exchange, probe with
    # `. IN NS` every health_check interval until something answers. Any answer, whatever its rcode,
    # means the upstream is alive.

    def kick_health_check(self) -> None:
        if self.config.max_fails == 0 or self._stopped:
            return
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_loop())

    async def _probe_loop(self) -> None:
        interval = self.config.health_check
        while not self._stopped:
            if await self.check():
                if self.fails:
                    log.info("upstream %s is answering again", self.label)
                self.fails = 0
                return
            self.fails += 1
            self.metrics.healthcheck_failed()
            if self.fails == self.config.max_fails:
                log.warning("upstream %s is down: %d health checks failed", self.label, self.fails)
            await asyncio.sleep(interval)

    async def check(self) -> bool:
        """One health probe: True when the upstream answered at all."""
        qid = secrets.randbits(16)
        flags = 0x0100 if self.config.health_check_rd else 0
        labels = tuple(
            label.encode() for label in self.config.health_check_domain.rstrip(".").split(".") if label
        )
        query = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0) + wire_name(labels) + struct.pack("!HH", 2, 1)
        match = matcher(qid, labels, 2, 1)
        try:
            if self.upstream.tls or self.config.force_tcp:
                await self._stream_check(query, qid, match)
            else:
                await self._udp(query, match, self.timeouts.health)
        except UpstreamError:
            return False
        return True

    async def _stream_check(self, query: bytes, qid: int, match: Matcher) -> None:
        """A probe on a connection of its own, so that a failed connect or handshake fails it."""
        conn = await self._dial_stream(self.timeouts.health)
        try:
            await conn.exchange(query, qid, match, self.timeouts.health)
        except (TimeoutError, ConnectionGone) as e:
            raise UpstreamError(f"{self._stream_name}: {e or 'timeout'}") from None
        finally:
            await conn.aclose()

    async def stop(self) -> None:
        self._stopped = True
        if self._probe is not None:
            self._probe.cancel()
            try:
                await self._probe
            except (asyncio.CancelledError, Exception):
                pass
        if self._dial is not None and not self._dial.done():
            self._dial.cancel()
        if self._conn is not None:
            await self._conn.aclose()
            self._conn = None
