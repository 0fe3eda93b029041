"""Abuse: ANY, zone transfers, amplification, a TCP connection flood, random deep names."""

from __future__ import annotations

import asyncio
import json
import random
import resource
import socket
import struct
import time
from dataclasses import replace

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype

from chaos.cluster import Cluster, endpoint_ip, service, slice_
from chaos.common import swept, REPO, Kdns, Result, Size, captured_tracebacks, exchange_many, kdns, make_query, rss
from chaos.packets import check_answer

HINFO = dns.rdatatype.HINFO


def abuse_corefile(with_any: bool) -> tuple[str, dict[str, str]]:
    """The kubeadm server block (cluster from manifests, no forward: nothing leaves the machine),
    with or without `any`; a big headless service makes answers larger than 512 and 1232 bytes."""
    cluster = Cluster(40)
    big = [endpoint_ip(10_000 + i) for i in range(150)]
    cluster.objects += [service("big", "ns0", None), slice_("big", "ns0", big)]
    manifests = json.dumps({"kind": "List", "apiVersion": "v1", "items": cluster.objects})
    corefile = f"""
    example.org {{
        {"any" if with_any else ""}
        file {REPO / "zones" / "db.example.org"}
    }}
    .:0 {{
        errors
        {"any" if with_any else ""}
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            manifests cluster.json
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }}
        cache 30 {{
            disable success cluster.local
            disable denial cluster.local
        }}
        loadbalance
    }}
    """
    return corefile, {"cluster.json": manifests}


CLUSTER_NAMES = [
    "svc1.ns1.svc.cluster.local.", "svc4.ns4.svc.cluster.local.", "big.ns0.svc.cluster.local.",
    "cluster.local.", "missing.ns1.svc.cluster.local.", "ns1.svc.cluster.local.",
]


async def ask(server: Kdns, name: str, rdtype: str | int, tcp: bool = False, payload: int | None = None) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=0 if payload else False, payload=payload or 1232)
    if tcp:
        return await dns.asyncquery.tcp(q, server.host, port=server.port, timeout=3.0)
    return await dns.asyncquery.udp(q, server.host, port=server.port, timeout=3.0, raise_on_truncation=False)


@swept
async def run_any(size: Size) -> Result:
    """RFC 8482: with `any`, one HINFO for every name; without it (kubeadm's Corefile), what kdns
    answers for ANY on cluster names, recorded (CoreDNS's kubernetes plugin: NODATA, or NXDOMAIN
    for a name that does not exist)."""
    result = Result("abuse-any", "qtype ANY on cluster and file-zone names, with and without the `any` plugin")
    started = time.monotonic()
    for with_any in (True, False):
        corefile, files = abuse_corefile(with_any)
        async with kdns(corefile, **files) as server:
            for name in CLUSTER_NAMES + ["example.org.", "www.example.org."]:
                for tcp in (False, True):
                    r = await ask(server, name, "ANY", tcp=tcp)
                    result.sent += 1
                    records = [rd for rrset in r.answer for rd in rrset]
                    rcode = dns.rcode.to_text(r.rcode())
                    if with_any:
                        ok = rcode == "NOERROR" and len(records) == 1 and r.answer[0].rdtype == HINFO and not r.additional
                        if not ok:
                            result.wrong += 1
                            result.failures.append(f"with any: {name} ANY -> {rcode} {r.answer}")
                    else:
                        result.figures[f"without any: {name}"] = f"{rcode}, {len(records)} answers, {len(r.to_wire())} bytes"
                        if name.endswith("cluster.local."):
                            # Minimal either way: no records of the name are listed.
                            expected = "NXDOMAIN" if name.startswith("missing.") else "NOERROR"
                            if rcode != expected or records:
                                result.wrong += 1
                                result.failures.append(f"without any: {name} ANY -> {rcode} {len(records)} records")
    result.seconds = time.monotonic() - started
    return result


@swept
async def run_transfers(size: Size) -> Result:
    result = Result("abuse-axfr", "AXFR and IXFR over UDP and TCP for the cluster zone, a reverse zone and a file zone")
    started = time.monotonic()
    corefile, files = abuse_corefile(False)
    async with kdns(corefile, **files) as server:
        for zone in ("cluster.local.", "in-addr.arpa.", "example.org."):
            for rdtype in ("AXFR", "IXFR"):
                for tcp in (False, True):
                    q = dns.message.make_query(zone, rdtype)
                    wire = q.to_wire()
                    result.sent += 1
                    data = await _raw(server, wire, tcp)
                    if data is None:
                        result.lost += 1
                        continue
                    why = check_answer(data, q.id)
                    r = dns.message.from_wire(data)
                    if why or dns.rcode.to_text(r.rcode()) != "REFUSED" or r.answer:
                        result.wrong += 1
                        result.failures.append(f"{zone} {rdtype} tcp={tcp}: {why or dns.rcode.to_text(r.rcode())} {r.answer}")
    result.seconds = time.monotonic() - started
    return result


