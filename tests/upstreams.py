"""Upstream DNS servers for tests, on 127.0.0.1.

FakeUpstream: a small programmable server (UDP and TCP on the same port) that answers from a dict of
zone-text records and can be made slow, silent, truncating (TC=1 over UDP), or lying (a wrong ID, a
wrong question, or an answer from another source port) and counts what it was asked.

dnsmasq(): a real resolver from Debian's packages with a static zone, for the same tests against
software that is not ours. Skips the test with a clear reason when the binary is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from dnslib import EDNS0, QTYPE, RCODE, RR, DNSRecord

from kdns.corefile.tree import Directive
from kdns.request import Request

# What a lying upstream puts in its forged answers; a test asserts it never reaches a client.
LIE_ADDRESS = "6.6.6.6"


@dataclass
class Query:
    proto: str
    name: str  # as asked, original case
    qtype: str
    id: int
    port: int  # the asker's source port
    do: bool


@dataclass
class Behaviour:
    """How the server answers; tests change the fields while it runs."""

    delay: float = 0.0  # seconds before answering
    silent: bool = False  # never answer
    silent_udp: bool = False
    silent_tcp: bool = False
    truncate_udp: bool = False  # UDP answers carry TC=1 and no records
    wrong_id: bool = False  # first send a forged answer with another ID
    wrong_question: bool = False  # first send a forged answer to another name
    wrong_port: bool = False  # first send a forged answer from another source port
    lie_then_truth: bool = True  # after a forged answer, send the real one (else only the lie)
    rcode: int | None = None  # force this rcode (records still from the zone unless empty)
    close_tcp_after: int = 0  # close a TCP connection after this many answers (0: keep open)
    # Over TCP, hold the answers until this many queries came on the connection, then send them
    # last first (RFC 7766 section 6.2.1.1 allows any order); then again for the next ones.
    reverse_tcp: int = 0
    drop_tcp_on_query: int = 0  # close a TCP connection, unanswered, when its Nth query arrives


@dataclass
class FakeUpstream:
    """records: {(name lowercase with trailing dot, "A"): ["zone text RR", ...]}.

    A name in `nxdomain` (or below one) gets NXDOMAIN with `soa`; a known name without the asked type
    gets NODATA with `soa`. Anything else is NXDOMAIN too.
    """

    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    soa: str = "example.org. 300 IN SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 60"
    behaviour: Behaviour = field(default_factory=Behaviour)
    respond: Callable[[DNSRecord], DNSRecord | None] | None = None
    queries: list[Query] = field(default_factory=list)
    tcp_connections: int = 0
    host: str = "127.0.0.1"
    port: int = 0

    async def start(self) -> FakeUpstream:
        loop = asyncio.get_running_loop()
        for _ in range(20):
            udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp_sock.bind((self.host, self.port))  # port 0 (the default): a free one
            except OSError:
                udp_sock.close()  # a fixed port taken: the caller tries elsewhere
                raise
            port = udp_sock.getsockname()[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError:
                udp_sock.close()
                continue
            break
        else:  # pragma: no cover
            raise RuntimeError("no free port for UDP and TCP")
        self.port = port
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _UdpSide(self), sock=udp_sock)
        # A second socket, to send forged answers from another source port.
        self._spoof, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=(self.host, 0),
        )
        self._tasks: set[asyncio.Task[None]] = set()
        return self

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def stop(self) -> None:
        self._udp.close()
        self._spoof.close()
        self._tcp.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._tcp.wait_closed(), 1)

    async def __aenter__(self) -> FakeUpstream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def client_queries(self) -> list[Query]:
        """Queries other than health probes (`. IN NS`)."""
        return [q for q in self.queries if not (q.name == "." and q.qtype == "NS")]

    def probes(self) -> list[Query]:
        return [q for q in self.queries if q.name == "." and q.qtype == "NS"]

    # Answering.

    def answer(self, query: DNSRecord) -> DNSRecord:
        if self.respond is not None:
            custom = self.respond(query)
            if custom is not None:
                return custom
        reply = query.reply()
        reply.header.ra = 1
        q = query.q
        name = str(q.qname).lower()
        qtype = QTYPE.get(q.qtype)
        known = {n for n, _ in self.records}
        if (name, qtype) in self.records:
            for text in self.records[(name, qtype)]:
                reply.add_answer(*RR.fromZone(text))
        elif name == "." and qtype == "NS":
            reply.header.rcode = RCODE.REFUSED  # like dnsmasq without upstreams: alive, but no data
        elif name in known:
            reply.add_auth(*RR.fromZone(self.soa))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(*RR.fromZone(self.soa))
        if self.behaviour.rcode is not None:
            reply.header.rcode = self.behaviour.rcode
        return reply

    def _lie(self, query: DNSRecord, wrong_id: bool, wrong_question: bool) -> bytes:
        forged = DNSRecord.question("forged.invalid." if wrong_question else str(query.q.qname), "A")
        forged.header.id = (query.header.id + 1) & 0xFFFF if wrong_id else query.header.id
        forged = forged.reply()
        forged.add_answer(*RR.fromZone(f"{forged.q.qname} 300 IN A {LIE_ADDRESS}"))
        if not wrong_question:
            forged.q.qtype = query.q.qtype
        return bytes(forged.pack())

    def _record(self, proto: str, query: DNSRecord, port: int) -> None:
        opt = [rr for rr in query.ar if rr.rtype == 41]
        do = bool(opt and opt[0].ttl & 0x8000)
        self.queries.append(
            Query(proto, str(query.q.qname), QTYPE.get(query.q.qtype), query.header.id, port, do)
        )

    async def _answer_udp(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = DNSRecord.parse(data)
        except Exception:
            return
        self._record("udp", query, addr[1])
        b = self.behaviour
        if b.delay:
            await asyncio.sleep(b.delay)
        if b.silent or b.silent_udp:
            return
        lied = False
        if b.wrong_id or b.wrong_question:
            self._udp.sendto(self._lie(query, b.wrong_id, b.wrong_question), addr)
            lied = True
        if b.wrong_port:
            self._spoof.sendto(self._lie(query, False, False), addr)
            lied = True
        if lied:
            if not b.lie_then_truth:
                return
            await asyncio.sleep(0.02)
        reply = self.answer(query)
        if b.truncate_udp:
            reply.rr, reply.auth, reply.ar = [], [], []
            reply.header.tc = 1
        self._udp.sendto(bytes(reply.pack()), addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tcp_connections += 1
        port = writer.get_extra_info("peername")[1]
        answered = seen = 0
        held: list[bytes] = []
        try:
            while True:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                data = await reader.readexactly(length)
                query = DNSRecord.parse(data)
                self._record("tcp", query, port)
                b = self.behaviour
                seen += 1
                if seen == b.drop_tcp_on_query:
                    break
                if b.reverse_tcp:
                    out = bytes(self.answer(query).pack())
                    held.append(struct.pack("!H", len(out)) + out)
                    if len(held) == b.reverse_tcp:
                        writer.write(b"".join(reversed(held)))
                        held.clear()
                        await writer.drain()
                    continue
                if b.delay:
                    await asyncio.sleep(b.delay)
                if b.silent or b.silent_tcp:
                    continue
                if b.wrong_id or b.wrong_question:
                    lie = self._lie(query, b.wrong_id, b.wrong_question)
                    writer.write(struct.pack("!H", len(lie)) + lie)
                    if not b.lie_then_truth:
                        continue
                out = bytes(self.answer(query).pack())
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
                answered += 1
                if b.close_tcp_after and answered >= b.close_tcp_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _UdpSide(asyncio.DatagramProtocol):
    def __init__(self, server: FakeUpstream) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.get_running_loop().create_task(self.server._answer_udp(data, addr))
        self.server._tasks.add(task)
        task.add_done_callback(self.server._tasks.discard)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5) -> None:
    """SIGTERM, then SIGKILL if it has not exited within timeout."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now (a race is possible, and retried)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


