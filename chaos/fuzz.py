"""Bad packets: straight into the wire parser, and at a whole running server over UDP and TCP."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import time

import dns.asyncquery
import dns.message
import dns.rcode

from chaos.cluster import Cluster
from chaos.common import swept, REPO, Kdns, Result, Size, captured_tracebacks, kdns, make_query, rss
from chaos.packets import answer_limit, bad_packet, check_answer, question_of
from kdns.errors import WireError
from kdns.server import wire

# A single parse slower than this counts as a hang (a normal one takes a few microseconds).
HANG = 0.05


def fuzz_corefile() -> tuple[str, dict[str, str]]:
    """A server with every answering path: a file zone, the cluster (from manifests), an ANY-
    minimising block and a catch-all; the files to write next to the Corefile."""
    cluster = Cluster(40)
    manifests = json.dumps({"kind": "List", "apiVersion": "v1", "items": cluster.objects})
    corefile = f"""
    example.org {{
        file {REPO / "zones" / "db.example.org"}
    }}
    cluster.local in-addr.arpa {{
        any
        kubernetes cluster.local in-addr.arpa {{
            manifests cluster.json
            pods insecure
        }}
        loadbalance
    }}
    . {{
        whoami
    }}
    """
    return corefile, {"cluster.json": manifests}


GOOD = [
    ("www.example.org.", "A", "NOERROR", True),
    ("svc1.ns1.svc.cluster.local.", "A", "NOERROR", True),
    ("missing.ns1.svc.cluster.local.", "A", "NXDOMAIN", False),
]


async def good_queries(server: Kdns, tcp: bool = False) -> tuple[int, int]:
    """(asked, answered right) for the GOOD questions."""
    right = 0
    for name, rdtype, rcode, has_answer in GOOD:
        q = dns.message.make_query(name, rdtype)
        try:
            if tcp:
                r = await dns.asyncquery.tcp(q, server.host, port=server.port, timeout=2.0)
            else:
                r = await dns.asyncquery.udp(q, server.host, port=server.port, timeout=2.0)
        except Exception:
            continue
        if dns.rcode.to_text(r.rcode()) == rcode and bool(r.answer) == has_answer:
            right += 1
    return len(GOOD), right


def run_parser(size: Size, seed: int = 6) -> Result:
    """parse_query over size.parser_inputs bad packets: only its own errors, never a hang, and any
    question it accepts is the question dnspython reads from the same bytes."""
    result = Result("fuzz-parser", f"{size.parser_inputs:,} generated bad packets into wire.parse_query (seed {seed})")
    rng = random.Random(seed)
    started = time.monotonic()
    result.mem_before = rss()
    accepted = rejected = crashes = disagree = 0
    slowest = 0.0
    for _ in range(size.parser_inputs):
        data = bad_packet(rng)
        t0 = time.perf_counter()
        try:
            req = wire.parse_query(data)
        except WireError:
            rejected += 1
        except Exception as e:  # anything else would kill the query (or, in a callback, worse)
            crashes += 1
            if crashes <= 3:
                result.failures.append(f"parse_query raised {type(e).__name__}: {e} on {data.hex()}")
            continue
        else:
            accepted += 1
            reference = question_of(data)
            labels_ok = all(len(label) <= 63 for label in req.labels) and sum(len(l) + 1 for l in req.labels) + 1 <= 255
            if reference is None or reference != (tuple(req.labels), req.qtype, req.qclass) or not labels_ok:
                disagree += 1
                if disagree <= 3:
                    result.failures.append(f"accepted a question dnspython reads as {reference}: {data.hex()}")
        slowest = max(slowest, time.perf_counter() - t0)
    result.sent = size.parser_inputs
    result.wrong = crashes + disagree
    result.mem_after = rss()
    result.check(slowest < HANG, f"slowest parse took {slowest * 1000:.1f} ms")
    result.seconds = time.monotonic() - started
    result.figures.update({
        "accepted": accepted, "rejected": rejected, "crashes": crashes, "disagreements": disagree,
        "slowest parse ms": round(slowest * 1000, 3), "parses/s": int(size.parser_inputs / result.seconds),
    })
    return result


@swept
async def run_server(size: Size, seed: int = 7) -> Result:
    """Bad packets at a running server over UDP and TCP, good questions asked all along."""
    result = Result(
        "fuzz-server",
        f"{size.server_udp:,} bad packets over UDP and {size.server_tcp:,} over TCP (framed, pipelined) at a "
        f"running server (seed {seed}), good queries between batches",
    )
    rng = random.Random(seed)
    started = time.monotonic()
    corefile, files = fuzz_corefile()
    with captured_tracebacks() as tracebacks:
        async with kdns(corefile, **files) as server:
            result.mem_before = rss()
            good_asked = good_right = 0
            answers = bad = oversize = 0
            loop = asyncio.get_running_loop()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sent = 0
                while sent < size.server_udp:
                    batch = [bad_packet(rng) for _ in range(min(200, size.server_udp - sent))]
                    limits: dict[int, int] = {}
                    for packet in batch:
                        try:
                            sock.sendto(packet, (server.host, server.port))
                        except BlockingIOError:
                            await asyncio.sleep(0.01)
                            sock.sendto(packet, (server.host, server.port))
                        if len(packet) >= 2:
                            pid = int.from_bytes(packet[:2], "big")
                            limits[pid] = max(limits.get(pid, 0), answer_limit(packet))
                    sent += len(batch)
                    while True:
                        try:
                            data = await asyncio.wait_for(loop.sock_recv(sock, 65535), 0.03)
                        except asyncio.TimeoutError:
                            break
                        answers += 1
                        why = check_answer(data)
                        pid = int.from_bytes(data[:2], "big")
                        if why is None and pid not in limits:
                            why = "answer to an ID nobody asked"
                        if why is not None:
                            bad += 1
                            if bad <= 3:
                                result.failures.append(f"UDP: {why}: {data[:64].hex()}")
                        elif len(data) > limits[pid]:
                            oversize += 1
                            if oversize <= 3:
                                result.failures.append(f"UDP answer of {len(data)} bytes, asker allowed {limits[pid]}")
                    if sent % 2000 < 200:
                        asked, right = await good_queries(server)
                        good_asked += asked
                        good_right += right
            tcp_answers, tcp_bad = await _tcp_fuzz(server, rng, size.server_tcp, result)
            asked, right = await good_queries(server)
            asked_tcp, right_tcp = await good_queries(server, tcp=True)
            good_asked += asked + asked_tcp
            good_right += right + right_tcp
            result.mem_after = rss()
    for record in tracebacks:
        result.failures.append(f"traceback logged: {record.getMessage()}")
    result.sent = size.server_udp + size.server_tcp + good_asked
    result.lost = good_asked - good_right
    result.wrong = bad + oversize + tcp_bad
    result.check(right == asked and right_tcp == asked_tcp, "good queries not answered right after the fuzzing")
    result.seconds = time.monotonic() - started
    result.figures.update({
        "UDP answers": answers, "TCP answers": tcp_answers, "good queries": good_asked,
        "malformed answers": bad + tcp_bad, "oversize answers": oversize,
    })
    return result


async def _tcp_fuzz(server: Kdns, rng: random.Random, count: int, result: Result) -> tuple[int, int]:
    answers = bad = 0
    sent = 0
    while sent < count:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        for _ in range(min(100, count - sent)):
            packet = bad_packet(rng)
            writer.write(struct.pack("!H", len(packet)) + packet)
            sent += 1
        buffer = b""
        try:
            await writer.drain()
            while True:
                chunk = await asyncio.wait_for(reader.read(65535), 0.2)
                if not chunk:
                    break
                buffer += chunk
        except (asyncio.TimeoutError, ConnectionError):
            pass  # RFC 7766 section 8: a message the server will not answer ends the connection
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
        while len(buffer) >= 2:
            n = struct.unpack("!H", buffer[:2])[0]
            if len(buffer) < 2 + n:
                bad += 1
                result.failures.append("TCP: a frame cut short by the server")
                break
            answers += 1
            why = check_answer(buffer[2 : 2 + n])
            if why is not None:
                bad += 1
                if bad <= 3:
                    result.failures.append(f"TCP: {why}")
            buffer = buffer[2 + n :]
    return answers, bad


@swept
async def run_tcp_garbage(size: Size) -> Result:
    """Garbage framing on TCP: short length prefixes, lengths beyond the data, zero-length frames,
    and peers sending one byte at a time; UDP and TCP service must go on."""
    result = Result(
        "tcp-garbage",
        "TCP: 1-byte length prefixes, lengths beyond the data, zero-length frames, a query sent one byte "
        "every 0.5 s; good UDP and TCP queries meanwhile",
    )
    started = time.monotonic()
    corefile, files = fuzz_corefile()
    with captured_tracebacks() as tracebacks:
        async with kdns(corefile, **files) as server:
            from kdns.server.settings import DEFAULT

            result.mem_before = rss()
            budget = DEFAULT.tcp_read_timeout + 1.5

            async def closed_within(payload: bytes, trickle: float = 0.0) -> float | None:
                """Seconds until the server closed the connection (None: still open at budget)."""
                reader, writer = await asyncio.open_connection(server.host, server.port)
                t0 = time.monotonic()
                try:
                    if trickle:
                        for i in range(len(payload)):
                            writer.write(payload[i : i + 1])
                            await writer.drain()
                            try:
                                if await asyncio.wait_for(reader.read(1), trickle) == b"":
                                    return time.monotonic() - t0
                            except asyncio.TimeoutError:
                                pass
                            if time.monotonic() - t0 > budget:
                                return None
                    else:
                        writer.write(payload)
                        await writer.drain()
                    while time.monotonic() - t0 < budget:
                        try:
                            chunk = await asyncio.wait_for(reader.read(65535), budget)
                        except asyncio.TimeoutError:
                            return None
                        if not chunk:
                            return time.monotonic() - t0
                    return None
                except ConnectionError:
                    return time.monotonic() - t0
                finally:
                    writer.close()

            query = make_query("www.example.org.", "A")
            framed = struct.pack("!H", len(query)) + query
            cases = {
                "1-byte prefix": b"\x00",
                "length beyond data": struct.pack("!H", 600) + query,
                "zero-length frame": b"\x00\x00",
                "length 65535, 3 bytes": b"\xff\xff" + b"abc",
                "one byte every 0.5 s": None,
            }
            tasks = {
                name: asyncio.ensure_future(closed_within(payload) if payload is not None else closed_within(framed * 4, 0.5))
                for name, payload in cases.items()
            }
            # Meanwhile: UDP and TCP service goes on.
            good_asked = good_right = 0
            while not all(t.done() for t in tasks.values()):
                for tcp in (False, True):
                    asked, right = await good_queries(server, tcp=tcp)
                    good_asked += asked
                    good_right += right
                await asyncio.sleep(0.1)
            for name, task in tasks.items():
                seconds = task.result()
                result.figures[f"{name}: closed after s"] = None if seconds is None else round(seconds, 2)
                result.check(seconds is not None, f"{name}: connection still open after {budget:.1f} s")
            result.sent = good_asked + len(cases)
            result.lost = good_asked - good_right
            result.mem_after = rss()
    for record in tracebacks:
        result.failures.append(f"traceback logged: {record.getMessage()}")
    result.seconds = time.monotonic() - started
    result.figures["good queries during"] = good_asked
    return result
