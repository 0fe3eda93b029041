"""GET /ready: 200 "OK" when every plugin reporting readiness is ready, else 503 naming the others.

As CoreDNS: once a plugin has been ready it is not asked again, so a later API outage does not take
a serving replica out of the Service (kdns keeps answering from the last-known state).
"""

from __future__ import annotations

from typing import Any

from kdns.plugins.ready.config import Config
from kdns.server.http import EndpointService, HttpEndpoint, HttpRequest, HttpResponse


class Service(EndpointService):
    def __init__(self, config: Config, app: Any) -> None:
        self.config = config
        self.app = app
        self.endpoint = HttpEndpoint(*config.address, routes=[("/ready", self.ready)])

    async def ready(self, request: HttpRequest) -> HttpResponse:
        waiting = sorted({name for name, ok in self.app.readiness() if not ok})
        if self.app.lameduck_started():
            return HttpResponse("shutting down", 503)
        if waiting:
            return HttpResponse(", ".join(waiting), 503)
        return HttpResponse("OK")
