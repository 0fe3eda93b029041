"""Micro-benchmark of the slow path: the first query for a name, in-process, no sockets on the query path.

Builds the kubeadm Corefile (bench/kdnsserver.py) with the kubernetes `manifests` source over a
synthetic cluster (bench/cluster.py), starts kdns in this process, then awaits Listener.handle for
N distinct names of the issue 7 mix (each asked once: every one is a first query, so none is served
by the fast-path table) and prints the mean and median µs per query, then a cProfile top 25 of a
second pass over other names.

    python -m bench.slowpath [--cluster S1] [-n 2000] [--edns] [--no-profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
from time import perf_counter

import uvloop
from dnslib import EDNS0, DNSRecord

from bench.cluster import S1, S2, Cluster
from bench.kdnsserver import Ports, cluster_corefile
from kdns.config import load_config
from kdns.server.app import App
from kdns.server.mux import Listener

CLIENT = ("127.0.0.1", 40000)


def queries(names: list[str], edns: bool) -> list[bytes]:
    out = []
    for i, line in enumerate(names):
        name, qtype = line.split()
        q = DNSRecord.question(name, qtype)
        q.header.id = i & 0xFFFF
        if edns:
            q.add_ar(EDNS0(udp_len=1232))
        out.append(bytes(q.pack()))
    return out


async def run(args: argparse.Namespace) -> None:
    spec = {"S1": S1, "S2": S2}[args.cluster]
    cluster = Cluster(spec)
    with tempfile.TemporaryDirectory() as tmp:
        manifests = os.path.join(tmp, "manifests")
        cluster.write_manifests(manifests)
        # Port 0 everywhere: free ports; the upstream is a closed port (cluster names never reach it).
        corefile = cluster_corefile(Ports(0, 0, 0, 0), upstream=9, manifests=manifests)
        path = os.path.join(tmp, "Corefile")
        with open(path, "w", encoding="utf-8") as f:
            f.write(corefile)
        config = load_config(path, default_port=0)
        app = App(path, config, default_port=0, default_host="127.0.0.1")
        await app.start()
        try:
            listener: Listener = next(iter(app.sockets.values())).listener
            names = cluster.distinct_names()
            half = len(names) // 2
            timed = queries(names[: min(args.n, half)], args.edns)
            profiled = queries(names[half : half + min(args.n, half)], args.edns)
            # Warm-up on names outside both sets (imports, first-use caches of dnslib's class tables).
            for data in queries([f"warm{i}.ns-00.svc.cluster.local. A" for i in range(50)], args.edns):
                await listener.handle(data, "udp", CLIENT, "1")
            samples = []
            handle = listener.handle
            for data in timed:
                start = perf_counter()
                out = await handle(data, "udp", CLIENT, "1")
                samples.append(perf_counter() - start)
                assert out is not None
            mean = statistics.fmean(samples) * 1e6
            median = statistics.median(samples) * 1e6
            p90 = statistics.quantiles(samples, n=10)[-1] * 1e6
            print(
                f"slow path, {spec.name}, {len(samples)} first queries{' with EDNS' if args.edns else ''}: "
                f"mean {mean:.1f} µs, median {median:.1f} µs, p90 {p90:.1f} µs per query"
            )
            by_type: dict[str, list[float]] = {}
            for line, sample in zip(names, samples):
                by_type.setdefault(_kind(line), []).append(sample)
            for kind, values in sorted(by_type.items()):
                print(f"  {kind:10s} {len(values):5d}  median {statistics.median(values) * 1e6:6.1f} µs")
            if not args.no_profile:
                profile = cProfile.Profile()
                profile.enable()
                for data in profiled:
                    await handle(data, "udp", CLIENT, "1")
                profile.disable()
                stats = pstats.Stats(profile, stream=sys.stdout)
                stats.sort_stats("tottime").print_stats(25)
        finally:
            await app.stop()


def _kind(line: str) -> str:
    name, qtype = line.split()
    if qtype != "A":
        return qtype
    if name.startswith("www.example"):
        return "NXDOMAIN"
    if name.startswith("host-"):
        return "A endpoint"
    return "A"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", choices=("S1", "S2"), default="S1")
    parser.add_argument("-n", type=int, default=2000, help="first queries to time")
    parser.add_argument("--edns", action="store_true", help="queries carry an OPT record (as dig sends)")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run(args))


if __name__ == "__main__":
    main()
