"""kdns/plugins/kubernetes/metrics.py: CoreDNS's DNS programming latency and REST client metrics."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from kdns.plugins.kubernetes import metrics
from tests.fakeapi.replay import read_events

HIST = "coredns_kubernetes_dns_programming_duration_seconds"


def count(kind: str) -> float:
    return REGISTRY.get_sample_value(f"{HIST}_count", {"service_kind": kind}) or 0.0


def test_buckets_are_coredns_exponential_1ms_to_17min() -> None:
    assert len(metrics.PROGRAMMING_BUCKETS) == 20
    assert metrics.PROGRAMMING_BUCKETS[0] == 0.001
    assert metrics.PROGRAMMING_BUCKETS[-1] == pytest.approx(0.001 * 2**19)  # ~524 s; +Inf beyond


def test_parse_trigger_time_rfc3339_and_nanoseconds() -> None:
    assert metrics.parse_trigger_time("1970-01-01T00:00:10Z") == 10.0
    assert metrics.parse_trigger_time("1970-01-01T00:00:10.123456789Z") == pytest.approx(10.123456)
    assert metrics.parse_trigger_time("1970-01-01T01:00:10+01:00") == 10.0
    assert metrics.parse_trigger_time("yesterday") is None
    assert metrics.parse_trigger_time("1970-01-01T00:00:10") is None  # no zone: not RFC 3339


def test_observe_from_a_recorded_slice() -> None:
    # A controller-written slice of the headless service web-headless carries the annotation.
    event = next(
        e
        for e in read_events("watch/endpointslices.watch.jsonl")
        if metrics.TRIGGER_TIME_ANNOTATION in (e["object"]["metadata"].get("annotations") or {})
    )
    stamp = metrics.parse_trigger_time(event["object"]["metadata"]["annotations"][metrics.TRIGGER_TIME_ANNOTATION])
    assert stamp is not None
    before = count(metrics.HEADLESS_WITH_SELECTOR)
    seconds = metrics.observe_programming(event["object"], metrics.HEADLESS_WITH_SELECTOR, now=stamp + 0.25)
    assert seconds == pytest.approx(0.25)
    assert count(metrics.HEADLESS_WITH_SELECTOR) == before + 1
    le = REGISTRY.get_sample_value(f"{HIST}_bucket", {"service_kind": metrics.HEADLESS_WITH_SELECTOR, "le": "0.256"})
    assert le is not None and le >= 1


def test_not_recorded_without_annotation_kind_or_with_bad_value(caplog: pytest.LogCaptureFixture) -> None:
    before = count(metrics.CLUSTER_IP)
    assert metrics.observe_programming({"metadata": {"name": "x"}}, metrics.CLUSTER_IP) is None
    assert metrics.observe_programming("2026-11-21T23:00:00Z", None) is None
    with caplog.at_level(logging.WARNING, logger="kdns.plugins.kubernetes.metrics"):
        assert metrics.observe_programming("not a time", metrics.CLUSTER_IP) is None
    assert "invalid" in caplog.text
    assert count(metrics.CLUSTER_IP) == before
    with pytest.raises(ValueError):
        metrics.observe_programming("2026-11-21T23:00:00Z", "headless")
    # A trigger time in the future (clock skew) counts as 0, not negative.
    assert metrics.observe_programming("2026-11-21T23:00:00Z", metrics.CLUSTER_IP, now=0.0) == 0.0


def test_service_kind() -> None:
    assert metrics.service_kind("10.0.0.1", True) == "cluster_ip"
    assert metrics.service_kind("None", True) == "headless_with_selector"
    assert metrics.service_kind("None", False) == "headless_without_selector"


def test_rest_metric_names_and_labels() -> None:
    metrics.observe_request("<error>", "GET", "10.96.0.1:443", 0.01)
    assert REGISTRY.get_sample_value(
        "coredns_kubernetes_rest_client_requests_total", {"code": "<error>", "method": "GET", "host": "10.96.0.1:443"}
    ) >= 1
    assert REGISTRY.get_sample_value(
        "coredns_kubernetes_rest_client_request_duration_seconds_count", {"verb": "GET", "host": "10.96.0.1:443"}
    ) >= 1


def test_annotations_of_another_shape_are_not_recorded(caplog: pytest.LogCaptureFixture) -> None:
    # A DELETED event's object reaches the metric unconverted: any JSON may be where a string was.
    kind = metrics.HEADLESS_WITH_SELECTOR
    before = count(kind)
    with caplog.at_level(logging.WARNING, logger="kdns.plugins.kubernetes.metrics"):
        assert metrics.observe_programming({"metadata": {"annotations": {metrics.TRIGGER_TIME_ANNOTATION: 5}}}, kind) is None
    assert "invalid" in caplog.text
    assert metrics.observe_programming({"metadata": {"annotations": ["x"]}}, kind) is None
    assert metrics.observe_programming({"metadata": [1]}, kind) is None
    assert count(kind) == before