def server_binary(name: str) -> str:
    """The path of a Debian server package's program (dnsmasq, unbound), which lives in /usr/sbin,
    outside a non-root PATH; skips the test when it is not installed (scripts/test.sh installs it)."""
    binary = shutil.which(name) or shutil.which(name, path="/usr/sbin")
    if binary is None:
        pytest.skip(f"{name} is not installed (Debian package {name}; scripts/test.sh installs it)")
    return binary


@dataclass
class Dnsmasq:
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def dnsmasq(
    hosts: dict[str, str], local_domain: str = "test", ttl: int = 60, extra: list[str] | None = None,
) -> AsyncIterator[Dnsmasq]:
    """A real dnsmasq on 127.0.0.1 answering `hosts` ({name: ip}) from a static zone.

    Names under local_domain that are not in hosts get NXDOMAIN (dnsmasq --local); nothing is
    forwarded anywhere (--no-resolv). Skips the test when dnsmasq is not installed.
    """
    binary = server_binary("dnsmasq")
    for attempt in range(5):
        port = free_port()
        args = [
            binary, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--pid-file=",
            f"--local=/{local_domain}/", f"--local-ttl={ttl}", "--log-facility=-",
        ]
        if os.geteuid() == 0:
            args.append("--user=root")
        args += [f"--host-record={name},{ip}" for name, ip in hosts.items()]
        args += extra or []
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
            try:
                if await _wait_listening(port, proc):
                    yield Dnsmasq("127.0.0.1", port)
                    return
                log.seek(0)
                output = log.read().decode(errors="replace")
                if "in use" not in output or attempt == 4:
                    raise RuntimeError(f"dnsmasq did not start: {output}")
            finally:
                stop_process(proc)


