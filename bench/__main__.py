"""python -m bench [--quick] [--out FILE] [--keep DIR]: kdns against knot on one core each (issue 7).

Servers run pinned to CPU 0 (taskset -c 0), dnsperf and this process on CPU 1. See bench/README.md
for what each figure means.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench import apisync, dnsperf, kdnsserver, knot, measure, podmix, procs, unbound, watchlist
from bench import autopath as bench_autopath
from bench import rewrite as rewrite_bench
from bench import template as template_bench
from bench import report as fmt
from bench.cluster import S1, S2, Cluster, ClusterSpec, write_queries
from bench.report import Report, Row

REPO = kdnsserver.REPO
RMEM_WANTED = 8 * 2**20

# --quick: the same steps on small clusters, to check the harness in well under a minute.
S1_QUICK = ClusterSpec(
    "S1 (quick)",
    namespaces=4,
    clusterip_services=100,
    clusterip_endpoints=3,
    headless_services=20,
    headless_endpoints=5,
)
S2_QUICK = ClusterSpec(
    "S2 (quick)",
    namespaces=5,
    clusterip_services=900,
    clusterip_endpoints=5,
    headless_services=100,
    headless_endpoints=5,
)
PODS_FULL = 150_000
# Every name once (filling the fast path or a cache) at this rate, far below saturation.
WARM_RATE = 5000
# Forwarding every query (cache misses): a rate one core sustains over TLS and UDP alike.
FORWARD_MISS_RATE = 2000
PODS_QUICK = 15_000
# Node-local cache hits: the mix's names asked once this fast, then a run this short (its denials
# live 5 s: the run must end before the first of them does).
NODELOCAL_WARM_RATE = 20_000
NODELOCAL_HIT_SECONDS = 3.0
# ... on this many distinct queries of the mix: warmed in 0.2 s, and far fewer denials than the
# cache holds.
NODELOCAL_HIT_NAMES = 4000


log = logging.getLogger("bench")


def say(text: str) -> None:
    log.info("%s", text)


def ensure_tools() -> None:
    """dnsperf, knotd, unbound and openssl from Debian when missing (apt-get as root)."""
    missing = [
        pkg
        for tool, pkg in (("dnsperf", "dnsperf"), ("knotd", "knot"), ("unbound", "unbound"), ("openssl", "openssl"))
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}")
    ]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"bench: missing {' '.join(missing)}; run: sudo apt-get install -y {' '.join(missing)}")
    say(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", *missing], check=True, env=env)


class Kernel:
    """Socket buffer limits for the run, restored afterwards.

    kdns asks for a 4 MiB SO_RCVBUF; the kernel grants at most net.core.rmem_max. knot 3.2 has no
    receive-buffer option and takes net.core.rmem_default (208 KiB here, ~190 queued queries), so
    for the same footing rmem_default is raised to 4 MiB too while the servers start.
    """

    SETTINGS = (("rmem_max", RMEM_WANTED), ("rmem_default", 4 * 2**20))

    def __init__(self) -> None:
        self.saved: dict[str, int] = {}
        self.notes: list[str] = []

    def tune(self) -> None:
        for name, wanted in self.SETTINGS:
            path = f"/proc/sys/net/core/{name}"
            try:
                with open(path, encoding="ascii") as f:
                    current = int(f.read())
            except OSError as e:
                self.notes.append(f"net.core.{name} unreadable ({e.strerror})")
                continue
            if current >= wanted:
                self.notes.append(f"net.core.{name} = {current}")
                continue
            try:
                with open(path, "w", encoding="ascii") as f:
                    f.write(str(wanted))
            except OSError as e:
                self.notes.append(f"net.core.{name} = {current}, could not raise it to {wanted} ({e.strerror})")
                continue
            self.saved[name] = current
            self.notes.append(f"net.core.{name} raised from {current} to {wanted} for the run")

    def restore(self) -> None:
        for name, value in self.saved.items():
            try:
                with open(f"/proc/sys/net/core/{name}", "w", encoding="ascii") as f:
                    f.write(str(value))
            except OSError:
                pass


@dataclass
class Files:
    """Everything generated for one cluster spec."""

    cluster: Cluster
    manifests: str
    zones: dict[str, str]
    mix: str
    distinct: str
    # Pod traffic (bench/podmix.py), where the cluster has zones for knot: dnsperf lines, each once.
    pod_mix: str = ""
    pod_distinct: str = ""


def build(spec: ClusterSpec, work: str, plan: measure.Plan, zones: bool = True, queries: bool = True) -> Files:
    t = time.perf_counter()
    cluster = Cluster(spec)
    base = os.path.join(work, spec.name.split()[0].lower() + ("-pods" if spec.pods else ""))
    manifests = os.path.join(base, "manifests")
    cluster.write_manifests(manifests)
    zone_files = cluster.write_zones(os.path.join(base, "zones")) if zones else {}
    mix = write_queries(os.path.join(base, "mix.txt"), cluster.query_mix(plan.query_lines)) if queries else ""
    distinct = write_queries(os.path.join(base, "distinct.txt"), cluster.distinct_names()) if queries else ""
    files = Files(cluster, manifests, zone_files, mix, distinct)
    if zones and queries:
        # The outside names of pod traffic: knot serves them as kdns's upstream and as the ceiling.
        zone_files.update(podmix.write_external_zone(os.path.join(base, "zones")))
        lines = podmix.query_mix(cluster, plan.query_lines)
        files.pod_mix = write_queries(os.path.join(base, "pod-mix.txt"), lines)
        files.pod_distinct = write_queries(os.path.join(base, "pod-distinct.txt"), podmix.distinct(lines))
    say(f"{spec.name}: {spec.describe()} written in {time.perf_counter() - t:.1f} s")
    return files


@dataclass
class ServerFigures:
    """The head-to-head figures of one server on S1."""

    sync: float | None = None
    rss: int | None = None
    rss_loaded: int | None = None
    max: measure.MaxQps | None = None
    loads: dict[int, measure.Load] | None = None  # the median round at each rate
    rounds: dict[int, list[measure.Load]] | None = None
    latency: measure.Load | None = None
    tcp: dnsperf.Result | None = None


class Bench:
    def __init__(self, plan: measure.Plan, work: str) -> None:
        self.plan = plan
        self.work = work
        self.report = Report(
            "kdns benchmark" + (" (--quick smoke run: small clusters, short runs)" if plan.quick else "")
        )
        self.knot: procs.ServerProcess | None = None
        self.kdns_fig = ServerFigures()
        self.knot_fig = ServerFigures()
        self.rcvbuf_warnings: list[str] = []
        self.s2_rss: int | None = None

    def section(self, name: str, fn: Callable[[], None]) -> None:
        say(name)
        t = time.perf_counter()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - one broken section must not lose the others' figures
            say(f"{name} failed: {type(e).__name__}: {e}")
            self.report.failed(name, e)
        say(f"{name}: {time.perf_counter() - t:.0f} s")

    # -- shared steps ----------------------------------------------------------------------------

    def head_to_head(self, server: procs.ServerProcess, files: Files, fig: ServerFigures) -> None:
        """Max QPS and TCP, the same for both servers (CPU per query and latency: fixed_rates)."""
        assert server.serving_seconds is not None
        fig.sync, fig.rss = server.serving_seconds, server.rss()
        if server.ready_seconds is not None and server.ready_seconds < server.serving_seconds - 0.005:
            self.report.notes.append(
                f"{server.name}: /ready answered 200 {(server.serving_seconds - server.ready_seconds) * 1000:.0f} ms "
                "before the DNS port answered (the sync figures are start -> both)"
            )
        fig.max = measure.max_qps(server.port, files.mix, self.plan)
        say(f"  {server.name}: max {fig.max.value:,.0f} qps (searches {[round(v) for v in fig.max.searches]})")
        fig.tcp = measure.unlimited(
            server.port, files.mix, self.plan.fixed_seconds, self.plan, mode="tcp", clients=4, outstanding=400
        )
        fig.rss_loaded = server.rss()

    def fixed_rates(
        self, servers: list[tuple[procs.ServerProcess, ServerFigures]], files: Files,
        turn: Callable[[procs.ServerProcess], None] | None = None,
    ) -> None:
        """CPU per query and latency at the fixed rates, in rounds that take each server in turn.

        The host's noise moves by the minute (on a shared VM, a server's CPU per query has moved by
        a third between runs while the code stayed the same). Taking the servers in turn, round
        after round, exposes each to the same stretches of it; the figure is each one's median
        round, and every round is in the notes. turn(server) is called before each server's run.
        """
        for _, fig in servers:
            fig.loads, fig.rounds = {}, {}
        for rate in self.plan.rates:
            verbose = rate == self.plan.latency_rate
            for _ in range(self.plan.searches):
                for server, fig in servers:
                    if turn is not None:
                        turn(server)
                    load = measure.fixed_rate(server, files.mix, rate, self.plan.fixed_seconds, self.plan, verbose=verbose)
                    assert fig.rounds is not None
                    fig.rounds.setdefault(rate, []).append(load)
                    say(f"  {server.name}: {rate} qps -> {load.us_per_query:.1f} µs/query, lost {load.result.lost}")
            for _, fig in servers:
                assert fig.loads is not None and fig.rounds is not None
                ranked = sorted(fig.rounds[rate], key=lambda load: load.us_per_query)
                fig.loads[rate] = ranked[len(ranked) // 2]
                if verbose:
                    fig.latency = fig.loads[rate]

    def start_kdns(
        self, files: Files, tag: str, workers: int = 1, profile: str = "", pods: str = "insecure", manifests: str = "",
        autopath: bool = False,
    ) -> procs.ServerProcess:
        assert self.knot is not None
        ports = kdnsserver.Ports.pick()
        corefile = kdnsserver.cluster_corefile(
            ports, self.knot.port, manifests=manifests or files.manifests, pods=pods, autopath=autopath
        )
        server = kdnsserver.start(
            os.path.join(self.work, "run"), corefile, ports, workers=workers, tag=tag, profile=profile
        )
        return server

    def note_rcvbuf(self, server: procs.ServerProcess) -> None:
        for line in server.log_tail(200).splitlines():
            if "rmem_max" in line and line not in self.rcvbuf_warnings:
                self.rcvbuf_warnings.append(line.strip())

    def warm(self, server: procs.ServerProcess, files: Files) -> None:
        """Ask every name once (fills the fast path, or a cache) at a rate far below saturation."""
        dnsperf.run(server.port, files.distinct, rate=WARM_RATE, max_runs=1, timeout=self.plan.timeout)

    # -- sections --------------------------------------------------------------------------------

    def knot_s1(self, s1: Files) -> None:
        self.knot = knot.start(os.path.join(self.work, "knot"), s1.zones)
        self.head_to_head(self.knot, s1, self.knot_fig)
        # From here knot is the upstream of kdns's forward: idle, on the load core.
        procs.pin(self.knot.pid, {procs.LOAD_CPU})

    def kdns_s1(self, s1: Files) -> None:
        assert self.knot is not None
        server = self.start_kdns(s1, "kdns-s1")
        try:
            sample = s1.cluster.query_mix(300, seed=99)
            agree, total, first = measure.compare_answers(server.port, self.knot.port, sample)
            self.report.notes.append(
                f"Answers agree with knot's (rcode and answer RRsets) on {agree}/{total} sampled mix queries"
                + (f"; first difference: {first}" if first else ".")
            )
            self.head_to_head(server, s1, self.kdns_fig)
            # knot back on the server core for the fixed-rate rounds, taken in turn with kdns.
            procs.pin(self.knot.pid, {procs.SERVER_CPU})
            try:
                self.fixed_rates([(self.knot, self.knot_fig), (server, self.kdns_fig)], s1)
            finally:
                procs.pin(self.knot.pid, {procs.LOAD_CPU})
            self.note_rcvbuf(server)
        finally:
            server.stop()
        self.add_head_to_head(s1.cluster.spec)

    def add_head_to_head(self, spec: ClusterSpec) -> None:
        k, n = self.kdns_fig, self.knot_fig
        sec = f"{spec.name} UDP, 1 core"
        if k.max and n.max:
            self.report.add(
                Row(
                    sec,
                    "max QPS, zero loss (median of 3)"
                    if self.plan.searches == 3
                    else f"max QPS, zero loss (median of {self.plan.searches})",
                    fmt.qps(k.max.value),
                    fmt.qps(n.max.value),
                    fmt.ratio(k.max.value, n.max.value),
                    "≥ 0.65x knot",
                    fmt.verdict(k.max.value / n.max.value, 0.65, True) if n.max.value else "",
                )
            )
        rounds_label = f"median of {self.plan.searches} rounds, in turn with knot"
        for rate in self.plan.rates:
            kl = k.loads.get(rate) if k.loads else None
            nl = n.loads.get(rate) if n.loads else None
            kv = kl.us_per_query if kl else None
            nv = nl.us_per_query if nl else None
            self.report.add(
                Row(
                    sec,
                    f"server CPU per query at {rate // 1000}k QPS ({rounds_label})",
                    fmt.us(kv),
                    fmt.us(nv),
                    fmt.ratio(kv, nv),
                    "≤ 1.5x knot",
                    fmt.verdict(kv / nv, 1.5) if kv and nv else "",
                )
            )
        for p in (50, 99):
            kv = k.latency.result.percentile(p) if k.latency else None
            nv = n.latency.result.percentile(p) if n.latency else None
            self.report.add(
                Row(
                    sec,
                    f"p{p} latency at {self.plan.latency_rate // 1000}k QPS (that median round)",
                    fmt.ms(kv),
                    fmt.ms(nv),
                    fmt.ratio(kv, nv),
                    "≤ 1 ms" if p == 99 else "",
                    fmt.verdict(kv, 0.001) if p == 99 else "",
                )
            )
        self.report.add(Row(sec, "RSS after sync", fmt.mb(k.rss), fmt.mb(n.rss), fmt.ratio(k.rss, n.rss)))
        self.report.add(
            Row(
                sec,
                "RSS after the load runs",
                fmt.mb(k.rss_loaded),
                fmt.mb(n.rss_loaded),
                fmt.ratio(k.rss_loaded, n.rss_loaded),
            )
        )
        self.report.add(
            Row(
                sec, "sync: start -> ready and answering", fmt.secs(k.sync), fmt.secs(n.sync),
                fmt.ratio(k.sync, n.sync),
                "≤ 0.15 s", fmt.verdict(k.sync, 0.15) if k.sync else "",
            )
        )
        kt, nt = (k.tcp.qps if k.tcp else None), (n.tcp.qps if n.tcp else None)
        self.report.add(
            Row(f"{spec.name} TCP", "QPS, 4 connections x 100 pipelined", fmt.qps(kt), fmt.qps(nt), fmt.ratio(kt, nt))
        )
        for name, fig in (("kdns", k), ("knot", n)):
            if fig.max:
                self.report.notes.append(
                    f"{name}: unthrottled {fig.max.ceiling:,.0f} qps; zero-loss searches "
                    f"{', '.join(f'{v:,.0f}' for v in fig.max.searches)}; {len(fig.max.probes)} probes; "
                    f"kernel receive-buffer drops during them: {fig.max.drops}"
                )
            for rate, loads in (fig.rounds or {}).items():
                self.report.notes.append(
                    f"{name}: CPU per query at {rate:,} qps, round by round: "
                    + ", ".join(f"{load.us_per_query:.1f}" for load in loads) + " µs"
                )
            if fig.latency:
                r = fig.latency.result
                self.report.notes.append(
                    f"{name} at {fig.latency.rate} qps: {r.completed:,} answers, lost {r.lost}, rcodes {r.rcodes}"
                )

    def pod_traffic(self, s1: Files) -> None:
        """The pod-traffic mix (bench/podmix.py) on knot (the ceiling: every answer from static
        zones, the outside names included), kdns with the kubeadm Corefile (outside names forwarded
        to knot and cached) and kdns with the node-local Corefile (everything forwarded to knot, TCP
        for the cluster zones, and cached). knot is on the server core for its own turns only; the
        rest of the time it is the upstream, on the load core."""
        assert self.knot is not None
        knot_server = self.knot
        pods = dataclasses.replace(s1, mix=s1.pod_mix, distinct=s1.pod_distinct)
        ports = kdnsserver.Ports.pick()
        servers: list[procs.ServerProcess] = []
        figs = {name: ServerFigures() for name in ("knot", "kdns", "nodelocal")}

        def turn(server: procs.ServerProcess) -> None:
            procs.pin(knot_server.pid, {procs.SERVER_CPU if server is knot_server else procs.LOAD_CPU})

        try:
            servers.append(self.start_kdns(s1, "kdns-podmix"))
            nodelocal_corefile = kdnsserver.nodelocal_corefile(ports, knot_server.port, knot_server.port)
            servers.append(
                kdnsserver.start(os.path.join(self.work, "run"), nodelocal_corefile, ports, tag="kdns-nodelocal")
            )
            kdns, nodelocal = servers
            with open(pods.mix, encoding="ascii") as f:
                sample = [line.strip() for _, line in zip(range(300), f)]
            for server in servers:
                agree, total, first = measure.compare_answers(server.port, knot_server.port, sample)
                self.report.notes.append(
                    f"pod traffic: {server.name}'s answers agree with knot's on {agree}/{total} mix queries"
                    + (f"; first difference: {first}" if first else ".")
                )
                # Twice: the first fills the cache, the second is its hit (then a fast-path answer).
                self.warm(server, pods)
                self.warm(server, pods)
            hits0 = kdnsserver.metric(ports.metrics, "coredns_cache_hits_total")
            miss0 = kdnsserver.metric(ports.metrics, "coredns_cache_misses_total")
            for name, server in (("knot", knot_server), ("kdns", kdns), ("nodelocal", nodelocal)):
                turn(server)
                searches = 1 if name == "nodelocal" else None
                best = figs[name].max = measure.max_qps(server.port, pods.mix, self.plan, searches=searches)
                say(f"  pod traffic, {name}: max {best.value:,.0f} qps")
            self.fixed_rates([(knot_server, figs["knot"]), (kdns, figs["kdns"]), (nodelocal, figs["nodelocal"])],
                             pods, turn)
            hits = kdnsserver.metric(ports.metrics, "coredns_cache_hits_total") - hits0
            misses = kdnsserver.metric(ports.metrics, "coredns_cache_misses_total") - miss0
        finally:
            for server in servers:
                server.stop()
            procs.pin(knot_server.pid, {procs.LOAD_CPU})
        hit_loads, hit_ratio = self.nodelocal_hits(knot_server, pods)
        self.add_pod_traffic(figs, hits / max(1.0, hits + misses), hit_loads, hit_ratio)

    def nodelocal_hits(self, knot_server: procs.ServerProcess, pods: Files) -> tuple[list[measure.Load], float]:
        """Node-local CPU per query of cache hits alone: its denials live 5 s (and 9,984 of them at
        most) and its answers 30 s, so each run is a short one (3 s at the latency rate) on a fresh
        process right after every name of a slice of the mix (its first NODELOCAL_HIT_NAMES distinct
        queries, asked in well under a second) was asked once; and the share of hits in those runs.
        On the whole mix the warm pass alone outlasts the denials' TTL (and their capacity), so the
        runs would measure refetches: the steady-state rows above are those."""
        mix, distinct = self.nodelocal_hit_files(pods)
        loads = []
        hits = misses = 0.0
        for i in range(self.plan.searches):
            ports = kdnsserver.Ports.pick()
            corefile = kdnsserver.nodelocal_corefile(ports, knot_server.port, knot_server.port)
            server = kdnsserver.start(os.path.join(self.work, "run"), corefile, ports, tag=f"kdns-nodelocal-hits{i}")
            try:
                dnsperf.run(server.port, distinct, rate=NODELOCAL_WARM_RATE, max_runs=1, timeout=self.plan.timeout)
                hits0 = kdnsserver.metric(ports.metrics, "coredns_cache_hits_total")
                miss0 = kdnsserver.metric(ports.metrics, "coredns_cache_misses_total")
                load = measure.fixed_rate(server, mix, self.plan.latency_rate, NODELOCAL_HIT_SECONDS, self.plan)
                hits += kdnsserver.metric(ports.metrics, "coredns_cache_hits_total") - hits0
                misses += kdnsserver.metric(ports.metrics, "coredns_cache_misses_total") - miss0
            finally:
                server.stop()
            loads.append(load)
            say(f"  node-local hits: {load.us_per_query:.1f} µs/query")
        return loads, hits / max(1.0, hits + misses)

    def nodelocal_hit_files(self, pods: Files) -> tuple[str, str]:
        """The mix's lines up to its NODELOCAL_HIT_NAMES-th distinct one, and those distinct lines."""
        lines: list[str] = []
        seen: set[str] = set()
        with open(pods.mix, encoding="ascii") as f:
            for line in map(str.strip, f):
                if line not in seen:
                    if len(seen) == NODELOCAL_HIT_NAMES:
                        break
                    seen.add(line)
                lines.append(line)
        base = os.path.join(self.work, "nodelocal-hits")
        os.makedirs(base, exist_ok=True)
        return (write_queries(os.path.join(base, "mix.txt"), lines),
                write_queries(os.path.join(base, "distinct.txt"), podmix.distinct(lines)))

    def add_pod_traffic(
        self, figs: dict[str, ServerFigures], hit_ratio: float, hit_loads: list[measure.Load], hits_share: float,
    ) -> None:
        k, n, local = figs["kdns"], figs["knot"], figs["nodelocal"]
        cluster_max = self.kdns_fig.max.value if self.kdns_fig.max else None
        sec = "S1 pod traffic (ndots:5 lookups: 55% cluster NXDOMAIN, 29% cluster answers, 16% outside names)"
        if k.max and n.max:
            self.report.add(Row(
                sec, f"max QPS, zero loss (median of {self.plan.searches})", fmt.qps(k.max.value),
                fmt.qps(n.max.value), fmt.ratio(k.max.value, n.max.value), "≥ 0.9x kdns's cluster-name mix",
                f"{fmt.ratio(k.max.value, cluster_max)}; {fmt.verdict(k.max.value / cluster_max, 0.9, True)}"
                if cluster_max else "",
            ))
        for name, fig, target in (("kdns", k, 1.5), ("node-local kdns", local, 1.5)):
            for rate in self.plan.rates:
                kl = fig.loads.get(rate) if fig.loads else None
                nl = n.loads.get(rate) if n.loads else None
                kv, nv = (kl.us_per_query if kl else None), (nl.us_per_query if nl else None)
                at_target = rate == self.plan.latency_rate
                self.report.add(Row(
                    sec, f"{name}: server CPU per query at {rate // 1000}k QPS (median of {self.plan.searches} "
                    "rounds, in turn with knot)", fmt.us(kv), fmt.us(nv), fmt.ratio(kv, nv),
                    f"≤ {target}x knot" if at_target else "",
                    fmt.verdict(kv / nv, target) if at_target and kv and nv else "",
                ))
            kv = fig.latency.result.percentile(99) if fig.latency else None
            nv = n.latency.result.percentile(99) if n.latency else None
            label = f"{name}: p99 latency at {self.plan.latency_rate // 1000}k QPS (that median round)"
            self.report.add(Row(sec, label, fmt.ms(kv), fmt.ms(nv), fmt.ratio(kv, nv)))
        if local.max:
            self.report.add(Row(sec, "node-local kdns: max QPS, zero loss (one search)", fmt.qps(local.max.value),
                                fmt.qps(n.max.value if n.max else None),
                                fmt.ratio(local.max.value, n.max.value if n.max else None)))
        self.report.add(Row(sec, "node-local kdns: cache hit ratio during its runs", f"{hit_ratio * 100:.1f}%"))
        if hit_loads:
            hit = sorted(load.us_per_query for load in hit_loads)[len(hit_loads) // 2]
            nl = n.loads.get(self.plan.latency_rate) if n.loads else None
            nv = nl.us_per_query if nl else None
            self.report.add(Row(
                sec, f"node-local kdns: CPU per query of cache hits at {self.plan.latency_rate // 1000}k QPS "
                f"({NODELOCAL_HIT_SECONDS:g} s runs of the mix's first {NODELOCAL_HIT_NAMES:,} distinct queries on fresh "
                f"processes right after a warm pass of them; "
                f"median of {len(hit_loads)}; "
                f"{hits_share * 100:.1f}% of their answers were hits)",
                fmt.us(hit), fmt.us(nv), fmt.ratio(hit, nv), "≤ 1.5x knot", fmt.verdict(hit / nv, 1.5) if nv else "",
            ))
            self.report.notes.append(
                "pod traffic, node-local kdns cache hits, run by run: "
                + ", ".join(f"{load.us_per_query:.1f} (lost {load.result.lost})" for load in hit_loads) + " µs"
            )
        for name, fig in (("knot", n), ("kdns", k), ("node-local kdns", local)):
            for rate, loads in (fig.rounds or {}).items():
                self.report.notes.append(
                    f"pod traffic, {name}: CPU per query at {rate:,} qps, round by round: "
                    + ", ".join(f"{load.us_per_query:.1f} (lost {load.result.lost})" for load in loads) + " µs"
                )

    def slow_path(self, s1: Files) -> None:
        """Every name once on a fresh process (each a first query), then the same names again;
        on as many fresh processes as max-QPS searches, for the median (see fixed_rates)."""
        with open(s1.distinct, encoding="ascii") as f:
            names = sum(1 for _ in f)
        rate = self.plan.rates[0]
        firsts, agains = [], []
        for _ in range(self.plan.searches):
            server = self.start_kdns(s1, "kdns-first")
            try:
                firsts.append(measure.fixed_rate(server, s1.distinct, rate, 3600, self.plan, max_runs=1).us_per_query)
                agains.append(measure.fixed_rate(server, s1.distinct, rate, 3600, self.plan, max_runs=3).us_per_query)
            finally:
                server.stop()
        first, again = sorted(firsts)[len(firsts) // 2], sorted(agains)[len(agains) // 2]
        sec = f"{s1.cluster.spec.name} first queries"
        self.report.add(
            Row(
                sec,
                f"CPU per first query of a name ({names:,} names once, {rate // 1000}k QPS; "
                f"median of {len(firsts)} fresh processes)",
                fmt.us(first),
                target="≤ 60 µs",
                verdict=fmt.verdict(first, 60),
            )
        )
        self.report.add(
            Row(sec, "CPU per query, the same names 3 times more (fast path, same rate)", fmt.us(again))
        )
        self.report.notes.append(
            "kdns first queries, process by process: "
            + ", ".join(f"{a:.1f} µs (then {b:.1f})" for a, b in zip(firsts, agains))
        )

    def rewrite(self, s1: Files) -> None:
        """A rewritten cluster name on repeat against the unrewritten one (bench/rewrite.py)."""
        assert self.knot is not None
        rate = self.plan.rates[0]
        f = rewrite_bench.measure_repeats(self.work, s1.cluster, s1.manifests, self.knot.port, self.plan, rate, WARM_RATE)
        plain, rewritten = f.median(f.plain), f.median(f.rewritten)
        sec = f"{s1.cluster.spec.name} rewrite (fast path; median of {len(f.plain)} rounds)"
        self.report.add(Row(sec, f"CPU per query, ClusterIP names asked again ({rate // 1000}k QPS)", fmt.us(plain)))
        self.report.add(
            Row(
                sec,
                "CPU per query, the same names as `<svc>.<ns>.example.com` through "
                "`rewrite name suffix .example.com .svc.cluster.local answer auto`",
                fmt.us(rewritten),
                target="≤ 1.2x unrewritten",
                verdict=f"{rewritten / plain:.2f}x; " + fmt.verdict(rewritten / plain, 1.2),
            )
        )
        self.report.notes.append(
            "kdns rewrite, round by round (unrewritten / rewritten): "
            + ", ".join(f"{a:.1f} / {b:.1f} µs" for a, b in zip(f.plain, f.rewritten))
            + ("; answers agree" if f.answers_agree else f"; answers differ: {f.first_difference}")
        )
    def template(self, s1: Files) -> None:
        assert self.knot is not None
        rows, notes = template_bench.measure_repeats(self.work, s1.manifests, s1.distinct, self.knot.port, self.plan)
        self.report.rows.extend(rows)
        self.report.notes.extend(notes)

    def workers(self, s1: Files) -> None:
        """Total CPU per query with 1 and 2 worker processes (all pinned to CPU 0), 16 client ports.

        With 2 workers each process sees half the queries, and a process woken for fewer queries
        pays its wake-up over fewer of them (the same reason 10k QPS costs more per query than 30k
        on one process); so 2 workers at twice the rate (the same rate per worker) is the like-for-
        like figure, besides 2 workers at the same total rate.
        """
        rate = self.plan.rates[0]
        runs = ((1, rate), (2, rate), (2, 2 * rate))
        servers = {count: self.start_kdns(s1, f"kdns-workers{count}", workers=count) for count in (1, 2)}
        loads: dict[tuple[int, int], list[measure.Load]] = {run: [] for run in runs}
        splits: dict[tuple[int, int], list[float]] = {}
        try:
            for server in servers.values():
                self.warm(server, s1)
                measure.fixed_rate(server, s1.mix, rate, min(2.0, self.plan.fixed_seconds), self.plan, clients=16)
            # In rounds, one run of each in turn, for the reason fixed_rates gives.
            for _ in range(self.plan.searches):
                for count, total in runs:
                    server = servers[count]
                    pids = server.pids()
                    before = [procs.cpu_seconds([p]) for p in pids]
                    load = measure.fixed_rate(server, s1.mix, total, self.plan.fixed_seconds, self.plan, clients=16)
                    loads[count, total].append(load)
                    split = [procs.cpu_seconds([p]) - b for p, b in zip(pids, before)]
                    splits[count, total] = [a + b for a, b in zip(splits.get((count, total), [0.0] * len(split)), split)]
                    say(f"  workers {count} at {total} qps -> {load.us_per_query:.1f} µs/query")
        finally:
            for server in servers.values():
                server.stop()
        median = {run: sorted(load.us_per_query for load in loads[run])[len(loads[run]) // 2] for run in runs}
        section = f"workers (all on CPU 0, 16 client ports; median of {self.plan.searches} rounds)"
        for count, total in runs:
            label = f"workers {count} at {total // 1000}k QPS ({total // count // 1000}k per worker)"
            value = median[count, total]
            self.report.notes.append(
                f"kdns {label}: CPU per query round by round "
                + ", ".join(f"{load.us_per_query:.1f}" for load in loads[count, total]) + " µs"
            )
            if count == 1:
                self.report.add(Row(section, f"CPU per query, {label}", fmt.us(value)))
                continue
            split = splits[count, total]
            shares = "/".join(f"{c / max(sum(split), 1e-9) * 100:.0f}%" for c in split)
            base = median[1, rate]
            self.report.add(
                Row(
                    section,
                    f"CPU per query, {label}; CPU split {shares}",
                    fmt.us(value),
                    target="≤ workers 1" if total == count * rate else "",
                    verdict=f"{value / base:.2f}x workers 1",
                )
            )

    def profile(self, s1: Files) -> None:
        """cProfile of first queries and of the fast path, each net of what runs before it.

        Three runs of a fresh process: idle (start, stop), first (start, every name once, stop),
        warm (start, every name once, the mix at the latency rate, stop). first - idle is the
        first queries; warm - first is the fast path.
        """
        idle_path, first_path, warm_path = (
            os.path.join(self.work, f"kdns-{n}.prof") for n in ("idle", "first", "warm")
        )
        self.start_kdns(s1, "kdns-profile-idle", profile=idle_path).stop()
        server = self.start_kdns(s1, "kdns-profile-first", profile=first_path)
        try:
            first = measure.fixed_rate(server, s1.distinct, WARM_RATE, 3600, self.plan, max_runs=1)
        finally:
            server.stop()
        server = self.start_kdns(s1, "kdns-profile", profile=warm_path)
        try:
            self.warm(server, s1)
            warm = measure.fixed_rate(server, s1.mix, self.plan.latency_rate, self.plan.profile_seconds, self.plan)
        finally:
            server.stop()
        self.report.details += [
            "## Profiles (cProfile)",
            "",
            "Own time (cProfile tottime) of the functions called at least once per 20 queries, as a share of",
            "their sum and per query. Each profile is net of a run that did everything before it (start-up,",
            "or start-up and the first queries), function by function. cProfile inflates Python calls and does",
            "not see uvloop's C code (socket reads and writes), so the shares matter, not the absolute figures.",
            "",
        ]
        for title, path, base, load in (
            (
                f"Fast path: S1 mix at {warm.rate:,} QPS for {self.plan.profile_seconds:g} s, warm",
                warm_path,
                first_path,
                warm,
            ),
            (
                f"First queries: every S1 name once at {first.rate:,} QPS on a fresh process",
                first_path,
                idle_path,
                first,
            ),
        ):
            rows = measure.top_functions(path, load.result.completed, base)
            self.report.details += [
                f"### {title} ({load.result.completed:,} queries)",
                "",
                "| function | share | µs per query | calls |",
                "|---|---:|---:|---:|",
                *(f"| `{name}` | {share * 100:.1f}% | {per:.2f} | {calls:,} |" for name, share, per, calls in rows),
                "",
            ]

    def forward(self, s1: Files) -> None:
        assert self.knot is not None
        ports = kdnsserver.Ports.pick()
        server = kdnsserver.start(
            os.path.join(self.work, "run"),
            kdnsserver.forward_corefile(ports, self.knot.port),
            ports,
            tag="kdns-forward",
        )
        try:
            self.warm(server, s1)
            hits0 = kdnsserver.metric(ports.metrics, "coredns_cache_hits_total")
            miss0 = kdnsserver.metric(ports.metrics, "coredns_cache_misses_total")
            load = measure.fixed_rate(server, s1.mix, self.plan.rates[0], self.plan.fixed_seconds, self.plan)
            best = measure.max_qps(server.port, s1.mix, self.plan, searches=1)
            hits = kdnsserver.metric(ports.metrics, "coredns_cache_hits_total") - hits0
            misses = kdnsserver.metric(ports.metrics, "coredns_cache_misses_total") - miss0
        finally:
            server.stop()
        sec = "forward + cache 30 (kdns -> knot)"
        knot_max = self.knot_fig.max.value if self.knot_fig.max else None
        self.report.add(
            Row(
                sec,
                "max QPS, zero loss (one search)",
                fmt.qps(best.value),
                fmt.qps(knot_max),
                fmt.ratio(best.value, knot_max),
            )
        )
        self.report.add(Row(sec, f"CPU per query at {load.rate // 1000}k QPS", fmt.us(load.us_per_query)))
        share = hits / (hits + misses) if hits + misses else 0.0
        self.report.add(Row(sec, "cache hit ratio during those runs", f"{share * 100:.1f}%"))

    def forward_tls(self, s1: Files) -> None:
        """CPU per query when every query is forwarded (a cache miss): over DNS-over-TLS and over
        UDP, to the same unbound (in front of knot, on the load core), in rounds taken in turn."""
        assert self.knot is not None
        upstream = unbound.start(os.path.join(self.work, "unbound"), self.knot.port)
        servers: dict[str, tuple[procs.ServerProcess, kdnsserver.Ports]] = {}
        try:
            for transport, address in (("udp", f"127.0.0.1:{upstream.plain_port}"),
                                       ("tls", f"tls://127.0.0.1:{upstream.tls_port}")):
                ports = kdnsserver.Ports.pick()
                corefile = kdnsserver.forward_miss_corefile(ports, address, upstream.ca, unbound.SERVER_NAME)
                servers[transport] = (
                    kdnsserver.start(os.path.join(self.work, "run"), corefile, ports, tag=f"kdns-forward-{transport}"),
                    ports,
                )
            rounds: dict[str, list[measure.Load]] = {"udp": [], "tls": []}
            for _ in range(self.plan.searches):
                for transport, (server, _ports) in servers.items():
                    load = measure.fixed_rate(server, s1.mix, FORWARD_MISS_RATE, self.plan.fixed_seconds, self.plan)
                    rounds[transport].append(load)
                    say(f"  forward over {transport}: {load.us_per_query:.1f} µs/query, lost {load.result.lost}")
            tls_ports = servers["tls"][1]
            handshakes = kdnsserver.metric(tls_ports.metrics, "coredns_proxy_conn_cache_misses_total")
        finally:
            for server, _ports in servers.values():
                server.stop()
            upstream.server.stop()
        median = {t: sorted(r, key=lambda load: load.us_per_query)[len(r) // 2] for t, r in rounds.items()}
        sec = "forward, every query a cache miss (kdns -> unbound -> knot)"
        rate = f"{FORWARD_MISS_RATE // 1000}k QPS, median of {self.plan.searches} rounds"
        udp, tls = median["udp"], median["tls"]
        self.report.add(Row(sec, f"CPU per query, plain UDP upstream ({rate})", fmt.us(udp.us_per_query)))
        self.report.add(
            Row(
                sec,
                f"CPU per query, DNS-over-TLS upstream ({rate}; one pipelined connection); "
                f"{fmt.ratio(tls.us_per_query, udp.us_per_query)} UDP's",
                fmt.us(tls.us_per_query),
            )
        )
        self.report.add(Row(sec, "TLS connections made (handshakes) over all the rounds", f"{handshakes:.0f}"))
        self.report.notes.append(
            "forward over TLS / UDP, round by round: "
            + ", ".join(f"{t.us_per_query:.1f} / {u.us_per_query:.1f} µs (lost {t.result.lost} / {u.result.lost})"
                        for t, u in zip(rounds["tls"], rounds["udp"]))
        )

    def programming(self, s1: Files) -> None:
        assert self.knot is not None
        result = apisync.programming(
            os.path.join(self.work, "run"), s1.cluster, self.plan.programming_samples, self.knot.port
        )
        sec = f"{s1.cluster.spec.name} via fake API"
        n = len(result.added)
        p = apisync.Programming.percentile
        self.report.add(
            Row(
                sec,
                f"sync: start -> ready and answering (fake API; its lists alone take {fmt.secs(result.list_seconds)})",
                fmt.secs(result.sync_seconds),
                target="≤ 0.2 s (CoreDNS 0.13 s)",
                verdict=fmt.verdict(result.sync_seconds, 0.2),
            )
        )
        if result.sync_seconds - result.ready_seconds > 0.005:
            gap_ms = (result.sync_seconds - result.ready_seconds) * 1000
            self.report.notes.append(
                f"kdns on the fake API: /ready answered 200 {gap_ms:.0f} ms before the DNS port answered"
            )
        self.report.add(
            Row(
                sec,
                f"programming latency p50 / p99 (Service created, {n} samples)",
                f"{fmt.ms(p(result.added, 50))} / {fmt.ms(p(result.added, 99))}",
                target="p99 ≤ 50 ms",
                verdict=fmt.verdict(p(result.added, 99), 0.050),
            )
        )
        self.report.add(
            Row(
                sec,
                f"removal latency p50 / p99 (Service deleted, {n} samples)",
                f"{fmt.ms(p(result.removed, 50))} / {fmt.ms(p(result.removed, 99))}",
            )
        )
        self.report.add(
            Row(
                sec,
                f"PTR of a new Service p50 / p99 (its NXDOMAIN cached by `cache 30` first, {n} samples)",
                f"{fmt.ms(p(result.ptr_added, 50))} / {fmt.ms(p(result.ptr_added, 99))}",
                target="p99 ≤ 1 s",
                verdict=fmt.verdict(p(result.ptr_added, 99), 1.0),
            )
        )

    def baseline(self) -> None:
        """kdns with the same Corefile and an empty cluster: what the interpreter and code cost."""
        empty = os.path.join(self.work, "empty")
        os.makedirs(empty, exist_ok=True)
        with open(os.path.join(empty, "ns.json"), "w", encoding="utf-8") as f:
            f.write('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}')
        assert self.knot is not None
        ports = kdnsserver.Ports.pick()
        server = kdnsserver.start(
            os.path.join(self.work, "run"),
            kdnsserver.cluster_corefile(ports, self.knot.port, manifests=empty),
            ports,
            tag="kdns-empty",
        )
        try:
            sync, rss = server.serving_seconds, server.rss()
        finally:
            server.stop()
        self.report.add(Row("empty cluster", "RSS after sync (interpreter, libraries, kdns code)", fmt.mb(rss)))
        self.report.add(Row("empty cluster", "sync: start -> ready and answering (manifests)", fmt.secs(sync)))
        api = apisync.programming(
            os.path.join(self.work, "run"), Cluster(ClusterSpec("empty", 1, 0, 0, 0, 0)), 0, self.knot.port
        )
        self.report.add(
            Row("empty cluster", "sync: start -> ready and answering (fake API)", fmt.secs(api.sync_seconds))
        )

    def s2(self, s2: Files) -> None:
        server = self.start_kdns(s2, "kdns-s2")
        try:
            sync, rss = server.serving_seconds, server.rss()
            best = measure.max_qps(server.port, s2.mix, self.plan, searches=1)
        finally:
            server.stop()
        self.s2_rss = rss
        sec = f"{s2.cluster.spec.name}"
        self.report.add(
            Row(
                sec,
                "sync: start -> ready and answering (manifests)",
                fmt.secs(sync),
                target="≤ 1.5 s",
                verdict=fmt.verdict(sync, 1.5),
            )
        )
        self.report.add(Row(sec, "RSS after sync", fmt.mb(rss), target="≤ 90 MB", verdict=fmt.verdict(rss, 90e6)))
        self.report.add(Row(sec, "max QPS, zero loss (one search)", fmt.qps(best.value)))
        assert self.knot is not None
        api = apisync.programming(os.path.join(self.work, "run"), s2.cluster, 0, self.knot.port)
        self.report.add(
            Row(
                sec,
                f"sync: start -> ready and answering (fake API; its lists alone take {fmt.secs(api.list_seconds)})",
                fmt.secs(api.sync_seconds),
                target="≤ 0.62 s (CoreDNS's)",
                verdict=fmt.verdict(api.sync_seconds, 0.62),
            )
        )
        self.report.add(Row(sec, "RSS after sync (fake API)", fmt.mb(api.rss)))

    def watch_list(self, s2: Files) -> None:
        """S2 synced from the fake API with paged list + watch and with a streaming list (issue 16)."""
        assert self.knot is not None
        sec = f"{s2.cluster.spec.name} streaming list (bench/watchlist.py)"
        for run in watchlist.compare(os.path.join(self.work, "run"), s2.cluster, self.knot.port):
            self.report.add(Row(sec, f"{run.mode}: sync, start -> ready and answering", fmt.secs(run.sync_seconds)))
            self.report.add(
                Row(sec, f"{run.mode}: {watchlist.CLIENTS} syncs at once, until all answer", fmt.secs(run.concurrent_seconds))
            )
            self.report.add(Row(sec, f"{run.mode}: the fake API's peak RSS during them", fmt.mb(run.peak_bytes)))

    def pods(self, s2p: Files) -> None:
        server = self.start_kdns(s2p, "kdns-pods", pods="verified")
        try:
            sync, rss = server.serving_seconds, server.rss()
        finally:
            server.stop()
        sec = f"{s2p.cluster.spec.name.split()[0]} + {s2p.cluster.spec.pods:,} pods, pods verified"
        base = self.s2_rss
        self.report.add(Row(sec, "sync: start -> ready and answering (manifests)", fmt.secs(sync)))
        self.report.add(Row(sec, "RSS after sync", fmt.mb(rss)))
        if base is not None:
            self.report.add(
                Row(
                    sec,
                    "RSS added by the pods",
                    fmt.mb(rss - base),
                    target="≤ 60 MB",
                    verdict=fmt.verdict(rss - base, 60e6),
                )
            )

    def autopath(self, s2p: Files) -> None:
        """autopath's pod index (any `pods` mode; here insecure) and the queries it saves a pod."""
        server = self.start_kdns(s2p, "kdns-autopath", pods="insecure", autopath=True)
        try:
            sync, rss = server.serving_seconds, server.rss()
        finally:
            server.stop()
        sec = f"{s2p.cluster.spec.name.split()[0]} + {s2p.cluster.spec.pods:,} pods, autopath @kubernetes, pods insecure"
        self.report.add(Row(sec, "sync: start -> ready and answering (manifests)", fmt.secs(sync)))
        if self.s2_rss is not None:
            added = rss - self.s2_rss
            self.report.add(
                Row(sec, "RSS added by the pod index (address -> namespace)", fmt.mb(added),
                    target="≤ 30 MB", verdict=fmt.verdict(added, 30e6))
            )
        pod, other = bench_autopath.measure(os.path.join(self.work, "autopath"))
        sec = "autopath: getaddrinfo of an outside name, ndots:5"
        self.report.add(Row(sec, "queries kdns receives without autopath (no pod's address)", str(other.queries)))
        self.report.add(
            Row(sec, "queries kdns receives with autopath (from a pod)", str(pod.queries), target="2",
                verdict="ok" if pod.queries == 2 and pod.address == other.address != "" else "**missed**")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small clusters, short runs (< 1 min)")
    parser.add_argument("--out", help="report file (default: bench/RESULTS.md; --quick: only printed)")
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="[bench %(asctime)s] %(message)s", datefmt="%H:%M:%S"
    )
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("bench: needs 2 CPUs (server on CPU 0, dnsperf on CPU 1)")
    plan = measure.Plan.smoke() if args.quick else measure.Plan.full()
    out = args.out or (None if args.quick else os.path.join(REPO, "bench", "RESULTS.md"))
    started = time.perf_counter()
    ensure_tools()
    # Bytecode for kdns's modules, as `pip install` leaves it in the image: else every start of
    # kdns from the repository (PYTHONDONTWRITEBYTECODE set) compiles them again, some 50 ms.
    compileall.compile_dir(os.path.join(REPO, "kdns"), quiet=1)
    kernel = Kernel()
    kernel.tune()
    work = args.keep or tempfile.mkdtemp(prefix="kdns-bench-")
    os.makedirs(work, exist_ok=True)
    # This process generates and parses; keep it off the server core.
    os.sched_setaffinity(0, {procs.LOAD_CPU})
    bench = Bench(plan, work)
    try:
        s1 = build(S1_QUICK if plan.quick else S1, work, plan)
        s2_spec = S2_QUICK if plan.quick else S2
        s2 = build(s2_spec, work, plan, zones=False)
        s2p = build(
            ClusterSpec(
                s2_spec.name,
                s2_spec.namespaces,
                s2_spec.clusterip_services,
                s2_spec.clusterip_endpoints,
                s2_spec.headless_services,
                s2_spec.headless_endpoints,
                pods=PODS_QUICK if plan.quick else PODS_FULL,
            ),
            work,
            plan,
            zones=False,
            queries=False,
        )
        bench.section("knot on S1", lambda: bench.knot_s1(s1))
        if bench.knot is None:
            raise SystemExit("bench: knot did not start; see the table")
        bench.section("kdns on S1", lambda: bench.kdns_s1(s1))
        bench.section("pod traffic", lambda: bench.pod_traffic(s1))
        bench.section("kdns slow path", lambda: bench.slow_path(s1))
        bench.section("kdns rewrite", lambda: bench.rewrite(s1))
        bench.section("kdns template", lambda: bench.template(s1))
        bench.section("kdns workers", lambda: bench.workers(s1))
        bench.section("kdns forward + cache", lambda: bench.forward(s1))
        bench.section("kdns forward over TLS", lambda: bench.forward_tls(s1))
        bench.section("programming latency", lambda: bench.programming(s1))
        bench.section("empty cluster", bench.baseline)
        bench.section("S2", lambda: bench.s2(s2))
        bench.section("S2 streaming list", lambda: bench.watch_list(s2))
        bench.section("S2 + pods", lambda: bench.pods(s2p))
        bench.section("autopath", lambda: bench.autopath(s2p))
        bench.section("profile", lambda: bench.profile(s1))
    finally:
        if bench.knot is not None:
            bench.knot.stop()
        kernel.restore()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    r = bench.report
    rcvbuf = (
        f"kdns warned: {bench.rcvbuf_warnings[0]}"
        if bench.rcvbuf_warnings
        else "kdns's 4 MiB SO_RCVBUF was granted (no warning in its log)"
    )
    r.header = [
        (
            f"- commit: `{fmt.git_commit(REPO)}`, {fmt.now()}, `python -m bench{' --quick' if plan.quick else ''}` "
            f"({time.perf_counter() - started:.0f} s)"
        ),
        (
            f"- machine: {fmt.machine()}; servers pinned to CPU {procs.SERVER_CPU} (taskset), dnsperf "
            f"{dnsperf.version()} pinned to CPU {procs.LOAD_CPU}; knot {knot.version()} (1 UDP, 1 TCP worker)"
        ),
        f"- {s1.cluster.spec.name}: {s1.cluster.spec.describe()}; {s2.cluster.spec.name}: {s2.cluster.spec.describe()}",
        (
            "- query mix: 70% A of ClusterIP names, 10% SRV `_http._tcp`, 10% headless (service and hostname A), "
            "5% PTR of cluster IPs, 5% NXDOMAIN `www.example.com.<ns>.svc.cluster.local`"
        ),
        "- kdns: the kubeadm Corefile with the `manifests` source (JSON List files), one worker unless stated",
        f"- kernel: {'; '.join(kernel.notes)}; {rcvbuf}",
    ]
    text = r.markdown()
    print(text)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        say(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
