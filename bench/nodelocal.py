"""python -m bench.nodelocal: the node-local Corefile under the pod-traffic mix, alone (issue 19).

The steady state of `python -m bench`'s pod-traffic section for deploy/overlays/nodelocal's
Corefile, without the rest of the run: S1 and its pod mix, knot as every upstream (kube-dns over
TCP and the node's resolvers; on the load core), kdns warmed with every line of the mix twice, then
CPU per query at a fixed rate in rounds (knot's own turn on the server core each round, for the
ratio), the cache hit ratio, latency percentiles, and optionally one max-QPS search and a cProfile
of kdns. With --misses, every query a cache miss forwarded over TCP (CPU per miss); with
--udp-misses, every query of S1's cluster-name mix forwarded over UDP; with --kubeadm, the kubeadm
Corefile on S1's cluster-name mix (the cluster hot path, to compare).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import statistics
import sys
import tempfile

from bench import __main__ as bench_main
from bench import kdnsserver, knot, measure, procs
from bench.cluster import S1, write_queries


def cluster_lines(path: str) -> str:
    """The lines of a query file under the cluster zones (the node-local block forwarded over TCP)."""
    with open(path, encoding="ascii") as f:
        lines = [line.strip() for line in f if ".cluster.local. " in line]
    return write_queries(path.replace(".txt", "-cluster.txt"), lines)


def user_system(pid: int) -> tuple[float, float]:
    """utime and stime of a process, seconds (proc(5) fields 14 and 15)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / procs.CLOCK_TICKS, int(fields[12]) / procs.CLOCK_TICKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nodelocal", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max", action="store_true", help="one max-QPS search as well")
    parser.add_argument("--profile", metavar="PATH", help="run kdns under cProfile, written to PATH")
    parser.add_argument("--kubeadm", action="store_true",
                        help="instead: the kubeadm Corefile on S1's cluster-name mix (the cluster hot path)")
    parser.add_argument("--udp-misses", action="store_true",
                        help="instead: `forward` over UDP to knot behind a cache that stores nothing, on S1's "
                        "cluster-name mix (every query a miss forwarded over UDP; use a lower --rate)")
    parser.add_argument("--misses", action="store_true",
                        help="the cache stores nothing and only the mix's cluster lines are asked: every query "
                        "a miss forwarded over TCP (use a lower --rate, e.g. 4000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[nodelocal %(asctime)s] %(message)s",
                        datefmt="%H:%M:%S")
    say = logging.getLogger("bench.nodelocal").info
    plan = dataclasses.replace(measure.Plan.full(), fixed_seconds=args.seconds, searches=args.rounds)
    os.sched_setaffinity(0, {procs.LOAD_CPU})
    work = tempfile.mkdtemp(prefix="kdns-nodelocal-")
    files = bench_main.build(S1, work, plan)
    pods = dataclasses.replace(files, mix=files.pod_mix, distinct=files.pod_distinct)
    upstream = knot.start(os.path.join(work, "knot"), files.zones, cpus=str(procs.LOAD_CPU))
    server = None
    try:
        ports = kdnsserver.Ports.pick()
        corefile = kdnsserver.nodelocal_corefile(ports, upstream.port, upstream.port)
        if args.kubeadm:
            corefile = kdnsserver.cluster_corefile(ports, upstream.port, manifests=files.manifests)
            pods = files
        if args.udp_misses:
            corefile = kdnsserver.forward_miss_corefile(ports, f"127.0.0.1:{upstream.port}")
            pods = files
        if args.misses:
            corefile = corefile.replace("success 9984 30\n", "disable success\n").replace(
                "denial 9984 5\n", "disable denial\n")
            pods = dataclasses.replace(pods, mix=cluster_lines(pods.mix), distinct=cluster_lines(pods.distinct))
        server = kdnsserver.start(os.path.join(work, "run"), corefile, ports, tag="kdns-measured",
                                  profile=args.profile or "")
        bench = bench_main.Bench(plan, work)
        if not (args.misses or args.udp_misses):
            bench.warm(server, pods)
            bench.warm(server, pods)
        hits0 = kdnsserver.metric(ports.metrics, "coredns_cache_hits_total")
        miss0 = kdnsserver.metric(ports.metrics, "coredns_cache_misses_total")
        kdns_loads, knot_loads = [], []
        for _ in range(args.rounds):
            procs.pin(upstream.pid, {procs.SERVER_CPU})
            knot_loads.append(measure.fixed_rate(upstream, pods.mix, args.rate, args.seconds, plan))
            procs.pin(upstream.pid, {procs.LOAD_CPU})
            before = user_system(server.pid)
            load = measure.fixed_rate(server, pods.mix, args.rate, args.seconds, plan, verbose=True)
            user, system = (b - a for a, b in zip(before, user_system(server.pid)))
            say(f"kdns user {user:.2f} s, system {system:.2f} s ({system / max(0.01, user + system) * 100:.0f}% system)")
            kdns_loads.append(load)
            pct = ", ".join(f"p{p:g} {(load.result.percentile(p) or 0) * 1000:.2f}" for p in (50, 90, 99, 99.9))
            say(f"kdns {load.us_per_query:.1f} µs/query (lost {load.result.lost}, {pct} ms); "
                f"knot {knot_loads[-1].us_per_query:.1f} µs/query")
        hits = kdnsserver.metric(ports.metrics, "coredns_cache_hits_total") - hits0
        misses = kdnsserver.metric(ports.metrics, "coredns_cache_misses_total") - miss0
        kdns_median = sorted(kdns_loads, key=lambda load: load.us_per_query)[len(kdns_loads) // 2]
        knot_median = statistics.median(load.us_per_query for load in knot_loads)
        p99 = kdns_median.result.percentile(99) or 0.0
        label = "kubeadm" if args.kubeadm else "forward-over-UDP" if args.udp_misses else "node-local"
        print(f"{label} kdns at {args.rate:,} qps, {args.seconds:g} s x {args.rounds}: "
              f"{kdns_median.us_per_query:.1f} µs/query (rounds "
              + ", ".join(f"{load.us_per_query:.1f}" for load in kdns_loads)
              + f"), knot {knot_median:.1f} µs/query ({kdns_median.us_per_query / knot_median:.2f}x), "
              f"p99 {p99 * 1000:.2f} ms, lost {[load.result.lost for load in kdns_loads]}, "
              f"hit ratio {hits / max(1.0, hits + misses) * 100:.1f}%")
        if args.max:
            best = measure.max_qps(server.port, pods.mix, plan, searches=1)
            print(f"{label} kdns max QPS, zero loss (one search): {best.value:,.0f}")
    finally:
        if server is not None:
            server.stop()
        upstream.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.profile:
        # Own time over the whole process (start-up and warm passes included), largest first.
        for name, share, total, calls in measure.top_functions(args.profile, 1, count=40):
            print(f"{share * 100:5.1f}%  {total / 1e6:8.3f} s  {calls:>9,}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
