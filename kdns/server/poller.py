"""Run a refresh function every few seconds until stopped: the reload loop of file-backed plugins."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Callable

log = logging.getLogger(__name__)


def file_stamp(path: str) -> tuple[int, int] | None:
    """(mtime_ns, size) of path, None when it cannot be read: CoreDNS re-reads when either changes."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class Poller:
    def __init__(self, interval: float, refresh: Callable[[], object], what: str, jitter: float = 0.0) -> None:
        self.interval = interval
        # Up to this much longer each round, so that replicas do not all act at the same moment.
        self.jitter = jitter
        self.refresh = refresh
        self.what = what
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.interval > 0 and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval + random.uniform(0, self.jitter))
            try:
                self.refresh()
            except Exception:  # a bad read must not end the polling
                log.exception("reloading %s failed", self.what)
