"""The one table (markdown), its header (commit, machine, versions) and the notes under it."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime

DASH = "–"


@dataclass(frozen=True)
class Row:
    section: str
    metric: str
    kdns: str
    knot: str = DASH
    ratio: str = DASH
    target: str = ""
    verdict: str = ""


@dataclass
class Report:
    title: str
    header: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def failed(self, section: str, error: BaseException) -> None:
        self.rows.append(
            Row(section, "(not measured)", f"failed: {type(error).__name__}: {error}".splitlines()[0][:160])
        )

    def table(self) -> str:
        lines = ["| | figure | kdns | knot | kdns/knot | target | |", "|---|---|---:|---:|---:|---|---|"]
        section = ""
        for r in self.rows:
            shown = r.section if r.section != section else ""
            section = r.section
            lines.append(f"| {shown} | {r.metric} | {r.kdns} | {r.knot} | {r.ratio} | {r.target} | {r.verdict} |")
        return "\n".join(lines)

    def markdown(self) -> str:
        parts = [f"# {self.title}", "", *self.header, "", self.table(), ""]
        if self.notes:
            parts += ["## Notes", "", *(f"- {n}" for n in self.notes), ""]
        if self.details:
            parts += self.details
        return "\n".join(parts).rstrip() + "\n"


def git_commit(repo: str) -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = [line for line in git("status", "--porcelain").splitlines() if not line.endswith("bench/RESULTS.md")]
    return commit + (f" (+{len(dirty)} uncommitted paths)" if dirty else "")


def machine() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} x {model}, Linux {platform.release()}, Python {platform.python_version()}"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- formatting -----------------------------------------------------------------------------------


def qps(value: float | None) -> str:
    return DASH if value is None else f"{value / 1000:.1f}k"


def us(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f} µs"


def ms(seconds: float | None) -> str:
    return DASH if seconds is None else f"{seconds * 1000:.2f} ms"


def secs(seconds: float | None) -> str:
    return DASH if seconds is None else f"{seconds:.2f} s"


def mb(value: float | None) -> str:
    """Decimal megabytes, as the issue's targets (90 MB) and CoreDNS's published figures are given."""
    return DASH if value is None else f"{value / 1e6:.1f} MB"


def ratio(kdns: float | None, knot: float | None) -> str:
    if kdns is None or knot is None or knot == 0:
        return DASH
    return f"{kdns / knot:.2f}x"


def verdict(value: float | None, limit: float, higher_is_better: bool = False) -> str:
    """ "ok", or how far off the target it is."""
    if value is None:
        return ""
    if (value >= limit) if higher_is_better else (value <= limit):
        return "ok"
    off = (1 - value / limit) if higher_is_better else (value / limit - 1)
    return f"**missed** ({off * 100:.{0 if off >= 0.1 else 1}f}% {'short' if higher_is_better else 'over'})"
