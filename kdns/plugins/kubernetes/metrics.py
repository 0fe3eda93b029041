"""The kubernetes plugin's own metrics, named and labelled as CoreDNS's (plugin/kubernetes).

- coredns_kubernetes_dns_programming_duration_seconds{service_kind}: CoreDNS's DNS programming
  latency SLI (kubernetes/community sig-scalability/slos/dns_programming_latency.md), from the
  `endpoints.kubernetes.io/last-change-trigger-time` annotation the endpoint(slice) controller writes
  to the moment the change is served. Buckets ExponentialBuckets(0.001, 2, 20): 1 ms to ~17 min.
- coredns_kubernetes_rest_client_requests_total{code,method,host} and
  coredns_kubernetes_rest_client_request_duration_seconds{verb,host}: client-go's REST metrics that
  CoreDNS re-exports (code is the HTTP status or "<error>", method/verb the HTTP verb, host the
  API server's host:port).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kdns.metric_types import Counter, Histogram

log = logging.getLogger(__name__)

TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"

CLUSTER_IP = "cluster_ip"
HEADLESS_WITH_SELECTOR = "headless_with_selector"
HEADLESS_WITHOUT_SELECTOR = "headless_without_selector"
SERVICE_KINDS = frozenset({CLUSTER_IP, HEADLESS_WITH_SELECTOR, HEADLESS_WITHOUT_SELECTOR})

PROGRAMMING_BUCKETS = tuple(0.001 * 2**i for i in range(20))
# prometheus.DefBuckets, which CoreDNS uses for the REST latency.
REST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

DNS_PROGRAMMING_DURATION = Histogram(
    "coredns_kubernetes_dns_programming_duration_seconds",
    "Histogram of the time (in seconds) it took to program a dns instance.",
    ["service_kind"],
    buckets=PROGRAMMING_BUCKETS,
)
REST_REQUESTS = Counter(
    "coredns_kubernetes_rest_client_requests",
    "Number of HTTP requests, partitioned by status code, method, and host.",
    ["code", "method", "host"],
)
REST_REQUEST_DURATION = Histogram(
    "coredns_kubernetes_rest_client_request_duration_seconds",
    "Request latency in seconds. Broken down by verb and host.",
    ["verb", "host"],
    buckets=REST_BUCKETS,
)


def service_kind(cluster_ip: str | None, has_selector: bool) -> str:
    """The service_kind label for a Service: headless is clusterIP "None"."""
    if cluster_ip == "None":
        return HEADLESS_WITH_SELECTOR if has_selector else HEADLESS_WITHOUT_SELECTOR
    return CLUSTER_IP


def parse_trigger_time(value: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 (nano) timestamp, or None when it is not one."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Go writes up to nine fractional digits; Python's parser takes six.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None
    return stamp.timestamp()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def observe_programming(
    slice_or_annotation: Mapping[str, Any] | str | None, kind: str | None, now: float | None = None
) -> float | None:
    """Record one DNS programming latency; returns the seconds observed, or None when not recorded.

    Call it right after the index has applied a watch event (ADDED/MODIFIED/DELETED) of an
    EndpointSlice (or Endpoints) object, i.e. when queries already see the change, passing the raw
    object (or just its annotation value) and the service_kind of the Service it belongs to.
    CoreDNS records only slices of a headless Service with a selector (kind
    HEADLESS_WITH_SELECTOR, exactly one Service matched): a ClusterIP answer does not depend on
    endpoints, and selector-less slices carry no controller trigger time. Pass kind=None to skip.
    Objects without the annotation (or with a malformed one: logged) are not recorded.
    """
    if kind is None:
        return None
    if kind not in SERVICE_KINDS:
        raise ValueError(f"unknown service_kind {kind!r}")
    value: Any = slice_or_annotation
    where = "annotation"
    if isinstance(slice_or_annotation, Mapping):
        metadata = _mapping(slice_or_annotation.get("metadata"))
        value = _mapping(metadata.get("annotations")).get(TRIGGER_TIME_ANNOTATION)
        where = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
    if not value:
        return None
    # A DELETED event's object is not converted, so its annotation may be any JSON value.
    trigger = parse_trigger_time(value) if isinstance(value, str) else None
    if trigger is None:
        log.warning(
            "DNS programming latency cannot be calculated for %s; invalid %s value %r",
            where,
            TRIGGER_TIME_ANNOTATION,
            value,
        )
        return None
    seconds = max(0.0, (time.time() if now is None else now) - trigger)
    DNS_PROGRAMMING_DURATION.labels(service_kind=kind).observe(seconds)
    return seconds


def observe_request(code: str, method: str, host: str, seconds: float) -> None:
    """One REST call to the API server: code is the HTTP status as text, or "<error>"."""
    REST_REQUESTS.labels(code=code, method=method, host=host).inc()
    REST_REQUEST_DURATION.labels(verb=method, host=host).observe(seconds)