async def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> bool:
    for _ in range(100):
        if proc.poll() is not None:
            return False
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return True
    return False


async def ask(
    host: str, port: int, name: str, qtype: str = "A", tcp: bool = False, timeout: float = 3.0,
) -> DNSRecord:
    """One query to a server over UDP or TCP, the way a stub resolver asks."""
    query = DNSRecord.question(name, qtype)
    data = bytes(query.pack())
    loop = asyncio.get_running_loop()
    if tcp:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(struct.pack("!H", len(data)) + data)
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                return DNSRecord.parse(await reader.readexactly(length))
            finally:
                writer.close()
    done: asyncio.Future[bytes] = loop.create_future()

    class Side(asyncio.DatagramProtocol):
        def datagram_received(self, got: bytes, addr: tuple[str, int]) -> None:
            if not done.done():
                done.set_result(got)

    transport, _ = await loop.create_datagram_endpoint(Side, remote_addr=(host, port))
    try:
        transport.sendto(data)
        async with asyncio.timeout(timeout):
            return DNSRecord.parse(await done)
    finally:
        transport.close()


# Helpers for handler-level tests of the plugins that sit in front of upstreams.


def directive(corefile: str, plugin: str) -> Directive:
    """The `plugin` directive of the first server block of a Corefile text."""
    from kdns.corefile.parser import parse

    blocks = parse(corefile, "Corefile", known=lambda name: True)
    for d in blocks[0].directives:
        if d.name.text == plugin:
            return d
    raise AssertionError(f"no {plugin} directive in {corefile!r}")


def request(
    name: str, qtype: str = "A", proto: str = "udp", do: bool = False, edns: bool | None = None,
    cd: bool = False, id: int | None = None,
) -> Request:
    """A parsed query as the server hands it to the chain."""
    from kdns.server.wire import parse_query

    query = DNSRecord.question(name, qtype)
    if id is not None:
        query.header.id = id
    if cd:
        query.header.cd = 1
    if do or edns:
        query.add_ar(EDNS0(udp_len=1232, flags="do" if do else ""))
    req = parse_query(bytes(query.pack()))
    req.proto = proto
    req.client = ("127.0.0.1", 40000)
    req.server = "dns://:53"
    return req