async def _raw(server: Kdns, wire: bytes, tcp: bool) -> bytes | None:
    if not tcp:
        (data,) = await exchange_many(server.host, server.port, [wire], timeout=2.0)
        return None if data is None else wire[:2] + data[2:]
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(struct.pack("!H", len(wire)) + wire)
        n = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 3))[0]
        return await asyncio.wait_for(reader.readexactly(n), 3)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        return None
    finally:
        writer.close()


@swept
async def run_amplification(size: Size) -> Result:
    """Every answer over UDP fits what the query advertised (512 without EDNS, else max(512,
    payload)); an answer that did not fit says TC. Asked twice: the second hits the fast path."""
    result = Result(
        "abuse-amplification",
        "big and small questions over UDP without EDNS and with payloads 0..65535, twice (slow path, fast path)",
    )
    started = time.monotonic()
    corefile, files = abuse_corefile(False)
    questions = [(n, t) for n in CLUSTER_NAMES for t in ("A", "AAAA", "SRV", "ANY", "TXT")]
    questions += [("_http._tcp.big.ns0.svc.cluster.local.", "SRV"), ("example.org.", "ANY"), ("example.org.", "NS"),
                  ("a.wild.example.org.", "TXT"), ("sub.example.org.", "A")]
    payloads: list[int | None] = [None, 0, 100, 512, 700, 1232, 1400, 4096, 65535]
    worst = 0.0
    truncated = 0
    async with kdns(corefile, **files) as server:
        for _ in range(2):
            queries, limits = [], []
            for name, rdtype in questions:
                for payload in payloads:
                    wire = make_query(name, rdtype, edns=payload is not None, payload=payload or 0)
                    queries.append(wire)
                    limits.append(512 if payload is None else max(512, payload))
            answers = await exchange_many(server.host, server.port, queries, timeout=3.0, retries=1)
            for wire, limit, data in zip(queries, limits, answers):
                result.sent += 1
                if data is None:
                    result.lost += 1
                    continue
                why = check_answer(data)
                if why:
                    result.wrong += 1
                    result.failures.append(why)
                    continue
                if len(data) > limit:
                    result.wrong += 1
                    result.failures.append(f"{len(data)}-byte answer to a query allowing {limit}")
                truncated += bool(data[2] & 0x02)
                worst = max(worst, len(data) / len(wire))
                # A truncated answer must be complete over TCP.
        full = await ask(server, "big.ns0.svc.cluster.local.", "A", tcp=True)
        result.check(len(full.answer[0]) == 150, "the big answer is not whole over TCP")
    result.figures.update({"worst answer/query size": round(worst, 1), "answers with TC": truncated,
                           "big answer over TCP bytes": len(full.to_wire())})
    result.seconds = time.monotonic() - started
    return result


def raise_nofile(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, want)) if hard != resource.RLIM_INFINITY else max(soft, want)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


