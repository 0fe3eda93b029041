"""One kdns server process: the App from start to a graceful stop, driven by signals.

SIGTERM and SIGINT stop it (after the health plugin's lameduck), SIGUSR1 reloads the Corefile; a
process with worker processes (kdns/server/workers.py) passes each signal on to them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys

import uvloop

from kdns import PYTHON_VERSION, __version__
from kdns.config import Config
from kdns.errors import KdnsError

log = logging.getLogger(__name__)


def banner() -> str:
    """What `-version` prints, and a server after its addresses (CoreDNS's start-up lines)."""
    return f"kdns-{__version__}\n{sys.platform}/{os.uname().machine}, python{PYTHON_VERSION}"


async def serve(
    path: str, config: Config, port: int, quiet: bool, reuse_port: bool = False, services: bool = True,
    children: tuple[int, ...] = (),
) -> int:
    """Run one server until SIGTERM/SIGINT; signals are passed on to worker processes, if any."""
    from kdns.server.app import App

    app = App(path, config, port, reuse_port=reuse_port, services=services)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        for pid in children:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if sig == signal.SIGUSR1:
            app.request_reload()
        else:
            stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await app.start()
    except KdnsError as e:  # the Corefile, or a plugin that cannot start (no credentials, ...)
        log.error("%s", e)
        return 1
    except OSError as e:
        log.error("cannot listen: %s", e)
        await app.stop()
        return 1
    # What start-up built (modules, plugins, the index) stays until a reload replaces it (App.reload
    # unfreezes then): out of the collector's walks from now on. kdns.cli.main() paused the
    # collector until here.
    gc.freeze()
    gc.enable()
    if not quiet:
        for host, bound in app.addresses():
            print(f"{host or ''}:{bound}", flush=True)
        print(banner(), flush=True)
    stopper = loop.create_task(stop.wait())
    failed = loop.create_task(app.failed.wait())
    await asyncio.wait([stopper, failed], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    failed.cancel()
    await app.stop(lameduck=0.0 if app.failed.is_set() else app.lameduck_seconds())
    return app.exit_code


def run_one(
    path: str, config: Config, port: int, quiet: bool, reuse_port: bool = False, services: bool = True,
    children: tuple[int, ...] = (),
) -> int:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(path, config, port, quiet, reuse_port, services, children))
