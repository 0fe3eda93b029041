"""forward against the tests' programmable upstream, over real loopback sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
from dnslib import QTYPE, RCODE
from prometheus_client import REGISTRY

from kdns.cli import KdnsFormatter
from kdns.plugins.cache.config import Config as CacheConfig
from kdns.plugins.cache.handler import Handler as CacheHandler
from kdns.plugins.errors.config import Config as ErrorsConfig
from kdns.plugins.errors.handler import Handler as ErrorsHandler
from kdns.plugins.forward.config import Timeouts, parse
from kdns.plugins.forward.handler import Handler
from tests.upstreams import LIE_ADDRESS, FakeUpstream, directive, request

RECORDS = {
    ("www.example.org.", "A"): ["www.example.org. 300 IN A 192.0.2.1"],
    ("www.example.org.", "AAAA"): ["www.example.org. 300 IN AAAA 2001:db8::1"],
    ("big.example.org.", "TXT"): [f'big.example.org. 300 IN TXT "{i:03d}{"x" * 200}"' for i in range(10)],
}
FAST = Timeouts(read=0.3, total=1.5, connect=0.5, health=0.1)


async def not_reached(req):
    raise AssertionError("next plugin called")


def make(body: str, timeouts: Timeouts = FAST, next=not_reached) -> Handler:
    config = parse(directive(". {\n" + body + "\n}\n", "forward"))
    return Handler(next, dataclasses.replace(config, timeouts=timeouts))


@pytest.fixture
async def upstream():
    async with FakeUpstream(dict(RECORDS)) as server:
        yield server


@pytest.fixture
async def upstream2():
    async with FakeUpstream(dict(RECORDS)) as server:
        yield server


def addresses(resp) -> list[str]:
    return [str(rr.rdata) for rr in resp.msg.rr]


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_udp_answer_with_client_id_and_case(upstream):
    h = make(f"forward . {upstream.address}")
    try:
        resp = await h(request("WwW.Example.ORG.", id=4242))
        assert resp.plugin == "forward" and resp.rcode == RCODE.NOERROR
        assert addresses(resp) == ["192.0.2.1"]
        assert resp.msg.header.id == 4242
        assert str(resp.msg.q.qname) == "WwW.Example.ORG."
        assert [q.proto for q in upstream.client_queries()] == ["udp"]
    finally:
        await h.stop()


async def test_every_query_gets_fresh_id_and_source_port(upstream):
    h = make(f"forward . {upstream.address}")
    try:
        for _ in range(8):
            resp = await h(request("www.example.org.", id=4242))
            assert resp.msg.header.id == 4242
        seen = upstream.client_queries()
        assert len(seen) == 8
        # Random 16-bit IDs and kernel-chosen ports: 8 equal values would be a 1 in 2**112 event.
        assert len({q.id for q in seen}) > 1 and any(q.id != 4242 for q in seen)
        assert len({q.port for q in seen}) > 1
    finally:
        await h.stop()


async def test_tcp_client_uses_tcp_and_reuses_the_connection(upstream):
    h = make(f"forward . {upstream.address}")
    try:
        for qtype, want in (("A", "192.0.2.1"), ("AAAA", "2001:db8::1"), ("A", "192.0.2.1")):
            resp = await h(request("www.example.org.", qtype, proto="tcp"))
            assert addresses(resp) == [want]
        assert [q.proto for q in upstream.client_queries()] == ["tcp"] * 3
        assert upstream.tcp_connections == 1
        hits = sample(
            "coredns_proxy_conn_cache_hits_total",
            {"proxy_name": "forward", "to": upstream.address, "proto": "tcp"},
        )
        assert hits == 2
    finally:
        await h.stop()


async def test_connection_closed_by_upstream_is_redialled(upstream):
    upstream.behaviour.close_tcp_after = 1
    h = make(f"forward . {upstream.address}")
    try:
        for _ in range(3):
            resp = await h(request("www.example.org.", proto="tcp"))
            assert addresses(resp) == ["192.0.2.1"]
        assert upstream.tcp_connections == 3
    finally:
        await h.stop()


async def test_force_tcp_and_prefer_udp(upstream):
    h = make(f"forward . {upstream.address} {{\n force_tcp\n}}")
    h2 = make(f"forward . {upstream.address} {{\n prefer_udp\n}}")
    try:
        assert addresses(await h(request("www.example.org."))) == ["192.0.2.1"]
        assert addresses(await h2(request("www.example.org.", proto="tcp"))) == ["192.0.2.1"]
        assert [q.proto for q in upstream.client_queries()] == ["tcp", "udp"]
    finally:
        await h.stop()
        await h2.stop()


async def test_truncated_udp_answer_is_retried_over_tcp(upstream):
    upstream.behaviour.truncate_udp = True
    h = make(f"forward . {upstream.address}")
    try:
        resp = await h(request("big.example.org.", "TXT"))
        assert resp.rcode == RCODE.NOERROR and not resp.msg.header.tc
        assert len(resp.msg.rr) == 10
        assert [q.proto for q in upstream.client_queries()] == ["udp", "tcp"]
    finally:
        await h.stop()


async def test_edns_and_do_bit_passed_upstream(upstream):
    h = make(f"forward . {upstream.address}")
    try:
        await h(request("www.example.org.", do=True))
        await h(request("www.example.org."))
        assert [q.do for q in upstream.client_queries()] == [True, False]
    finally:
        await h.stop()


async def test_nxdomain_passed_through_with_soa(upstream):
    h = make(f"forward . {upstream.address}")
    try:
        resp = await h(request("nope.example.org."))
        assert resp.rcode == RCODE.NXDOMAIN
        assert [QTYPE.get(rr.rtype) for rr in resp.msg.auth] == ["SOA"]
    finally:
        await h.stop()


async def test_silent_upstream_moves_to_next(upstream, upstream2):
    upstream.behaviour.silent = True
    h = make(f"forward . {upstream.address} {upstream2.address} {{\n policy sequential\n}}")
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        resp = await h(request("www.example.org."))
        elapsed = loop.time() - start
        assert addresses(resp) == ["192.0.2.1"]
        assert len(upstream.client_queries()) == 1 and len(upstream2.client_queries()) == 1
        assert FAST.read * 0.9 <= elapsed < FAST.total
    finally:
        await h.stop()


async def test_all_upstreams_silent_gives_servfail(upstream, upstream2):
    upstream.behaviour.silent = upstream2.behaviour.silent = True
    h = make(f"forward . {upstream.address} {upstream2.address}")
    try:
        resp = await h(request("www.example.org.", id=7))
        assert resp.rcode == RCODE.SERVFAIL and resp.msg.header.id == 7
        assert len(upstream.client_queries()) == 1 and len(upstream2.client_queries()) == 1
    finally:
        await h.stop()


async def test_closed_port_fails_fast_to_next(upstream):
    # Nothing listens on the first address: ICMP port unreachable ends the wait at once.
    dead = FakeUpstream()
    await dead.start()
    await dead.stop()
    h = make(f"forward . {dead.address} {upstream.address} {{\n policy sequential\n}}")
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        resp = await h(request("www.example.org."))
        assert addresses(resp) == ["192.0.2.1"]
        assert loop.time() - start < FAST.read
    finally:
        await h.stop()


async def test_slow_upstream_past_the_read_timeout_is_abandoned(upstream, upstream2):
    upstream.behaviour.delay = FAST.read * 2
    h = make(f"forward . {upstream.address} {upstream2.address} {{\n policy sequential\n}}")
    try:
        resp = await h(request("www.example.org."))
        assert addresses(resp) == ["192.0.2.1"]
        assert len(upstream2.client_queries()) == 1
    finally:
        await h.stop()


# A TCP stream has no other source port to forge from.
@pytest.mark.parametrize(
    "lie, proto",
    [("wrong_id", "udp"), ("wrong_id", "tcp"), ("wrong_question", "udp"), ("wrong_question", "tcp"),
     ("wrong_port", "udp")],
)
async def test_forged_answers_are_dropped(upstream, proto, lie):
    setattr(upstream.behaviour, lie, True)
    h = make(f"forward . {upstream.address}")
    try:
        # The lie arrives first, the truth 20 ms later: the client must get the truth.
        resp = await h(request("www.example.org.", proto=proto))
        assert addresses(resp) == ["192.0.2.1"]
        # Only the lie: the client gets SERVFAIL, never the forged address.
        upstream.behaviour.lie_then_truth = False
        resp = await h(request("www.example.org.", proto=proto))
        assert resp.rcode == RCODE.SERVFAIL
        assert LIE_ADDRESS not in addresses(resp)
    finally:
        await h.stop()


async def test_health_check_takes_upstream_out_and_back(upstream, upstream2):
    upstream.behaviour.silent = True
    h = make(
        f"forward . {upstream.address} {upstream2.address} {{\n policy sequential\n"
        " max_fails 2\n health_check 50ms\n}"
    )
    first = h.proxies[0]
    failures = {"to": upstream.address}
    before = sample("coredns_forward_healthcheck_failures_total", failures)
    try:
        assert addresses(await h(request("www.example.org."))) == ["192.0.2.1"]
        # The failed exchange started probing; two failed probes take it out of rotation.
        for _ in range(100):
            if first.down():
                break
            await asyncio.sleep(0.02)
        assert first.down()
        assert len(upstream.probes()) >= 2
        assert sample("coredns_forward_healthcheck_failures_total", failures) - before >= 2
        assert sample(
            "coredns_proxy_healthcheck_failures_total", {"proxy_name": "forward", **failures}
        ) >= 2
        asked = len(upstream.client_queries())
        for _ in range(3):
            assert addresses(await h(request("www.example.org."))) == ["192.0.2.1"]
        assert len(upstream.client_queries()) == asked  # skipped while down: no timeouts paid

        upstream.behaviour.silent = False  # it answers probes again (REFUSED counts as alive)
        for _ in range(100):
            if not first.down():
                break
            await asyncio.sleep(0.02)
        assert not first.down()
        assert addresses(await h(request("www.example.org."))) == ["192.0.2.1"]
        assert len(upstream.client_queries()) == asked + 1
    finally:
        await h.stop()


async def test_all_down_sprays_a_random_upstream(upstream):
    h = make(f"forward . {upstream.address}")
    broken = sample("coredns_forward_healthcheck_broken_total", {})
    h.proxies[0].fails = 5
    try:
        assert addresses(await h(request("www.example.org."))) == ["192.0.2.1"]
        assert sample("coredns_forward_healthcheck_broken_total", {}) == broken + 1
    finally:
        await h.stop()
    h = make(f"forward . {upstream.address} {{\n failfast_all_unhealthy_upstreams\n}}")
    h.proxies[0].fails = 5
    try:
        assert (await h(request("www.example.org."))).rcode == RCODE.SERVFAIL
    finally:
        await h.stop()


async def test_errors_plugin_logs_why_forward_gave_up(upstream, upstream2, caplog):
    # CoreDNS's forward returns the last upstream's error, or ErrNoHealthy, and errors logs it.
    caplog.set_level(logging.ERROR, logger="kdns.plugins.errors.handler")
    upstream.behaviour.silent = upstream2.behaviour.silent = True
    h = make(f"forward . {upstream.address} {upstream2.address} {{\n policy sequential\n}}")
    try:
        resp = await ErrorsHandler(h, ErrorsConfig())(request("www.example.org."))
        assert (resp.rcode, resp.plugin) == (RCODE.SERVFAIL, "forward")
        assert [KdnsFormatter().format(r) for r in caplog.records] == [
            f"[ERROR] plugin/errors: 2 www.example.org. A: upstream {upstream2.address}: udp: timeout"
        ]
    finally:
        await h.stop()
    caplog.clear()
    h = make(f"forward . {upstream.address} {{\n failfast_all_unhealthy_upstreams\n}}")
    h.proxies[0].fails = 5
    try:
        # A cache in between stores the SERVFAIL but still passes the error up, this once.
        chain = ErrorsHandler(CacheHandler(h, CacheConfig(zones=(".",))), ErrorsConfig())
        for _ in range(2):
            assert (await chain(request("www.example.org."))).rcode == RCODE.SERVFAIL
        assert [KdnsFormatter().format(r) for r in caplog.records] == [
            "[ERROR] plugin/errors: 2 www.example.org. A: no healthy proxies"
        ]
    finally:
        await h.stop()


async def test_max_fails_zero_never_marks_down(upstream):
    upstream.behaviour.silent = True
    h = make(f"forward . {upstream.address} {{\n max_fails 0\n health_check 10ms\n}}")
    try:
        assert (await h(request("www.example.org."))).rcode == RCODE.SERVFAIL
        await asyncio.sleep(0.1)
        assert upstream.probes() == [] and not h.proxies[0].down()
    finally:
        await h.stop()


async def test_max_concurrent_refuses_the_excess(upstream):
    upstream.behaviour.delay = 0.2
    h = make(f"forward . {upstream.address} {{\n max_concurrent 2\n}}")
    rejects = sample("coredns_forward_max_concurrent_rejects_total", {})
    try:
        answers = await asyncio.gather(*(h(request("www.example.org.")) for _ in range(5)))
        rcodes = sorted(r.rcode for r in answers)
        assert rcodes == [RCODE.NOERROR] * 2 + [RCODE.REFUSED] * 3
        # CoreDNS's ErrLimitExceeded, for the errors plugin.
        assert {r.error for r in answers if r.rcode == RCODE.REFUSED} == {"concurrent queries exceeded maximum 2"}
        assert sample("coredns_forward_max_concurrent_rejects_total", {}) == rejects + 3
        assert len(upstream.client_queries()) == 2
        assert h.inflight == 0
        # Rejections are not health failures.
        assert upstream.probes() == [] and not h.proxies[0].down()
    finally:
        await h.stop()


async def test_from_and_except_hand_other_names_to_next(upstream):
    seen = []

    async def next_plugin(req):
        seen.append(req.qname)
        return req.answer(RCODE.NXDOMAIN, plugin="next")

    h = make(
        f"forward example.org {upstream.address} {{\n except internal.example.org\n}}", next=next_plugin,
    )
    try:
        assert (await h(request("www.example.org."))).plugin == "forward"
        assert (await h(request("example.org.", "NS"))).plugin == "forward"
        assert (await h(request("a.internal.example.org."))).plugin == "next"
        assert (await h(request("www.example.com."))).plugin == "next"
        assert (await h(request("notexample.org."))).plugin == "next"
        assert seen == ["a.internal.example.org.", "www.example.com.", "notexample.org."]
    finally:
        await h.stop()


async def test_policies(upstream, upstream2):
    for policy, expect in (("sequential", {0: 6}), ("round_robin", {0: 3, 1: 3})):
        upstream.queries.clear()
        upstream2.queries.clear()
        h = make(f"forward . {upstream.address} {upstream2.address} {{\n policy {policy}\n}}")
        try:
            for _ in range(6):
                await h(request("www.example.org."))
        finally:
            await h.stop()
        counts = {0: len(upstream.client_queries()), 1: len(upstream2.client_queries())}
        assert {k: v for k, v in counts.items() if v} == expect, policy
    upstream.queries.clear()
    upstream2.queries.clear()
    h = make(f"forward . {upstream.address} {upstream2.address}")
    try:
        for _ in range(40):
            await h(request("www.example.org."))
    finally:
        await h.stop()
    # random: both used (each would be skipped 40 times in a row with probability 2**-40).
    assert upstream.client_queries() and upstream2.client_queries()


async def test_failover_rcode_tries_next(upstream, upstream2):
    upstream.behaviour.rcode = RCODE.SERVFAIL
    h = make(
        f"forward . {upstream.address} {upstream2.address} {{\n policy sequential\n failover SERVFAIL\n}}"
    )
    try:
        assert addresses(await h(request("www.example.org."))) == ["192.0.2.1"]
        upstream2.behaviour.rcode = RCODE.SERVFAIL
        assert (await h(request("www.example.org."))).rcode == RCODE.SERVFAIL
    finally:
        await h.stop()


async def test_metrics_per_upstream_and_rcode(upstream):
    to = upstream.address
    h = make(f"forward . {to}")
    try:
        await h(request("www.example.org."))
        await h(request("nope.example.org."))
    finally:
        await h.stop()
    assert sample("coredns_forward_requests_total", {"to": to}) == 2
    assert sample("coredns_forward_responses_total", {"to": to, "rcode": "NOERROR"}) == 1
    assert sample("coredns_forward_responses_total", {"to": to, "rcode": "NXDOMAIN"}) == 1
    assert sample("coredns_forward_request_duration_seconds_count", {"to": to, "rcode": "NOERROR"}) == 1
    assert sample(
        "coredns_proxy_request_duration_seconds_count", {"proxy_name": "forward", "to": to, "rcode": "NXDOMAIN"}
    ) == 1
