"""python -m chaos [--quick] [--scenario NAME ...] [--soak-seconds N] [--no-report]

Runs the reliability scenarios and writes docs/reliability.md from their results. Without --quick
every scenario runs at full size (1,000,000 parser inputs, 10,000-Service burst, 2-minute API outage,
the 10-minute soak). Exit status 1 when any scenario failed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import platform
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from chaos import abuse, apifaults, fuzz, security, soak, upstream
from chaos.common import FULL, QUICK, REPO, Result, Size
from chaos.report import write_report

Runner = Callable[[Size, argparse.Namespace], Awaitable[Result]]


def _sync(fn: Callable[[Size], Result]) -> Runner:
    async def run(size: Size, args: argparse.Namespace) -> Result:
        return fn(size)

    return run


def _async(fn: Callable[[Size], Awaitable[Result]]) -> Runner:
    async def run(size: Size, args: argparse.Namespace) -> Result:
        return await fn(size)

    return run


def _api(name: str) -> Runner:
    async def run(size: Size, args: argparse.Namespace) -> Result:
        return await apifaults.run(name, size)

    return run


async def _soak(size: Size, args: argparse.Namespace) -> Result:
    if size.long:
        seconds = args.soak_seconds or 600.0
        return await soak.run(seconds, measure=20.0, reload_every=60.0, changes_per_minute=300, services=2000)
    seconds = args.soak_seconds or 30.0
    return await soak.run(seconds, measure=5.0, reload_every=10.0, changes_per_minute=300, services=500)


SCENARIOS: dict[str, Runner] = {
    "fuzz-parser": _sync(fuzz.run_parser),
    "fuzz-server": _async(fuzz.run_server),
    "tcp-garbage": _async(fuzz.run_tcp_garbage),
    "abuse-any": _async(abuse.run_any),
    "abuse-axfr": _async(abuse.run_transfers),
    "abuse-amplification": _async(abuse.run_amplification),
    "abuse-tcp-flood": _async(abuse.run_tcp_flood),
    "abuse-deep-names": _async(abuse.run_deep_names),
    **{name: _api(name) for name in apifaults.SCENARIOS},
    "upstream-misbehaving": _async(upstream.run_misbehaving),
    "upstream-serve-stale": _async(upstream.run_serve_stale),
    "security-endpoints": _async(security.run_endpoints),
    "security-deploy": _sync(security.deploy_checks),
    "soak": _soak,
}


async def main(args: argparse.Namespace) -> int:
    size = QUICK if args.quick else FULL
    names = args.scenario or list(SCENARIOS)
    results: list[Result] = []
    for name in names:
        print(f"== {name} ({size.name})", flush=True)
        t0 = time.monotonic()
        try:
            result = await SCENARIOS[name](size, args)
        except Exception as e:
            result = Result(name, "(did not run to the end)")
            result.failures.append(f"{type(e).__name__}: {e}")
            traceback.print_exc()
        result.seconds = result.seconds or time.monotonic() - t0
        status = "PASS" if result.ok else "FAIL"
        print(f"   {status} sent={result.sent} lost={result.lost} wrong={result.wrong} {result.seconds:.1f}s", flush=True)
        for key, value in result.figures.items():
            print(f"   {key}: {value}", flush=True)
        for failure in result.failures[:5]:
            print(f"   - {failure}", flush=True)
        results.append(result)
    if not args.no_report and not args.scenario:
        meta: dict[str, Any] = {
            "size": size.name,
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores",
            "command": "python -m chaos" + (" --quick" if args.quick else ""),
        }
        path = write_report(REPO / "docs" / "reliability.md", results, meta)
        print(f"wrote {path}")
    return 0 if all(r.ok for r in results) else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and a 30 s soak")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="run only these (repeatable)")
    parser.add_argument("--soak-seconds", type=float, default=None, help="soak duration (default 600, --quick 30)")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite docs/reliability.md (nor does --scenario)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    import uvloop

    # The event loop kdns itself runs on (kdns/cli.py).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        sys.exit(runner.run(main(parse_args(sys.argv[1:]))))
