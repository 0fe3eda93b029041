"""/health answers 200 "OK" until the process stops, lameduck period included.

CoreDNS keeps /health OK during lameduck so that the kubelet does not restart a pod that is only
draining; the readiness probe is what takes it out of the Service.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from kdns.metric_types import Histogram
from kdns.plugins.health.config import Config
from kdns.server.http import EndpointService, HttpEndpoint, HttpRequest, HttpResponse

REQUEST_DURATION = Histogram(
    "coredns_health_request_duration_seconds",
    "Histogram of the time (in seconds) each request took.",
    buckets=(0.00025, 0.0025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6),
)


class Service(EndpointService):
    def __init__(self, config: Config, app: Any) -> None:
        self.config = config
        self.lameduck = config.lameduck
        self.endpoint = HttpEndpoint(*config.address, routes=[("/health", self.health)])

    async def health(self, request: HttpRequest) -> HttpResponse:
        start = perf_counter()
        try:
            return HttpResponse("OK")
        finally:
            REQUEST_DURATION.observe(perf_counter() - start)
