"""forward, cache and loadbalance in a running kdns, asked by real clients (dnspython, dig)."""

from __future__ import annotations

import asyncio
import itertools

import dns.flags
import dns.rcode
import pytest

from tests.conftest import kdns_server
from tests.upstreams import LIE_ADDRESS, FakeUpstream, dnsmasq

RECORDS = {
    ("www.example.org.", "A"): ["www.example.org. 300 IN A 192.0.2.1"],
    ("web.example.org.", "A"): [f"web.example.org. 60 IN A 10.0.0.{i}" for i in (1, 2, 3)],
    ("big.example.org.", "TXT"): [f'big.example.org. 300 IN TXT "{i:03d}{"x" * 200}"' for i in range(10)],
}


def addresses(msg) -> list[str]:
    return [rr.to_text() for rrset in msg.answer for rr in rrset]


async def test_forward_cache_loadbalance_through_the_server():
    async with FakeUpstream(dict(RECORDS)) as up:
        corefile = f"""
        . {{
            forward . {up.address}
            cache 30
            loadbalance
        }}
        """
        async with kdns_server(corefile) as server:
            msg = await server.query("WWW.example.org.")
            assert msg.rcode() == dns.rcode.NOERROR and addresses(msg) == ["192.0.2.1"]
            assert msg.answer[0].ttl == 30
            assert msg.question[0].name.to_text() == "WWW.example.org."
            msg = await server.query("www.example.org.", tcp=True)
            assert addresses(msg) == ["192.0.2.1"]
            assert len(up.client_queries()) == 1  # the second came from the cache

            orders = set()
            for _ in range(60):
                orders.add(tuple(addresses(await server.query("web.example.org."))))
            assert orders == set(itertools.permutations(["10.0.0.1", "10.0.0.2", "10.0.0.3"]))
            assert len(up.client_queries()) == 2

            # A 2.3 KB answer: truncated to the UDP client, whole over TCP; the upstream's own TC=1
            # to kdns is retried over TCP.
            up.behaviour.truncate_udp = True
            msg = await server.query("big.example.org.", "TXT", use_edns=0, payload=4096)
            assert len(msg.answer[0]) == 10 and not msg.flags & dns.flags.TC
            assert [q.proto for q in up.client_queries()][-2:] == ["udp", "tcp"]


async def test_lies_never_reach_a_dig_client():
    async with FakeUpstream(dict(RECORDS)) as up:
        up.behaviour.wrong_id = up.behaviour.wrong_port = True
        corefile = f". {{\n forward . {up.address}\n}}\n"
        async with kdns_server(corefile) as server:
            out = await server.dig("+short", "www.example.org", "A")
            assert out.split() == ["192.0.2.1"]
            up.behaviour.lie_then_truth = False
            out = await server.dig("www.example.org", "A")
            assert "status: SERVFAIL" in out and LIE_ADDRESS not in out


async def test_forward_to_dnsmasq_through_the_server():
    async with dnsmasq({"www.example.test": "192.0.2.7"}) as upstream:
        corefile = f". {{\n forward . {upstream.address}\n cache\n}}\n"
        async with kdns_server(corefile) as server:
            out = await server.dig("+short", "www.example.test")
            assert out.split() == ["192.0.2.7"]
            out = await server.dig("+tcp", "+short", "www.example.test")
            assert out.split() == ["192.0.2.7"]
            msg = await server.query("nope.example.test.")
            assert msg.rcode() == dns.rcode.NXDOMAIN


async def test_all_upstreams_silent_servfail_and_max_concurrent():
    async with FakeUpstream(dict(RECORDS)) as up:
        up.behaviour.delay = 0.3
        corefile = f". {{\n forward . {up.address} {{\n max_concurrent 2\n }}\n}}\n"
        async with kdns_server(corefile) as server:
            msgs = await asyncio.gather(*(server.query("www.example.org.") for _ in range(5)))
            rcodes = sorted(m.rcode() for m in msgs)
            assert rcodes == [dns.rcode.NOERROR] * 2 + [dns.rcode.REFUSED] * 3


@pytest.mark.parametrize("tcp", [False, True])
async def test_servfail_when_upstream_never_answers(tcp):
    async with FakeUpstream(dict(RECORDS)) as up:
        up.behaviour.silent = True
        corefile = f". {{\n forward . {up.address}\n}}\n"
        async with kdns_server(corefile) as server:
            msg = await server.query("www.example.org.", tcp=tcp, timeout=8)
            assert msg.rcode() == dns.rcode.SERVFAIL
