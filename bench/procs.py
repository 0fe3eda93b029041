"""Server processes under measurement: start pinned, CPU time and RSS from /proc, readiness probes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

import dnslib

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CPU = 0
LOAD_CPU = 1


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (the servers listen on both)."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        try:
            with socket.socket(socket.AF_INET, other) as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port


def descendants(pid: int) -> list[int]:
    """pid and every process below it (workers are forked children)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(parents.get(current, []))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time the processes' live threads have run, in seconds.

    From /proc/PID/task/TID/schedstat (nanoseconds: the scheduler's sum_exec_runtime, user plus
    system) rather than utime+stime in /proc/PID/stat, whose 10 ms ticks are too coarse for a
    run of a few thousand queries. Falls back to the ticks when schedstat is missing.
    """
    total = 0.0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                    total += int(f.read().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                return _stat_cpu_seconds(pids)
    return total


def _stat_cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of the processes (all their threads, dead ones included), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields 14 and 15 of proc(5), counted after the ")" that ends comm: index 11 and 12.
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def rss_bytes(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def pin(pid: int, cpus: set[int]) -> None:
    """Move every thread of pid (and its children) to cpus."""
    for proc in descendants(pid):
        try:
            for tid in os.listdir(f"/proc/{proc}/task"):
                os.sched_setaffinity(int(tid), cpus)
        except OSError:
            continue


def udp_rcvbuf_errors() -> int:
    """Datagrams the kernel dropped for a full socket receive buffer, system-wide (/proc/net/snmp)."""
    with open("/proc/net/snmp", encoding="ascii") as f:
        lines = [line.split() for line in f if line.startswith("Udp:")]
    header, values = lines[0], lines[1]
    return int(values[header.index("RcvbufErrors")])


def dns_rcode(port: int, name: str, qtype: str = "SOA", timeout: float = 0.2) -> int | None:
    """The rcode of one UDP query to 127.0.0.1:port, None when no answer came."""
    query = dnslib.DNSRecord.question(name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(query.pack(), ("127.0.0.1", port))
            data, _ = s.recvfrom(65535)
        except OSError:
            return None
    return int(dnslib.DNSRecord.parse(data).header.rcode)


def http_status(url: str, timeout: float = 0.5) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return None


@dataclass
class ServerProcess:
    """A started server; `ready_seconds` is start -> first ready signal (see wait_* below)."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    started: float
    log_path: str
    ready_seconds: float | None = None  # start -> its ready signal (/ready 200, or a zone's SOA)
    serving_seconds: float | None = None  # start -> ready and answering DNS queries

    @property
    def pid(self) -> int:
        return self.popen.pid

    def pids(self) -> list[int]:
        return descendants(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pids())

    def rss(self) -> int:
        return rss_bytes(self.pids())

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def wait_ready_http(self, url: str, timeout: float) -> float:
        """Seconds from start until url answers 200 (the ready plugin's /ready)."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.log_tail()}")
            if http_status(url, timeout=0.2) == 200:
                self.ready_seconds = time.perf_counter() - self.started
                return self.ready_seconds
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def wait_ready_dns(self, name: str, timeout: float, qtype: str = "SOA", rcode: int | None = 0) -> float:
        """Seconds from start until a query for name is answered (with rcode, unless None: any answer)."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.log_tail()}")
            got = dns_rcode(self.port, name, qtype, timeout=0.01)
            if got is not None and (rcode is None or got == rcode):
                self.serving_seconds = time.perf_counter() - self.started
                return self.serving_seconds
            time.sleep(0.002)
        raise RuntimeError(f"{self.name} not answering after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def start(
    name: str,
    argv: Sequence[str],
    port: int,
    log_path: str,
    cpus: str = str(SERVER_CPU),
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> ServerProcess:
    """argv run under `taskset -c cpus` (taskset execs, so the pid is the server's)."""
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        started = time.perf_counter()
        popen = subprocess.Popen(
            ["taskset", "-c", cpus, *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
    return ServerProcess(name, popen, port, started, log_path)
