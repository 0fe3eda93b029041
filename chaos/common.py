"""What every scenario shares: its result record, an in-process kdns, a bulk DNS client, answer
canonicalisation (to compare two servers' answers), and memory readings."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
import tempfile
import textwrap
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Size:
    """How big a run is. `ci` for tests/reliability, `quick` and `full` for python -m chaos."""

    name: str
    parser_inputs: int
    server_udp: int
    server_tcp: int
    services: int
    burst: int
    outage: float  # seconds the API stays down after sync
    fault_rounds: int
    flood_connections: int
    deep_names: int
    upstream_queries: int

    @property
    def long(self) -> bool:
        return self.name == "full"


CI = Size("ci", 20_000, 4_000, 1_000, 100, 1_000, 1.5, 4, 1_500, 3_000, 200)
QUICK = Size("quick", 200_000, 20_000, 4_000, 500, 2_000, 5.0, 6, 3_000, 20_000, 1_000)
FULL = Size("full", 1_000_000, 100_000, 20_000, 2_000, 10_000, 120.0, 30, 5_000, 200_000, 5_000)


@dataclass
class Result:
    """One scenario's row in docs/reliability.md."""

    name: str
    injected: str
    sent: int = 0
    lost: int = 0
    wrong: int = 0
    mem_before: int = 0  # bytes of RSS
    mem_after: int = 0
    failures: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and self.lost == 0 and self.wrong == 0

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.failures.append(message)


def rss(pid: int | None = None) -> int:
    """Resident set size in bytes (of pid, default this process)."""
    path = f"/proc/{pid or 'self'}/status"
    with open(path) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# -- an in-process kdns ---------------------------------------------------------------------


class Kdns:
    """A kdns App started in this process (the way tests/conftest.py's kdns_server does)."""

    def __init__(self, app: Any, corefile: Path) -> None:
        self.app = app
        self.corefile = corefile
        host, self.port = app.addresses()[0]
        self.host = "127.0.0.1" if host in ("", "0.0.0.0") else host

    def http_port(self, plugin: str) -> int:
        for key, service in self.app.generation.services.items():
            if key[0] == plugin:
                return int(service.endpoint.port)
        raise KeyError(plugin)

    async def http(self, plugin: str, path: str) -> tuple[int, str]:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{self.http_port(plugin)}{path}") as resp:
                return resp.status, await resp.text()

    def handlers(self, plugin: str) -> list[Any]:
        out = []
        for block in self.app.generation.blocks:
            out.extend(h for h in block.handlers if type(h).__module__.startswith(f"kdns.plugins.{plugin}."))
        return out

    def tables(self) -> list[Any]:
        return [s.listener.table for s in self.app.sockets.values()]


@contextlib.asynccontextmanager
async def kdns(corefile: str, settings: Any = None, **files: str) -> AsyncIterator[Kdns]:
    """kdns on 127.0.0.1 with free ports, from Corefile text; files are written next to it."""
    from kdns.config import load_config
    from kdns.server.app import App
    from kdns.server.settings import DEFAULT

    with tempfile.TemporaryDirectory(prefix="kdns-chaos-") as tmp:
        base = Path(tmp)
        for name, content in files.items():
            (base / name).write_text(textwrap.dedent(content))
        path = base / "Corefile"
        path.write_text(textwrap.dedent(corefile))
        for attempt in range(5):
            config = load_config(str(path), default_port=0)
            app = App(str(path), config, default_port=0, default_host="127.0.0.1", settings=settings or DEFAULT)
            try:
                await app.start()
                break
            except OSError as e:
                # Port 0 picks a free UDP port; the TCP side of the same number can be taken.
                if e.errno != errno.EADDRINUSE or attempt == 4:
                    raise
        try:
            yield Kdns(app, path)
        finally:
            await app.stop()


@contextlib.contextmanager
def fast_watch_settings(**overrides: Any) -> Iterator[Any]:
    """Shorter API timeouts and backoffs for the kubernetes plugin while the block runs.

    The plugin builds its ApiSource with the module's DEFAULT_SETTINGS (client-go's values: backoff
    to 30 s, a silent watch is dead after 150 s). A scenario that injects a fault every second
    needs the same logic on a shorter clock; nothing else changes.
    """
    from dataclasses import replace

    from kdns.plugins.kubernetes import apisource

    saved = apisource.DEFAULT_SETTINGS
    values: dict[str, Any] = dict(
        watch_timeout=30.0, watch_idle_timeout=2.0, backoff_base=0.05, backoff_cap=0.5,
        backoff_reset_after=2.0, min_watch_duration=0.05, list_timeout=5.0, connect_timeout=1.0,
        stop_timeout=2.0,
    )
    values.update(overrides)
    apisource.DEFAULT_SETTINGS = replace(saved, **values)
    try:
        yield apisource.DEFAULT_SETTINGS
    finally:
        apisource.DEFAULT_SETTINGS = saved


