"""The soak: kdns as a subprocess pinned to core 0, dnsperf on core 1 at 80% of kdns's measured
maximum, Services churning through the fake API, the Corefile changing (and reloading) on a clock.

Passes when dnsperf loses no query, kdns's RSS grows less than 5% after warm-up, and a Service's
new address is served within the programming-latency budget every time it changes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chaos.cluster import Cluster, cluster_ip, endpoint_ip, service, slice_
from chaos.common import REPO, Result, exchange_many, make_query, rss
from tests.fakeapi import FakeApi
from tests.upstreams import stop_process

# A changed Service must be answered with its new address within this many seconds.
PROGRAMMING_BUDGET = 2.0
MEMORY_GROWTH_LIMIT = 0.05


def free_port() -> int:
    from tests.upstreams import free_port as both_free

    return both_free()


def corefile(port: int, api: str, http: dict[str, int], reload_interval: str, generation: int) -> str:
    return f"""# generation {generation}
.:{port} {{
    errors
    health 127.0.0.1:{http["health"]}
    ready 127.0.0.1:{http["ready"]}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        endpoint {api}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    prometheus 127.0.0.1:{http["prometheus"]}
    cache 30 {{
        disable success cluster.local
        disable denial cluster.local
    }}
    reload {reload_interval}
    loadbalance
}}
"""


def query_file(api: FakeApi, path: Path) -> int:
    lines = []
    for s in api.objects("Service"):
        base = f"{s['metadata']['name']}.{s['metadata']['namespace']}.svc.cluster.local"
        lines += [f"{base} A", f"{base} AAAA", f"_http._tcp.{base} SRV", f"missing-{s['metadata']['name']}.{s['metadata']['namespace']}.svc.cluster.local A"]
        for ip in s["spec"].get("clusterIPs", []):
            if ip != "None":
                lines.append(f"{ipaddress.ip_address(ip).reverse_pointer} PTR")
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def parse_dnsperf(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, pattern in {
        "sent": r"Queries sent:\s+(\d+)",
        "completed": r"Queries completed:\s+(\d+)",
        "lost": r"Queries lost:\s+(\d+)",
        "qps": r"Queries per second:\s+([\d.]+)",
        "latency_avg": r"Average Latency \(s\):\s+([\d.]+)",
    }.items():
        m = re.search(pattern, text)
        if m:
            out[key] = float(m.group(1))
    return out


async def dnsperf(port: int, queries: Path, seconds: float, rate: int | None, core: str) -> dict[str, float]:
    args = ["taskset", "-c", core, "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries),
            "-l", str(int(seconds)), "-t", "5", "-q", "500", "-c", "4"]
    if rate:
        args += ["-Q", str(rate)]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    stats = parse_dnsperf(text)
    if "sent" not in stats:
        raise RuntimeError(f"dnsperf failed: {text[-2000:]}")
    return stats


async def run(duration: float, measure: float = 10.0, reload_every: float = 60.0, changes_per_minute: int = 300,
              services: int = 2000, name: str = "soak") -> Result:
    if not shutil.which("dnsperf") or not shutil.which("taskset"):
        raise RuntimeError("the soak needs dnsperf and taskset (Debian: dnsperf, util-linux)")
    result = Result(
        name,
        f"dnsperf at 80% of the measured maximum for {duration:.0f} s; {changes_per_minute} Service changes a minute "
        f"through the fake API; the Corefile rewritten every {reload_every:.0f} s (reload); {services} Services",
    )
    started = time.monotonic()
    cores = os.sched_getaffinity(0)
    kdns_core, other_core = ("0", "1") if len(cores) > 1 else ("0", "0")
    # The harness itself (fake API, churn, probes) shares dnsperf's core, not kdns's.
    os.sched_setaffinity(0, {int(other_core)})
    cluster = Cluster(services, seed=11)
    tmp = Path(tempfile.mkdtemp(prefix="kdns-soak-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        async with FakeApi(bookmark_interval=60.0) as api:
            cluster.load(api)
            api.create(service("probe", "ns0", cluster_ip(60_000)))
            port = free_port()
            http = {k: free_port() for k in ("health", "ready", "prometheus")}
            conf = tmp / "Corefile"
            generation = 0
            conf.write_text(corefile(port, api.url, http, "2s 1s", generation))
            queries = tmp / "queries.txt"
            result.figures["query mix lines"] = query_file(api, queries)
            log = open(tmp / "kdns.log", "wb")
            proc = subprocess.Popen(
                ["taskset", "-c", kdns_core, sys.executable, "-m", "kdns", "-conf", str(conf)],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            )
            if not await _ready(http["ready"], 30.0):
                raise RuntimeError(f"kdns did not become ready: {(tmp / 'kdns.log').read_text()[-2000:]}")
            peak = await dnsperf(port, queries, measure, None, other_core)
            target = int(peak["qps"] * 0.8)
            result.figures["measured max qps"] = int(peak["qps"])
            result.figures["soak rate qps"] = target

            samples: list[tuple[float, int]] = []
            latencies: list[float] = []
            stale: list[float] = []
            changes = 0
            reloads = 0
            stop = asyncio.Event()

            async def churn() -> None:
                nonlocal changes
                interval = 60.0 / changes_per_minute
                while not stop.is_set():
                    ours = [s for s in api.objects("Service") if s["metadata"]["name"].startswith("svc")]
                    victim = cluster.rng.choice(ours)
                    n, ns = victim["metadata"]["name"], victim["metadata"]["namespace"]
                    step = changes % 3
                    if step == 0:  # replace one service by a new one: the count stays flat
                        api.delete("Service", n, ns)
                        if api.get("EndpointSlice", f"{n}-abcde", ns):
                            api.delete("EndpointSlice", f"{n}-abcde", ns)
                        for obj in cluster.new_service(ns):
                            api.create(obj)
                    elif step == 1 and victim["spec"]["clusterIP"] != "None":
                        ip = cluster_ip(cluster.take_ip())
                        api.patch("Service", n, {"spec": {"clusterIP": ip, "clusterIPs": [ip]}}, ns)
                    else:
                        ips = [endpoint_ip(cluster.take_ep()) for _ in range(2)]
                        body = slice_(n, ns, ips)
                        (api.update if api.get("EndpointSlice", f"{n}-abcde", ns) else api.create)(body)
                    changes += 1
                    await asyncio.sleep(interval)

            async def probe() -> None:
                """Re-address the probe service every 2 s; time until kdns answers the new address."""
                i = 0
                while not stop.is_set():
                    i += 1
                    ip = cluster_ip(60_000 + i)
                    api.patch("Service", "probe", {"spec": {"clusterIP": ip, "clusterIPs": [ip]}}, "ns0")
                    t0 = time.monotonic()
                    while True:
                        (data,) = await exchange_many("127.0.0.1", port, [make_query("probe.ns0.svc.cluster.local.")], timeout=1.0)
                        if data is not None and socket.inet_aton(ip) in data[-4:]:
                            latencies.append(time.monotonic() - t0)
                            break
                        if time.monotonic() - t0 > 10 * PROGRAMMING_BUDGET:
                            stale.append(time.monotonic() - t0)
                            break
                        await asyncio.sleep(0.01)
                    await asyncio.sleep(2.0)

            async def reload() -> None:
                nonlocal generation, reloads
                while not stop.is_set():
                    try:
                        await asyncio.wait_for(stop.wait(), reload_every)
                        return
                    except asyncio.TimeoutError:
                        pass
                    generation += 1
                    conf.write_text(corefile(port, api.url, http, "2s 1s", generation))
                    reloads += 1

            async def memory() -> None:
                t0 = time.monotonic()
                while not stop.is_set():
                    samples.append((time.monotonic() - t0, rss(proc.pid)))  # type: ignore[union-attr]
                    await asyncio.sleep(1.0)

            tasks = [asyncio.ensure_future(t()) for t in (churn, probe, reload, memory)]
            soak = await dnsperf(port, queries, duration, target, other_core)
            stop.set()
            await asyncio.gather(*tasks)
            alive = proc.poll() is None
            result.check(alive, "kdns exited during the soak")
            result.sent = int(soak["sent"])
            result.lost = int(soak["lost"])
            result.figures["achieved qps"] = int(soak.get("qps", 0))
            result.figures["Service changes"] = changes
            result.figures["reloads"] = reloads
            warm = [m for t, m in samples if t >= max(10.0, duration * 0.25)]
            if warm:
                result.mem_before, result.mem_after = warm[0], warm[-1]
                growth = (warm[-1] - warm[0]) / warm[0]
                result.figures["RSS growth after warm-up"] = f"{growth * 100:.1f}%"
                result.figures["RSS max MiB"] = round(max(m for _, m in samples) / 2**20, 1)
                result.check(growth < MEMORY_GROWTH_LIMIT, f"RSS grew {growth * 100:.1f}% after warm-up")
            if latencies:
                ordered = sorted(latencies)
                result.figures["programming latency p50/p99/max s"] = (
                    f"{statistics.median(ordered):.3f} / {ordered[int(0.99 * (len(ordered) - 1))]:.3f} / {ordered[-1]:.3f}"
                )
            late = [x for x in latencies if x > PROGRAMMING_BUDGET] + stale
            result.wrong = len(late)
            result.figures["probe changes"] = len(latencies) + len(stale)
            result.check(not late, f"{len(late)} changes served later than {PROGRAMMING_BUDGET} s")
            result.check(result.lost == 0, f"dnsperf lost {result.lost} queries")
    finally:
        if proc is not None:
            stop_process(proc, timeout=15)
        os.sched_setaffinity(0, cores)
        shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result


async def _ready(port: int, timeout: float) -> bool:
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"http://127.0.0.1:{port}/ready") as resp:
                    if resp.status == 200:
                        return True
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    return False
