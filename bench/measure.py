"""The measurements: rate search, CPU per query, latency percentiles, answer agreement, profiles."""

from __future__ import annotations

import logging
import pstats
import re
import statistics
import time
from dataclasses import dataclass, field

import dnslib

from bench import dnsperf, procs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """How long and how often; `quick` shrinks everything to check the harness end to end."""

    quick: bool
    probe_seconds: float  # one rate probe of the max-QPS search
    search_steps: int  # bisection steps after the first probe
    searches: int  # the max-QPS figure is the median of this many searches
    fixed_seconds: float  # runs at a fixed rate (CPU per query, latency)
    rates: tuple[int, int]  # CPU per query is measured at these rates
    latency_rate: int
    timeout: float  # dnsperf -t: an answer later than this is a lost query
    query_lines: int  # lines of the query mix file (dnsperf loops over it)
    programming_samples: int
    profile_seconds: float

    @staticmethod
    def full() -> Plan:
        return Plan(False, 4.0, 6, 3, 10.0, (10_000, 30_000), 30_000, 2.0, 200_000, 50, 10.0)

    @staticmethod
    def smoke() -> Plan:
        return Plan(True, 1.0, 2, 1, 1.0, (10_000, 30_000), 30_000, 1.0, 20_000, 10, 2.0)


@dataclass(frozen=True)
class Probe:
    rate: float | None  # None: unlimited
    result: dnsperf.Result
    drops: int  # kernel receive-buffer drops during the probe (RcvbufErrors, system-wide)

    @property
    def passed(self) -> bool:
        assert self.rate is not None
        return self.result.lost == 0 and self.result.qps >= 0.98 * self.rate

    def describe(self) -> str:
        offered = "unlimited" if self.rate is None else f"{self.rate:,.0f}"
        verdict = "" if self.rate is None else (" pass" if self.passed else " fail")
        return (
            f"offered {offered} qps -> {self.result.qps:,.0f} qps, lost {self.result.lost}, "
            f"socket drops {self.drops}{verdict}"
        )


@dataclass(frozen=True)
class MaxQps:
    value: float  # median over the searches of the best zero-loss rate each found
    searches: tuple[float, ...]
    ceiling: float  # unthrottled throughput (-q 1000 in flight), the search's starting point
    probes: tuple[Probe, ...] = field(repr=False)

    @property
    def drops(self) -> int:
        return sum(p.drops for p in self.probes)


def probe(port: int, datafile: str, plan: Plan, rate: float | None, outstanding: int = 2000) -> Probe:
    before = procs.udp_rcvbuf_errors()
    result = dnsperf.run(
        port, datafile, seconds=plan.probe_seconds, rate=rate, timeout=plan.timeout, outstanding=outstanding
    )
    return Probe(rate, result, procs.udp_rcvbuf_errors() - before)


def max_qps(port: int, datafile: str, plan: Plan, searches: int | None = None) -> MaxQps:
    """The highest offered rate answered in full with zero loss (up to 2,000 queries in flight).

    A rate passes when dnsperf lost nothing (no answer later than the timeout, nothing dropped) and
    achieved at least 98% of the offered rate (else dnsperf itself was throttled by its in-flight
    cap, i.e. the server fell behind). Bisection between half and 105% of the unthrottled ceiling.
    dnsperf sends its in-flight allowance as one burst when it starts: 2,000 queries fit a 4 MiB
    receive buffer (10,000 do not, and would count as loss whatever the server's speed).
    """
    ceiling = probe(port, datafile, plan, None, outstanding=1000)
    log.info("  probe: %s", ceiling.describe())
    probes = [ceiling]
    found = []
    for _ in range(searches or plan.searches):
        lo, hi = 0.5 * ceiling.result.qps, 1.05 * ceiling.result.qps
        rate = 0.9 * ceiling.result.qps
        best = 0.0
        for _ in range(plan.search_steps + 1):
            time.sleep(0.3)  # let the previous probe's backlog drain
            p = probe(port, datafile, plan, rate)
            probes.append(p)
            log.info("  probe: %s", p.describe())
            if p.passed:
                best = max(best, p.result.qps)
                lo = rate
            else:
                hi = rate
            rate = (lo + hi) / 2
        # Nothing passed (a noisy or much slower server): walk down until something does.
        rate = lo / 2
        while best == 0.0 and rate >= 0.05 * ceiling.result.qps:
            p = probe(port, datafile, plan, rate)
            probes.append(p)
            log.info("  probe: %s", p.describe())
            if p.passed:
                best = p.result.qps
            rate /= 2
        found.append(best)
    return MaxQps(statistics.median(found), tuple(found), ceiling.result.qps, tuple(probes))