@dataclass
class Unbound:
    """A running unbound answering DNS-over-TLS on 127.0.0.1:port."""

    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def unbound_tls(
    pem: str, key: str, records: list[str], port: int = 0,
) -> AsyncIterator[Unbound]:
    """A real unbound (Debian's) serving `records` (zone text) over TLS only, with certificate pem
    and key. Names outside the records are NXDOMAIN from a static `.` zone, so nothing is ever asked
    of the Internet, and `. IN NS` (forward's health probe) is answered. port 0: a free one. Skips
    the test when unbound is missing.
    """
    binary = server_binary("unbound")
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(5):
            bound = port or free_port()
            lines = [
                "server:", f"  interface: 127.0.0.1@{bound}", f"  tls-port: {bound}",
                f'  tls-service-key: "{key}"', f'  tls-service-pem: "{pem}"',
                '  username: ""', '  chroot: ""', f'  directory: "{tmp}"', '  pidfile: ""',
                "  use-syslog: no", f'  logfile: "{tmp}/unbound.log"', "  verbosity: 1",
                "  do-ip6: no", "  access-control: 127.0.0.0/8 allow",
                '  local-zone: "." static', '  local-data: ". 3600 IN NS ns.root.test."',
                '  local-data: ". 3600 IN SOA ns.root.test. hostmaster.root.test. 1 7200 1800 86400 60"',
                *(f'  local-data: "{rr}"' for rr in records),
            ]
            conf = os.path.join(tmp, "unbound.conf")
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            proc = subprocess.Popen([binary, "-d", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                if await _wait_listening(bound, proc):
                    yield Unbound(bound)
                    return
                log = os.path.join(tmp, "unbound.log")
                output = ""
                if os.path.exists(log):
                    with open(log, errors="replace") as f:
                        output = f.read()
                if port or "in use" not in output or attempt == 4:
                    raise RuntimeError(f"unbound did not start: {output}")
            finally:
                stop_process(proc)


async def eventually(condition: Callable[[], bool], timeout: float = 4.0) -> bool:
    """Whether condition() became true within timeout seconds (health checks run in the background)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
    return True


@dataclass
class Tinyproxy:
    """A running tinyproxy (an HTTP proxy with CONNECT) on 127.0.0.1:port; log: what it logged."""

    port: int
    log_file: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        with open(self.log_file, errors="replace") as f:
            return f.read()


@contextlib.asynccontextmanager
async def tinyproxy() -> AsyncIterator[Tinyproxy]:
    """A real tinyproxy (Debian's) on 127.0.0.1, accepting clients from there only, CONNECT to any
    port. Skips the test when tinyproxy is missing."""
    binary = server_binary("tinyproxy")
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(5):
            port = free_port()
            log = os.path.join(tmp, "tinyproxy.log")
            lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 60", f'LogFile "{log}"', "LogLevel Connect",
                     "MaxClients 20", "Allow 127.0.0.1", f'PidFile "{tmp}/tinyproxy.pid"']
            if os.geteuid() == 0:
                lines += ["User nobody", "Group nogroup"]
            conf = os.path.join(tmp, "tinyproxy.conf")
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            os.chmod(tmp, 0o777)  # its log, written after it drops to nobody
            proc = subprocess.Popen([binary, "-d", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                if await _wait_listening(port, proc):
                    yield Tinyproxy(port, log)
                    return
                output = Tinyproxy(port, log).log() if os.path.exists(log) else ""
                if "in use" not in output or attempt == 4:
                    raise RuntimeError(f"tinyproxy did not start: {output}")
            finally:
                stop_process(proc)
