"""Sync time and memory of kdns at S2 (issue 7): `python -m bench.memsync`.

Generates S2 (10,000 services, 50,000 endpoints in 20 namespaces) with bench/cluster.py, starts
`python -m kdns` (the kubeadm Corefile of bench/kdnsserver.py) pinned to the server core and reports
start -> /ready 200, start -> answering DNS, and VmRSS after sync for:

  empty      one namespace (the interpreter, libraries and kdns code)
  manifests  S2 from JSON manifests
  api        S2 listed from the fake API (tests/fakeapi, in this process on the other core), with the
             time a plain aiohttp client takes for the same lists (the fake's own share)
  pods       S2 + 150,000 pods, `pods verified`, from manifests (and with --pods-api from the fake API);
             the pods' share is its RSS minus the manifests row's
  autopath   S2 + 150,000 pods, `pods insecure` and `autopath @kubernetes`: only each running pod's
             address -> namespace is kept; its share is its RSS minus the manifests row's
  watchlist  S2 from the fake API with paged list + watch and with streaming lists (watch-list):
             kdns's sync time, and the fake API's peak memory during 10 concurrent syncs
             (bench/watchlist.py; --small for a small cluster)

Targets (issue 7): sync <= 1.5 s, RSS <= 90 MB at S2; the pods add <= 60 MB. Issue 14: autopath's
pod index adds <= 30 MB.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import replace

from bench import apisync, kdnsserver, procs, watchlist
from bench.cluster import S2, Cluster, ClusterSpec

PODS = 150_000
WATCHLIST_SMALL = ClusterSpec(
    "S2 (small)", namespaces=5, clusterip_services=900, clusterip_endpoints=5, headless_services=100, headless_endpoints=5
)


def _refuse(sock: socket.socket) -> None:
    while True:
        try:
            query, peer = sock.recvfrom(4096)
        except OSError:
            return
        if len(query) >= 12:
            # QR=1, opcode and RD kept, RCODE=5 (REFUSED); the question echoed.
            flags = bytes([query[2] | 0x80, (query[3] & 0x10) | 0x05])
            sock.sendto(query[:2] + flags + query[4:], peer)


def _row(name: str, ready: float | None, serving: float | None, rss: int, note: str = "") -> None:
    r = f"{ready:.2f}" if ready is not None else "-"
    s = f"{serving:.2f}" if serving is not None else "-"
    print(f"| {name:<34} | {r:>7} | {s:>9} | {rss / 1e6:7.1f} | {note}", flush=True)


def _manifests_run(
    work: str, tag: str, manifests: str, upstream: int, pods: str, autopath: bool = False
) -> tuple[float, float, int]:
    ports = kdnsserver.Ports.pick()
    corefile = kdnsserver.cluster_corefile(ports, upstream, manifests=manifests, pods=pods, autopath=autopath)
    server = kdnsserver.start(os.path.join(work, "run"), corefile, ports, tag=tag)
    try:
        assert server.ready_seconds is not None and server.serving_seconds is not None
        return server.ready_seconds, server.serving_seconds, server.rss()
    finally:
        server.stop()


def _api_run(work: str, cluster: Cluster, upstream: int, pods: str) -> apisync.Programming:
    if pods == "insecure":
        return apisync.programming(os.path.join(work, "run"), cluster, 0, upstream)
    original = kdnsserver.cluster_corefile

    def verified(ports: kdnsserver.Ports, upstream: int, **kw: str) -> str:
        return original(ports, upstream, **(kw | {"pods": pods}))

    kdnsserver.cluster_corefile = verified  # type: ignore[assignment]
    try:
        return apisync.programming(os.path.join(work, "run"), cluster, 0, upstream)
    finally:
        kdnsserver.cluster_corefile = original  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memsync", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=("empty", "manifests", "api", "pods", "pods-api", "autopath", "watchlist"),
                        help="runs to do (default: empty manifests api pods autopath)")
    parser.add_argument("--pods", type=int, default=PODS, help=f"pods for the pods run (default {PODS:,})")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind (all are printed)")
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR (reused when present)")
    parser.add_argument("--small", action="store_true", help="watchlist: a small cluster instead of S2 (a smoke run)")
    args = parser.parse_args(argv)
    runs = args.only or ["empty", "manifests", "api", "pods", "autopath"]
    work = args.keep or tempfile.mkdtemp(prefix="kdns-memsync-")
    if not args.keep:
        atexit.register(shutil.rmtree, work, ignore_errors=True)
    # forward's upstream answers REFUSED to everything: nothing here asks outside the cluster, but
    # the loop plugin's probe must get an answer (a silent upstream makes it report a loop).
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    upstream = sink.getsockname()[1]
    threading.Thread(target=_refuse, args=(sink,), daemon=True).start()

    s2 = Cluster(S2)
    spec_pods: ClusterSpec = replace(S2, name="S2+pods", pods=args.pods)
    s2_dir = os.path.join(work, "s2")
    pods_dir = os.path.join(work, "s2-pods")
    empty_dir = os.path.join(work, "empty")
    if "manifests" in runs and not os.path.isdir(s2_dir):
        s2.write_manifests(s2_dir)
    os.makedirs(empty_dir, exist_ok=True)
    with open(os.path.join(empty_dir, "ns.json"), "w", encoding="utf-8") as f:
        f.write('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}')

    print(f"S2: {S2.describe()}; work dir {work}")
    print("| run                                | ready s | serving s | RSS MB  | note")
    print("|------------------------------------|---------|-----------|---------|-----")
    s2_rss: int | None = None
    for _ in range(args.repeat):
        if "empty" in runs:
            ready, serving, rss = _manifests_run(work, "kdns-empty", empty_dir, upstream, "insecure")
            _row("empty (one namespace)", ready, serving, rss)
        if "manifests" in runs:
            ready, serving, rss = _manifests_run(work, "kdns-s2", s2_dir, upstream, "insecure")
            s2_rss = rss
            _row("S2 manifests", ready, serving, rss)
        if "api" in runs:
            api = _api_run(work, s2, upstream, "insecure")
            _row("S2 fake API", api.ready_seconds, api.sync_seconds, api.rss,
                 f"the fake's lists alone: {api.list_seconds:.2f} s")
        if "pods" in runs or "pods-api" in runs or "autopath" in runs:
            pods_cluster = Cluster(spec_pods)
            if ("pods" in runs or "autopath" in runs) and not os.path.isdir(pods_dir):
                pods_cluster.write_manifests(pods_dir)
            if "autopath" in runs:
                ready, serving, rss = _manifests_run(work, "kdns-autopath", pods_dir, upstream, "insecure", True)
                added = f"+{(rss - s2_rss) / 1e6:.1f} MB over S2 manifests" if s2_rss else ""
                _row(f"S2 + {args.pods:,} pods, autopath", ready, serving, rss, added)
            if "pods" in runs:
                ready, serving, rss = _manifests_run(work, "kdns-pods", pods_dir, upstream, "verified")
                added = f"+{(rss - s2_rss) / 1e6:.1f} MB over S2 manifests" if s2_rss else ""
                _row(f"S2 + {args.pods:,} pods verified, manifests", ready, serving, rss, added)
            if "pods-api" in runs:
                api = _api_run(work, pods_cluster, upstream, "verified")
                _row(f"S2 + {args.pods:,} pods verified, fake API", api.ready_seconds, api.sync_seconds,
                     api.rss, f"the fake's lists alone: {api.list_seconds:.2f} s")
    if "watchlist" in runs:
        cluster = Cluster(WATCHLIST_SMALL) if args.small else s2
        print(f"\n{cluster.spec.describe()}: sync with list + watch and with streaming lists")
        print("| sync                | kdns serving s | 10 syncs s | fake API peak MB |")
        print("|---------------------|----------------|------------|------------------|")
        for run in watchlist.compare(work, cluster, upstream):
            print(f"| {run.mode:<19} | {run.sync_seconds:14.2f} | {run.concurrent_seconds:10.2f} | "
                  f"{run.peak_bytes / 1e6:16.1f} |", flush=True)
    print(f"server pinned to CPU {procs.SERVER_CPU}; targets: sync <= 1.5 s, RSS <= 90 MB, pods add <= 60 MB, "
          "autopath's pods <= 30 MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
