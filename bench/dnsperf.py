"""dnsperf runs (pinned to the load core) and their parsed statistics.

dnsperf 2.10 (Debian 12) has no latency histogram option (`-O latency-histogram` came later), so
percentiles come from `-v`, which prints one line per answered query ending in its latency.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from bench import procs

_STAT = re.compile(
    r"^\s*(Queries sent|Queries completed|Queries lost|Queries per second|Run time \(s\)|"
    r"Average Latency \(s\)):\s+([0-9.]+)",
    re.MULTILINE,
)
_RCODES = re.compile(r"Response codes:\s+(.*)")


def binary() -> str:
    path = shutil.which("dnsperf")
    if path is None:
        raise RuntimeError("dnsperf not found (apt-get install -y dnsperf)")
    return path


def version() -> str:
    out = subprocess.run([binary(), "-h"], capture_output=True, text=True, check=False)
    m = re.search(r"Version ([0-9.]+)", out.stdout + out.stderr)
    return m.group(1) if m else "?"


@dataclass(frozen=True)
class Result:
    sent: int
    completed: int
    lost: int
    qps: float
    seconds: float
    avg_latency: float
    rcodes: str
    latencies: tuple[float, ...] = field(default=(), repr=False)

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile of the per-query latencies (seconds), None without -v."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = math.ceil(p / 100 * len(ordered))
        return ordered[max(0, min(len(ordered), rank) - 1)]


def run(
    port: int,
    datafile: str,
    *,
    seconds: float | None = None,
    rate: float | None = None,
    mode: str = "udp",
    clients: int = 4,
    outstanding: int = 1000,
    timeout: float = 2.0,
    max_runs: int | None = None,
    verbose: bool = False,
    cpus: str = str(procs.LOAD_CPU),
) -> Result:
    """One dnsperf run against 127.0.0.1:port; the datafile is looped until seconds (or max_runs).

    -b: dnsperf's own sockets get 4 MiB buffers, so answers are not lost on the client side.
    """
    argv = [
        "taskset",
        "-c",
        cpus,
        binary(),
        "-s",
        "127.0.0.1",
        "-p",
        str(port),
        "-d",
        datafile,
        "-m",
        mode,
        "-c",
        str(clients),
        "-q",
        str(outstanding),
        "-t",
        f"{timeout:g}",
        "-b",
        "4096",
    ]
    if seconds is not None:
        argv += ["-l", f"{seconds:g}"]
    if rate is not None:
        argv += ["-Q", str(int(rate))]
    if max_runs is not None:
        argv += ["-n", str(max_runs)]
    if verbose:
        argv.append("-v")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dnsperf failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout[-500:]}")
    return parse(proc.stdout, verbose)


def parse(text: str, verbose: bool = False) -> Result:
    stats = {m.group(1): float(m.group(2)) for m in _STAT.finditer(text)}
    rcodes = _RCODES.search(text)
    latencies: tuple[float, ...] = ()
    if verbose:
        # "> NOERROR name type 0.000123" per answered query.
        latencies = tuple(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("> "))
    return Result(
        sent=int(stats.get("Queries sent", 0)),
        completed=int(stats.get("Queries completed", 0)),
        lost=int(stats.get("Queries lost", 0)),
        qps=stats.get("Queries per second", 0.0),
        seconds=stats.get("Run time (s)", 0.0),
        avg_latency=stats.get("Average Latency (s)", 0.0),
        rcodes=rcodes.group(1).strip() if rcodes else "",
        latencies=latencies,
    )