@dataclass(frozen=True)
class Load:
    rate: int
    result: dnsperf.Result
    cpu_seconds: float

    @property
    def us_per_query(self) -> float:
        return self.cpu_seconds / max(1, self.result.completed) * 1e6


def fixed_rate(
    server: procs.ServerProcess,
    datafile: str,
    rate: int,
    seconds: float,
    plan: Plan,
    verbose: bool = False,
    mode: str = "udp",
    max_runs: int | None = None,
    clients: int = 4,
) -> Load:
    """Server CPU (utime+stime of all its processes and threads) over a run at a fixed offered rate."""
    pids = server.pids()
    before = procs.cpu_seconds(pids)
    result = dnsperf.run(
        server.port,
        datafile,
        seconds=seconds,
        rate=rate,
        timeout=plan.timeout,
        verbose=verbose,
        mode=mode,
        max_runs=max_runs,
        clients=clients,
    )
    return Load(rate, result, procs.cpu_seconds(pids) - before)


def unlimited(
    port: int, datafile: str, seconds: float, plan: Plan, mode: str = "udp", clients: int = 4, outstanding: int = 1000
) -> dnsperf.Result:
    return dnsperf.run(
        port, datafile, seconds=seconds, mode=mode, clients=clients, outstanding=outstanding, timeout=plan.timeout
    )


def _answer(port: int, name: str, qtype: str) -> tuple[int, list[str]]:
    import socket

    q = dnslib.DNSRecord.question(name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2.0)
        s.sendto(q.pack(), ("127.0.0.1", port))
        data, _ = s.recvfrom(65535)
    r = dnslib.DNSRecord.parse(data)
    return r.header.rcode, sorted(f"{rr.rname} {dnslib.QTYPE[rr.rtype]} {rr.rdata}".lower() for rr in r.rr)


def compare_answers(port_a: int, port_b: int, lines: list[str]) -> tuple[int, int, str]:
    """(agreeing, total, first difference): rcode and answer RRsets, order and TTL aside."""
    agree, first = 0, ""
    for line in lines:
        name, qtype = line.split()
        a, b = _answer(port_a, name, qtype), _answer(port_b, name, qtype)
        if a == b:
            agree += 1
        elif not first:
            first = f"{line}: {a} vs {b}"
    return agree, len(lines), first


# pstats' keys (file, line, function) and values (primitive calls, calls, tottime, cumtime, callers).
FunctionKey = tuple[str, int, str]
FunctionStats = tuple[int, int, float, float, object]


def top_functions(
    profile_path: str, queries: int, baseline_path: str = "", count: int = 15
) -> list[tuple[str, float, float, int]]:
    """(function, share, own µs per query, calls) of the query path, by own time (cProfile tottime).

    baseline_path: a profile of the same start and stop with no queries, subtracted function by
    function, so start-up (imports, loading the cluster) drops out. Only functions called at least
    once per 20 queries count: under uvloop the loop's idle time and the start/stop coroutines get
    odd attributions from cProfile, and they are not per query. The share is of their sum.
    """
    raw: dict[FunctionKey, FunctionStats] = pstats.Stats(profile_path).stats  # type: ignore[attr-defined]
    base: dict[FunctionKey, FunctionStats] = (
        pstats.Stats(baseline_path).stats if baseline_path else {}  # type: ignore[attr-defined]
    )
    rows = []
    for key, (_cc, calls, tottime, _ct, _callers) in raw.items():
        if key in base:
            calls -= base[key][1]
            tottime -= base[key][2]
        if calls * 20 < queries or tottime <= 0:
            continue
        file, line, func = key
        short = re.sub(r"^.*/(site-packages|lib/python3\.\d+)/", "", file)
        if "/kdns/" in short:
            short = "kdns/" + short.split("/kdns/", 1)[1]
        rows.append((f"{short}:{line}({func})" if line else func, tottime, calls))
    total = sum(r[1] for r in rows) or 1.0
    rows.sort(key=lambda r: r[1], reverse=True)
    return [(name, t / total, t / max(1, queries) * 1e6, calls) for name, t, calls in rows[:count]]
