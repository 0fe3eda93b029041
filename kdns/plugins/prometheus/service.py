"""GET /metrics: every registered family (CoreDNS's names) in Prometheus text format."""

from __future__ import annotations

from typing import Any

from kdns.plugins.prometheus.config import Config
from kdns.server.http import EndpointService, HttpEndpoint, HttpRequest, HttpResponse


class Service(EndpointService):
    def __init__(self, config: Config, app: Any) -> None:
        self.config = config
        self.registry = app.registry
        self.endpoint = HttpEndpoint(*config.address, routes=[("/metrics", self.metrics)])

    async def metrics(self, request: HttpRequest) -> HttpResponse:
        # At the first scrape, not at start (kdns/metric_types.py says why).
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        body = generate_latest(self.registry)
        return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
