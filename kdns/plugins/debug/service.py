"""Debug-level log lines while a config with `debug` runs; the level before it comes back after.

The other half of the plugin is in the server: a block with `debug` logs a plugin's exception
with its whole traceback (server/mux.py, Block.debug) where it otherwise logs one line. CoreDNS
turns off its recovery from panics instead, so a Go panic crashes the process with its stack;
kdns keeps its policy (SERVFAIL, the server goes on) and shows the stack.
"""

from __future__ import annotations

import logging
from typing import Any

from kdns.plugins.debug.config import Config


class Service:
    def __init__(self, config: Config, app: Any) -> None:
        self.config = config
        self.previous: int | None = None

    async def start(self) -> None:
        root = logging.getLogger()
        self.previous = root.level
        root.setLevel(logging.DEBUG)
        logging.getLogger(__name__).debug("debug logging on")

    async def stop(self) -> None:
        if self.previous is not None:
            logging.getLogger().setLevel(self.previous)
            self.previous = None
