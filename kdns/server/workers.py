"""One process per worker, all on the same addresses through SO_REUSEPORT (kdns extension).

CoreDNS scales with GOMAXPROCS in one process; a Python process uses one core, so kdns runs several
processes, each with its own index, the way CoreDNS replicas scale. The kernel spreads queries over
the sockets by a hash of the client address and port.
"""

from __future__ import annotations

import logging
import os
import signal

from kdns.config import Config
from kdns.server.process import run_one

log = logging.getLogger(__name__)


def configured_workers(config: Config) -> int:
    for block in config.blocks:
        for use in block.plugins:
            if use.name == "workers":
                return int(use.config.count)
    return 1


def run(path: str, config: Config, port: int, quiet: bool, workers: int = 0) -> int:
    count = workers or configured_workers(config)
    if count <= 1:
        return run_one(path, config, port, quiet)
    children: list[int] = []
    for _ in range(1, count):
        pid = os.fork()
        if pid == 0:
            # Only worker 0 serves health, ready and metrics endpoints (one port each).
            code = run_one(path, config, port, True, reuse_port=True, services=False)
            os._exit(code)
        children.append(pid)

    # The first process passes SIGTERM, SIGINT and SIGUSR1 on to the others (process.serve).
    code = run_one(path, config, port, quiet, reuse_port=True, children=tuple(children))
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)  # also when the first process stopped on an error
        except ProcessLookupError:
            pass
    for pid in children:
        _, status = os.waitpid(pid, 0)
        code = code or os.waitstatus_to_exitcode(status)
    return code
