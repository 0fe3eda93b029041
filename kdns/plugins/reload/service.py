"""Poll the Corefile and its imports; when their contents change, ask the app to reload.

As CoreDNS: the check compares a SHA512 of the contents (a touch alone does nothing), every INTERVAL
plus a random JITTER so that replicas sharing a ConfigMap do not all reload at the same moment. A
broken new Corefile is logged by the app and the old config keeps serving; the next change is tried
again. SIGUSR1 reloads at once, with or without this plugin.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from kdns.plugins.reload.config import Config
from kdns.server.poller import Poller

log = logging.getLogger(__name__)


class Service:
    def __init__(self, config: Config, app: Any) -> None:
        self.config = config
        self.app = app
        self.digest = ""
        self.poller = Poller(config.interval, self.check, "the Corefile", jitter=config.jitter)

    def fingerprint(self) -> str:
        digest = hashlib.sha512()
        for path in self.app.watched_files():
            try:
                with open(path, "rb") as f:
                    digest.update(f.read())
            except OSError:
                digest.update(b"\0missing\0" + path.encode())
        return digest.hexdigest()

    def check(self) -> None:
        current = self.fingerprint()
        if current != self.digest:
            self.digest = current
            self.app.request_reload()

    async def start(self) -> None:
        self.digest = self.fingerprint()
        log.info("Running configuration SHA512 = %s", self.digest)
        await self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()
