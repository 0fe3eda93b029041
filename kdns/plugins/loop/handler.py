"""Send `<random>.<random>.<zone> HINFO` to ourselves; seeing it come back more than twice is a loop.

As CoreDNS: once serving, the plugin queries the server's own address. If the query comes through
this plugin more than twice, something upstream (forward . /etc/resolv.conf naming a local stub such
as 127.0.0.53, or this server itself) sends it back to us: the server stops with a message, since it
would otherwise burn CPU and memory on every forwarded query. The first answer ends the probing.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from dnslib import QTYPE, DNSRecord

from kdns.corefile.keys import unreachable
from kdns.plugins.loop.config import Config
from kdns.request import Request
from kdns.response import Response
from kdns.types import Next

log = logging.getLogger(__name__)


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        self.block: Any = None
        self.probe = ""
        self.zone = ""
        self.seen = 0
        self.active = False
        self.task: asyncio.Task[None] | None = None

    def attach(self, block: Any) -> None:
        self.block = block
        # A zone written with a leading dot gets no queries, so a probe in it could never come back.
        zone = self.zone = next((z for z in block.zones if not unreachable(z)), "")
        labels = f"{random.getrandbits(63)}.{random.getrandbits(63)}"
        if zone:
            self.probe = f"{labels}." if zone == "." else f"{labels}.{zone}"

    async def __call__(self, req: Request) -> Response:
        if self.active and req.qtype == QTYPE.HINFO and req.qname_lower == self.probe:
            self.seen += 1
            if self.seen > 2:
                self.active = False
                host, port = self.target()
                self.block.app.fail(
                    f'Loop ({req.client[0]}:{req.client[1]} -> {host}:{port}) detected for zone '
                    f'"{self.zone}", see https://coredns.io/plugins/loop#troubleshooting. '
                    f'Query: "HINFO {self.probe}". Likely cause: the upstream of forward (often '
                    f"/etc/resolv.conf naming a local resolver such as 127.0.0.53, or this server "
                    f"itself) sends queries back here."
                )
        return await self.next(req)

    def target(self) -> tuple[str, int]:
        host, port = self.block.addresses[0]
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return host, port

    async def serving(self) -> None:
        if not self.probe:
            return
        self.active = True
        self.task = asyncio.get_running_loop().create_task(self.probe_loop())

    async def probe_loop(self) -> None:
        host, port = self.target()
        query = bytes(DNSRecord.question(self.probe, "HINFO").pack())
        loop = asyncio.get_running_loop()
        for _ in range(self.config.attempts):
            if not self.active:
                return
            answered: asyncio.Future[bytes] = loop.create_future()
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Probe(answered), remote_addr=(host, port)
                )
            except OSError:
                await asyncio.sleep(self.config.interval)
                continue
            try:
                transport.sendto(query)
                await asyncio.wait_for(answered, self.config.interval)
            except (OSError, asyncio.TimeoutError):
                # No answer (a dead upstream): as CoreDNS, start counting afresh. A real loop
                # brings the probe back three times well within one attempt.
                self.seen = 0
                continue
            finally:
                transport.close()
            # Any answer, SERVFAIL included, means the probe came out the other end: no loop.
            # Stay watching a little longer for copies still on their way round (CoreDNS: 2 s).
            await asyncio.sleep(2 * self.config.interval)
            break
        self.active = False

    async def stop(self) -> None:
        self.active = False
        if self.task is not None:
            self.task.cancel()


class _Probe(asyncio.DatagramProtocol):
    def __init__(self, answered: asyncio.Future[bytes]) -> None:
        self.answered = answered

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.answered.done():
            self.answered.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answered.done():
            self.answered.set_exception(exc)
