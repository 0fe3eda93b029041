"""Run a refresh function every few seconds until stopped: the reload loop of file-backed plugins."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, interval: float, refresh: Callable[[], object], what: str) -> None:
        self.interval = interval
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
            await asyncio.sleep(self.interval)
            try:
                self.refresh()
            except Exception:  # a bad read must not end the polling
                log.exception("reloading %s failed", self.what)
