"""GET /ready: 200 "OK" when every plugin reporting readiness is ready, else 503 naming the others.

As CoreDNS: once a plugin has been ready it is not asked again, so a later API outage does not take
a serving replica out of the Service (kdns keeps answering from the last-known state).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kdns.plugins.ready.config import Config
from kdns.server.http import EndpointService, HttpEndpoint


class Service(EndpointService):
    def __init__(self, config: Config, app: Any) -> None:
        self.config = config
        self.app = app
        self.endpoint = HttpEndpoint(*config.address, routes=[("/ready", self.ready)])

    async def ready(self, request: web.Request) -> web.Response:
        waiting = sorted({name for name, ok in self.app.readiness() if not ok})
        if self.app.lameduck_started():
            return web.Response(status=503, text="shutting down")
        if waiting:
            return web.Response(status=503, text=", ".join(waiting))
        return web.Response(text="OK")