@contextlib.contextmanager
def captured_tracebacks() -> Iterator[list[logging.LogRecord]]:
    """Log records with a traceback (a handler that crashed) while the block runs."""
    records: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # kdns's own loggers; the fake API's aiohttp server logs its clients' hang-ups.
            if record.exc_info and record.name.startswith("kdns"):
                records.append(record)

    handler = Catch(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


@contextlib.asynccontextmanager
async def swept_tasks(result: Result) -> AsyncIterator[None]:
    """Cancel the tasks the block started and left running (Python 3.11's wait_for can swallow a
    cancellation that races a result, e.g. in the fake API's watch loop); a kdns task left running
    after its server stopped is a failure."""
    before = asyncio.all_tasks()
    try:
        yield
    finally:
        leftovers = {t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()}
        ours = []
        for t in leftovers:
            code = getattr(t.get_coro(), "cr_code", None)
            if code is not None and "/kdns/" in code.co_filename:
                ours.append(f"{t.get_name()} ({code.co_qualname})")
        if ours:
            result.failures.append(f"kdns tasks still running after stop: {sorted(ours)}")
        for _ in range(20):
            if not leftovers:
                break
            for t in leftovers:
                t.cancel()
            _, pending = await asyncio.wait(leftovers, timeout=0.25)
            leftovers = pending
        if leftovers:
            result.figures["tasks that ignored cancellation"] = len(leftovers)


def swept(fn: Any) -> Any:
    """A scenario whose leftover tasks are cancelled (and kdns ones reported) when it returns."""
    import functools

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Result:
        holder = Result("", "")
        async with swept_tasks(holder):
            result: Result = await fn(*args, **kwargs)
        result.failures += holder.failures
        result.figures.update(holder.figures)
        return result

    return wrapper


# -- a bulk UDP client ----------------------------------------------------------------------


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[bytes]] = {}
        self.stray = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 2:
            self.stray += 1
            return
        future = self.waiting.pop(int.from_bytes(data[:2], "big"), None)
        if future is None or future.done():
            self.stray += 1
            return
        future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        pass


async def exchange_many(
    host: str, port: int, queries: Sequence[bytes], window: int = 100, timeout: float = 2.0,
    retries: int = 0,
) -> list[bytes | None]:
    """Send queries over UDP (IDs rewritten to be unique in flight), at most `window` outstanding;
    returns each query's answer, None when none came within timeout (after `retries` resends)."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Collector, remote_addr=(host, port))
    answers: list[bytes | None] = [None] * len(queries)
    free_ids = list(range(65536))
    random.Random(len(queries)).shuffle(free_ids)
    semaphore = asyncio.Semaphore(window)

    async def one(i: int, query: bytes) -> None:
        async with semaphore:
            qid = free_ids.pop()
            try:
                wire = qid.to_bytes(2, "big") + query[2:]
                for _ in range(retries + 1):
                    future = loop.create_future()
                    proto.waiting[qid] = future
                    transport.sendto(wire)
                    try:
                        data = await asyncio.wait_for(future, timeout)
                    except asyncio.TimeoutError:
                        proto.waiting.pop(qid, None)
                        continue
                    answers[i] = query[:2] + data[2:]
                    return
            finally:
                free_ids.insert(0, qid)

    try:
        await asyncio.gather(*(one(i, q) for i, q in enumerate(queries)))
    finally:
        transport.close()
    return answers


def make_query(name: str, rdtype: str | int = "A", edns: int | bool = False, payload: int = 1232, id: int = 0) -> bytes:
    q = dns.message.make_query(name, rdtype, use_edns=edns, payload=payload)
    q.id = id
    return q.to_wire()


# -- answers, canonical ---------------------------------------------------------------------

Canon = tuple[Any, ...]


def canonical(data: bytes | None) -> Canon:
    """An answer reduced to what must match between two servers holding the same state.

    Records are sorted within each section (loadbalance shuffles A/AAAA); SOA serials are blanked (it is the time of the last index change, different on a fresh
    server); owner case is kept (it must echo the question's).
    """
    if data is None:
        return ("lost",)
    msg = dns.message.from_wire(data)

    def section(rrsets: Iterable[Any], blank_serial: bool = False) -> tuple[str, ...]:
        out = []
        for rrset in rrsets:
            for rd in rrset:
                text = rd.to_text()
                if blank_serial and rrset.rdtype == dns.rdatatype.SOA:
                    parts = text.split()
                    parts[2] = "SERIAL"
                    text = " ".join(parts)
                out.append(f"{rrset.name} {rrset.ttl} {dns.rdatatype.to_text(rrset.rdtype)} {text}")
        return tuple(sorted(out))

    return (
        dns.rcode.to_text(msg.rcode()),
        bool(msg.flags & dns.flags.AA),
        bool(msg.flags & dns.flags.TC),
        section(msg.answer, blank_serial=True),
        section(msg.authority, blank_serial=True),
        section(msg.additional),
    )


def diff_answers(names: Sequence[tuple[str, str]], got: Sequence[Canon], want: Sequence[Canon], limit: int = 5) -> list[str]:
    out = []
    for (name, rdtype), a, b in zip(names, got, want):
        if a != b:
            out.append(f"{name} {rdtype}: got {a} want {b}")
            if len(out) >= limit:
                break
    return out


async def answer_set(server: Kdns | tuple[str, int], names: Sequence[tuple[str, str]], window: int = 100) -> list[Canon]:
    host, port = (server.host, server.port) if isinstance(server, Kdns) else server
    queries = [make_query(name, rdtype, id=i & 0xFFFF) for i, (name, rdtype) in enumerate(names)]
    answers = await exchange_many(host, port, queries, window=window, timeout=3.0, retries=2)
    return [canonical(a) for a in answers]


def corefile_text(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


async def eventually(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    """Await until predicate() (sync or async) is true; False on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(interval)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
