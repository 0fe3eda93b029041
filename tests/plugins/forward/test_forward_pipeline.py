"""forward over TCP: queries pipelined on one kept connection (RFC 7766 section 6.2.1.1), against the
tests' programmable upstream over real loopback sockets."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from dnslib import RCODE
from prometheus_client import REGISTRY

from kdns.plugins.forward.config import Timeouts, parse
from kdns.plugins.forward.handler import Handler
from tests.upstreams import FakeUpstream, directive, request

NAMES = [f"host-{i}.example.org." for i in range(1, 6)]
RECORDS = {(name, "A"): [f"{name} 300 IN A 192.0.2.{i}"] for i, name in enumerate(NAMES, 1)}
FAST = Timeouts(read=1.0, total=2.0, connect=0.5, health=0.2)


async def not_reached(req):
    raise AssertionError("next plugin called")


def make(address: str) -> Handler:
    config = parse(directive(f". {{\n forward . {address} {{\n force_tcp\n }}\n}}\n", "forward"))
    return Handler(not_reached, dataclasses.replace(config, timeouts=FAST))


@pytest.fixture
async def upstream():
    async with FakeUpstream(dict(RECORDS)) as server:
        yield server


def conn_cache(kind: str, upstream: FakeUpstream) -> float:
    labels = {"proxy_name": "forward", "to": upstream.address, "proto": "tcp"}
    return REGISTRY.get_sample_value(f"coredns_proxy_conn_cache_{kind}_total", labels) or 0.0


def addresses(resp) -> list[str]:
    return [str(rr.rdata) for rr in resp.msg.rr]


async def ask_all(h: Handler) -> list:
    return await asyncio.gather(*(h(request(name, id=100 + i)) for i, name in enumerate(NAMES)))


async def test_answers_out_of_order_reach_their_own_queries_on_one_connection(upstream):
    # The upstream holds the answers until all five queries are in, then sends them last first:
    # with a connection per query none of them would ever be answered.
    upstream.behaviour.reverse_tcp = len(NAMES)
    h = make(upstream.address)
    misses, hits = conn_cache("misses", upstream), conn_cache("hits", upstream)
    try:
        replies = await ask_all(h)
        for i, resp in enumerate(replies):
            assert resp.rcode == RCODE.NOERROR, resp.error
            assert resp.msg.header.id == 100 + i
            assert addresses(resp) == [f"192.0.2.{i + 1}"]
        assert upstream.tcp_connections == 1
        assert [q.proto for q in upstream.client_queries()] == ["tcp"] * len(NAMES)
        # One dial (a miss); the four queries that joined it are hits, as with DNS-over-TLS.
        assert conn_cache("misses", upstream) - misses == 1
        assert conn_cache("hits", upstream) - hits == len(NAMES) - 1
        # The next round reuses the connection.
        replies = await ask_all(h)
        assert all(resp.rcode == RCODE.NOERROR for resp in replies)
        assert upstream.tcp_connections == 1
        assert conn_cache("hits", upstream) - hits == 2 * len(NAMES) - 1
    finally:
        await h.stop()


async def test_a_connection_closed_mid_flight_fails_its_waiters_at_once(upstream):
    # Two answers, then the upstream closes with three queries of the same connection unanswered:
    # those get SERVFAIL for the closed connection, not after a read timeout, and none hangs.
    upstream.behaviour.close_tcp_after = 2
    h = make(upstream.address)
    try:
        replies = await ask_all(h)
        answered = [resp for resp in replies if resp.rcode == RCODE.NOERROR]
        failed = [resp for resp in replies if resp.rcode != RCODE.NOERROR]
        assert len(answered) == 2 and len(failed) == 3
        for resp in failed:
            assert resp.rcode == RCODE.SERVFAIL
            assert resp.error.startswith(f"upstream {upstream.address}: tcp: "), resp.error
            assert "timeout" not in resp.error, resp.error
        for resp in answered:
            name = str(resp.msg.q.qname)
            assert addresses(resp) == [f"192.0.2.{NAMES.index(name) + 1}"]
        assert upstream.tcp_connections == 1
    finally:
        await h.stop()


async def test_a_reused_connection_closed_under_a_query_is_asked_again_on_a_fresh_one(upstream):
    # The kept connection answers once; the upstream closes it when the next query arrives, which
    # is then asked once more on a new connection (CoreDNS does the same for a cached connection).
    upstream.behaviour.drop_tcp_on_query = 2
    h = make(upstream.address)
    try:
        first = await h(request(NAMES[0]))
        assert addresses(first) == ["192.0.2.1"]
        second = await h(request(NAMES[1]))
        assert second.rcode == RCODE.NOERROR, second.error
        assert addresses(second) == ["192.0.2.2"]
        assert upstream.tcp_connections == 2
        assert [q.name for q in upstream.client_queries()] == [NAMES[0], NAMES[1], NAMES[1]]
    finally:
        await h.stop()


async def test_stop_fails_the_queries_in_flight_instead_of_leaving_them(upstream):
    # A reload retires the chain while queries wait on the kept connection: each ends (SERVFAIL),
    # none is left waiting for an answer that can no longer come.
    upstream.behaviour.reverse_tcp = len(NAMES) + 1  # never all in: nothing is answered
    h = make(upstream.address)
    tasks = [asyncio.ensure_future(h(request(name))) for name in NAMES]
    while len(upstream.client_queries()) < len(NAMES):
        await asyncio.sleep(0.01)
    await h.stop()
    replies = await asyncio.gather(*tasks)
    assert [resp.rcode for resp in replies] == [RCODE.SERVFAIL] * len(NAMES)
    assert all("timeout" not in resp.error for resp in replies), [resp.error for resp in replies]
