"""kdns fed by the fake Kubernetes API (tests/fakeapi): sync time and programming latency.

The fake API runs in this process (pinned to the load core, with dnsperf's core); kdns runs pinned
to the server core and watches it with `endpoint http://127.0.0.1:PORT`, as it would a real
apiserver. Programming latency is what a client sees: from the moment the API server has stored a
new Service (and streams it to the watchers) until a DNS query for its name is answered with its
address; removal latency is the same for a delete until the name is NXDOMAIN. Both also prove that
the fast path never serves a stale answer: the name was asked (and its negative answer cached)
before each change. PTR freshness is the same for the reverse name of a new Service's address,
asked first so that `cache 30` holds the upstream's NXDOMAIN for it (issue 15: CoreDNS answers
the PTR only when that entry expires, 30 s later).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.reversename

from bench import kdnsserver, procs
from bench.cluster import Cluster


@dataclass(frozen=True)
class Programming:
    added: tuple[float, ...]  # seconds, per sample
    removed: tuple[float, ...]
    ptr_added: tuple[float, ...]  # seconds until a new Service's PTR answers, past a cached NXDOMAIN
    sync_seconds: float  # kdns start -> /ready 200 and answering, listing the fake API
    rss: int
    list_seconds: float  # the same lists read by a plain client, one after another: the fake's own share
    ready_seconds: float  # kdns start -> /ready 200 alone

    @staticmethod
    def percentile(values: tuple[float, ...], p: float) -> float:
        ordered = sorted(values)
        rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
        return ordered[int(rank) - 1]


def _service(i: int, ip: str = "", name: str = "prog") -> dict[str, Any]:
    ip = ip or f"10.97.{i // 250}.{i % 250 + 1}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{name}-{i}", "namespace": "ns-00"},
        "spec": {
            "clusterIP": ip,
            "clusterIPs": [ip],
            "type": "ClusterIP",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        },
    }


async def _rcode_and_answers(name: str, port: int, rdtype: int = dns.rdatatype.A) -> tuple[int, int]:
    q = dns.message.make_query(name, rdtype)
    try:
        r = await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=0.5)
    except dns.exception.Timeout:
        return -1, 0
    return r.rcode(), sum(len(rrset) for rrset in r.answer)


async def _until(
    name: str, port: int, want_answer: bool, limit: float = 10.0, rdtype: int = dns.rdatatype.A
) -> float:
    """Poll (every ~0.5 ms) until the name answers (or is NXDOMAIN); seconds since the call."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        rcode, answers = await _rcode_and_answers(name, port, rdtype)
        if want_answer and rcode == dns.rcode.NOERROR and answers:
            return time.perf_counter() - start
        if not want_answer and rcode == dns.rcode.NXDOMAIN:
            return time.perf_counter() - start
        await asyncio.sleep(0.0005)
    raise RuntimeError(f"{name} did not {'appear' if want_answer else 'vanish'} within {limit:.0f} s")


LISTS = ("/api/v1/namespaces", "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/pods")


async def _list_all(url: str, page: int = 500) -> float:
    """Seconds a plain aiohttp client takes to page through every list kdns makes (500 a page, as kdns)."""
    import aiohttp

    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        for path in LISTS:
            token = ""
            while True:
                params = {"limit": str(page)} | ({"continue": token} if token else {})
                async with session.get(url + path, params=params) as r:
                    body = await r.json()
                token = body["metadata"].get("continue") or ""
                if not token:
                    break
    return time.perf_counter() - start


async def _run(directory: str, cluster: Cluster, samples: int, upstream: int) -> Programming:
    if kdnsserver.REPO not in sys.path:
        sys.path.insert(0, kdnsserver.REPO)
    from tests.fakeapi import FakeApi

    api = FakeApi(objects=cluster.api_objects())
    await api.start()
    list_seconds = await _list_all(api.url)
    ports = kdnsserver.Ports.pick()
    corefile = kdnsserver.cluster_corefile(ports, upstream, endpoint=api.url)
    # The ready wait blocks: run it off the loop so the fake API can answer the lists meanwhile.
    server = await asyncio.to_thread(kdnsserver.start, directory, corefile, ports, tag="kdns-api")
    try:
        assert server.serving_seconds is not None
        rss = server.rss()
        added, removed = [], []
        rng = random.Random(5)
        for i in range(samples):
            name = f"prog-{i}.ns-00.svc.cluster.local."
            if (await _rcode_and_answers(name, ports.dns))[0] != dns.rcode.NXDOMAIN:
                raise RuntimeError(f"{name} answered before it was created")
            api.create(_service(i))
            added.append(await _until(name, ports.dns, want_answer=True))
            await asyncio.sleep(0.01 + rng.random() * 0.02)
            api.delete("Service", f"prog-{i}", "ns-00")
            removed.append(await _until(name, ports.dns, want_answer=False))
            await asyncio.sleep(0.01 + rng.random() * 0.02)
        ptr_added = [await _ptr_freshness(api, i, ports.dns) for i in range(samples)]
        assert server.ready_seconds is not None
        return Programming(
            tuple(added), tuple(removed), tuple(ptr_added), server.serving_seconds, rss, list_seconds,
            server.ready_seconds,
        )
    finally:
        await asyncio.to_thread(server.stop)
        await api.stop()


async def _ptr_freshness(api: Any, i: int, port: int) -> float:
    """Seconds from a Service's creation until its PTR answers, its NXDOMAIN cached beforehand.

    The address is in the synthetic reverse zone (knot answers NXDOMAIN with its SOA, which
    `cache 30` keeps) but above every synthetic Service's.
    """
    ip = f"10.96.{250 + i // 250}.{i % 250 + 1}"
    name = dns.reversename.from_address(ip).to_text()
    for _ in range(2):  # the second is a cache hit
        if (await _rcode_and_answers(name, port, dns.rdatatype.PTR))[0] != dns.rcode.NXDOMAIN:
            raise RuntimeError(f"{name} answered before its Service was created")
    api.create(_service(i, ip, name="ptr"))
    # Past the 30 s a cached NXDOMAIN would live, so a stale cache shows as a figure, not a failure.
    seconds = await _until(name, port, want_answer=True, limit=40.0, rdtype=dns.rdatatype.PTR)
    api.delete("Service", f"ptr-{i}", "ns-00")
    return seconds


def programming(directory: str, cluster: Cluster, samples: int, upstream: int) -> Programming:
    """Sync from the fake API and programming latency; this process runs on the load core meanwhile."""
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {procs.LOAD_CPU})
    try:
        return asyncio.run(_run(directory, cluster, samples, upstream))
    finally:
        os.sched_setaffinity(0, previous)


def median(values: tuple[float, ...]) -> float:
    return statistics.median(values)