@swept
async def run_tcp_flood(size: Size, cap: int = 1000) -> Result:
    """size.flood_connections idle TCP connections: the server holds at most `cap`, the rest are
    cut at once; UDP service goes on throughout and TCP works again when the flood ends."""
    result = Result(
        "abuse-tcp-flood",
        f"{size.flood_connections:,} idle TCP connections (server cap {cap}); UDP queries during the flood",
    )
    started = time.monotonic()
    limit = raise_nofile(2 * size.flood_connections + 512)
    result.check(limit >= 2 * size.flood_connections + 256, f"RLIMIT_NOFILE {limit} is too low for the flood")
    from kdns.server.settings import DEFAULT

    corefile, files = abuse_corefile(False)
    async with kdns(corefile, settings=replace(DEFAULT, tcp_max_connections=cap, tcp_idle_timeout=60.0), **files) as server:
        result.mem_before = rss()
        loop = asyncio.get_running_loop()
        flood: list[socket.socket] = []
        good = [make_query("svc1.ns1.svc.cluster.local.", "A")] * 200
        udp_sent = udp_lost = 0
        try:
            for i in range(size.flood_connections):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                try:
                    await loop.sock_connect(s, (server.host, server.port))
                except OSError:
                    s.close()
                    continue
                flood.append(s)
                if i % 500 == 499:
                    answers = await exchange_many(server.host, server.port, good, timeout=2.0)
                    udp_sent += len(answers)
                    udp_lost += sum(a is None for a in answers)
            await asyncio.sleep(0.5)
            held = sum(len(state.connections) for s in server.app.sockets.values() for state in s.tcp_states)
            alive = 0
            for s in flood:
                try:
                    alive += s.recv(1, socket.MSG_PEEK) != b""
                except BlockingIOError:
                    alive += 1
                except OSError:
                    pass
            answers = await exchange_many(server.host, server.port, good * 5, timeout=2.0)
            udp_sent += len(answers)
            udp_lost += sum(a is None for a in answers)
            wrong = sum(1 for a in answers if a is not None and check_answer(a) is not None)
            result.figures.update({"connections opened": len(flood), "held by the server": held, "still open at the client": alive})
            result.check(held <= cap, f"the server holds {held} connections, over its cap {cap}")
            result.check(alive <= cap, f"{alive} flood connections stayed open, over the cap {cap}")
            result.mem_after = rss()
        finally:
            for s in flood:
                s.close()
        await asyncio.sleep(0.3)
        tcp_ok = await _raw(server, make_query("svc1.ns1.svc.cluster.local.", "A", id=77), tcp=True)
        result.check(tcp_ok is not None and check_answer(tcp_ok, 77) is None, "TCP does not answer after the flood")
        result.sent = udp_sent + 1
        result.lost = udp_lost + (tcp_ok is None)
        result.wrong = wrong
    result.seconds = time.monotonic() - started
    return result


@swept
async def run_deep_names(size: Size, capacity: int | None = None) -> Result:
    """Random deep names under the cluster zone: each answer is no bigger than a plain miss (NXDOMAIN,
    0 answers, the SOA alone), and the fast-path table stays within its capacity."""
    capacity = capacity or max(100, size.deep_names // 3)
    result = Result(
        "abuse-deep-names",
        f"{size.deep_names:,} random names 1-30 labels deep under cluster.local and <ns>.svc.cluster.local "
        f"(fast-path capacity set to {capacity:,})",
    )
    started = time.monotonic()
    rng = random.Random(8482)
    corefile, files = abuse_corefile(False)
    async with kdns(corefile, **files) as server:
        (table,) = server.tables()
        table.capacity = capacity
        miss = dns.message.from_wire((await exchange_many(server.host, server.port, [make_query("missing.ns1.svc.cluster.local.", "A")]))[0])
        baseline = (len(miss.answer), sum(len(r) for r in miss.authority), len(miss.additional))
        result.figures["plain miss (answers, authority, additional)"] = str(baseline)
        result.mem_before = rss()
        peak_entries = peak_tags = 0
        sent = 0
        worse = 0
        while sent < size.deep_names:
            batch_names = []
            for _ in range(min(1000, size.deep_names - sent)):
                depth = rng.randrange(1, 31)
                labels = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-") for _ in range(rng.randrange(1, 8))) for _ in range(depth)]
                suffix = rng.choice(["cluster.local.", "svc.cluster.local.", "ns1.svc.cluster.local.", "pod.cluster.local."])
                name = ".".join(labels) + "." + suffix
                if len(name) > 250:
                    name = name[-250:].lstrip(".-")
                    name = name[name.find(".") + 1 :] if name[0] == "." else name
                batch_names.append(name)
            queries = [make_query(n, rng.choice(["A", "AAAA", "SRV", "PTR"])) for n in batch_names]
            answers = await exchange_many(server.host, server.port, queries, timeout=3.0, retries=1)
            for data in answers:
                result.sent += 1
                if data is None:
                    result.lost += 1
                    continue
                if check_answer(data):
                    result.wrong += 1
                    continue
                m = dns.message.from_wire(data)
                shape = (len(m.answer), sum(len(r) for r in m.authority), len(m.additional))
                if shape[0] > baseline[0] or shape[1] > baseline[1] or shape[2] > baseline[2]:
                    worse += 1
                    if worse <= 3:
                        result.failures.append(f"deep name answered bigger than a miss: {m.question[0].name} {shape}")
            sent += len(queries)
            peak_entries = max(peak_entries, len(table.entries))
            peak_tags = max(peak_tags, sum(len(v) for v in table.keys_by_tag.values()))
        result.wrong += worse
        result.mem_after = rss()
        result.figures.update({"fast-path entries peak": peak_entries, "tag index size peak": peak_tags})
        result.check(peak_entries <= capacity, f"fast-path table reached {peak_entries} entries, capacity {capacity}")
        result.check(peak_tags <= 3 * capacity, f"fast-path tag index reached {peak_tags} keys for capacity {capacity}")
    result.seconds = time.monotonic() - started
    return result
