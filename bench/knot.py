"""knot (knotd) serving the synthetic cluster's names from static zone files: the reference server.

One UDP worker, one TCP worker and one background worker, so it does on one core what kdns does on
one core; no journal, no zone file sync, semantic checks off (they only slow loading).
"""

from __future__ import annotations

import os
import shutil

from bench import procs

KNOTD = "/usr/sbin/knotd"


def knotd() -> str:
    return shutil.which("knotd") or KNOTD


def version() -> str:
    import subprocess

    out = subprocess.run([knotd(), "--version"], capture_output=True, text=True, check=False).stdout
    return out.strip().split("version")[-1].strip() or "?"


def write_config(directory: str, port: int, zones: dict[str, str]) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "knot.conf")
    lines = [
        "server:",
        f"    rundir: {directory}",
        f"    listen: 127.0.0.1@{port}",
        "    udp-workers: 1",
        "    tcp-workers: 1",
        "    background-workers: 1",
        "log:",
        "  - target: stderr",
        "    any: warning",
        "database:",
        f"    storage: {directory}",
        "template:",
        "  - id: default",
        f"    storage: {directory}",
        "    zonefile-sync: -1",
        "    zonefile-load: whole",
        "    journal-content: none",
        "    semantic-checks: off",
        "zone:",
    ]
    for zone, file in zones.items():
        lines += [f"  - domain: {zone}", f"    file: {os.path.abspath(file)}"]
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    return path


def start(
    directory: str,
    zones: dict[str, str],
    port: int | None = None,
    cpus: str = str(procs.SERVER_CPU),
    timeout: float = 60.0,
) -> procs.ServerProcess:
    """knotd pinned to cpus; ready = serving = start -> every zone's SOA answered."""
    port = port or procs.free_port()
    conf = write_config(directory, port, zones)
    server = procs.start("knot", [knotd(), "-c", conf], port, os.path.join(directory, "knotd.log"), cpus=cpus)
    try:
        for zone in zones:
            server.wait_ready_dns(zone + ".", timeout)
        server.ready_seconds = server.serving_seconds
    except BaseException:
        server.stop()
        raise
    return server
