"""Several forward in one server block (CoreDNS 1.13): one instance per FROM zone, each with its own
upstreams, options, health checks and metrics; the longest FROM zone that takes a name answers it."""

from __future__ import annotations

import asyncio

import dns.rcode
import dns.rdatatype
from prometheus_client import REGISTRY

from kdns.plugins.forward.handler import Handler
from tests.conftest import kdns_server
from tests.upstreams import FakeUpstream, dnsmasq, eventually


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def answers(msg) -> list[str]:
    return [rr.to_text() for rrset in msg.answer for rr in rrset]


def forwards(server) -> dict[str, Handler]:
    handlers = server.app.generation.blocks[0].handlers
    return {h.config.from_zone: h for h in handlers if isinstance(h, Handler)}


async def test_each_zone_to_its_own_upstreams_whatever_the_line_order():
    lab_records = {("www.lab.example.", "A"): ["www.lab.example. 60 IN A 192.0.2.20"]}
    world_records = {
        ("www.example.org.", "A"): ["www.example.org. 60 IN A 192.0.2.30"],
        ("secret.corp.example.", "A"): ["secret.corp.example. 60 IN A 192.0.2.31"],
    }
    async with (
        dnsmasq({"www.corp.example": "192.0.2.10"}, local_domain="corp.example") as corp,
        FakeUpstream(lab_records) as lab,
        FakeUpstream(world_records) as world,
    ):
        # `.` first, as people write it too: the longer zones still win (CoreDNS tries the lines in
        # order, so there `.` would take everything).
        corefile = f"""
        . {{
            forward . {world.address} {{
                except cluster.local
            }}
            forward corp.example {corp.address} {{
                except secret.corp.example
                max_fails 3
            }}
            forward lab.example {lab.address}
            whoami
        }}
        """
        async with kdns_server(corefile) as server:
            assert answers(await server.query("www.corp.example.")) == ["192.0.2.10"]
            assert answers(await server.query("www.lab.example.", tcp=True)) == ["192.0.2.20"]
            assert answers(await server.query("www.example.org.")) == ["192.0.2.30"]
            assert (await server.query("nope.corp.example.")).rcode() == dns.rcode.NXDOMAIN
            assert (await server.query("nope.lab.example.")).rcode() == dns.rcode.NXDOMAIN
            assert len(lab.client_queries()) == 2
            # Excepted by corp.example: the next instance that takes it, `.`.
            assert answers(await server.query("secret.corp.example.")) == ["192.0.2.31"]
            # Excepted by `.` and taken by no other: down the chain, to whoami.
            msg = await server.query("kubernetes.default.svc.cluster.local.")
            assert msg.rcode() == dns.rcode.NOERROR
            assert any(rrset.rdtype == dns.rdatatype.A for rrset in msg.additional)
            assert [q.name for q in world.client_queries()] == ["www.example.org.", "secret.corp.example."]

            # Each instance has its own options and upstreams.
            instances = forwards(server)
            assert sorted(instances) == [".", "corp.example.", "lab.example."]
            assert instances["corp.example."].config.max_fails == 3
            assert instances["lab.example."].config.max_fails == 2
            assert [p.label for p in instances["lab.example."].proxies] == [lab.address]

            # Metrics per upstream, so per instance.
            assert sample("coredns_forward_requests_total", {"to": lab.address}) == 2
            assert sample("coredns_forward_requests_total", {"to": world.address}) == 2
            assert sample("coredns_forward_requests_total", {"to": corp.address}) == 2
            assert sample("coredns_forward_responses_total", {"to": lab.address, "rcode": "NXDOMAIN"}) == 1


async def test_health_checks_are_per_instance():
    records = {("www.lab.example.", "A"): ["www.lab.example. 60 IN A 192.0.2.20"],
               ("www.example.org.", "A"): ["www.example.org. 60 IN A 192.0.2.30"]}
    async with FakeUpstream(records) as lab, FakeUpstream(records) as world:
        corefile = f"""
        . {{
            forward lab.example {lab.address} {{
                health_check 50ms
            }}
            forward . {world.address} {{
                health_check 50ms
            }}
        }}
        """
        async with kdns_server(corefile) as server:
            instances = forwards(server)
            lab_proxy = instances["lab.example."].proxies[0]
            world_proxy = instances["."].proxies[0]
            lab.behaviour.silent = True
            msg = await server.query("www.lab.example.", timeout=8)
            assert msg.rcode() == dns.rcode.SERVFAIL
            assert await eventually(lab_proxy.down)
            assert lab_proxy.down() and not world_proxy.down()
            assert lab.probes() and not world.probes()
            assert answers(await server.query("www.example.org.")) == ["192.0.2.30"]
            assert sample("coredns_forward_healthcheck_failures_total", {"to": lab.address}) >= 2
            assert sample("coredns_forward_healthcheck_failures_total", {"to": world.address}) == 0

            lab.behaviour.silent = False
            assert await eventually(lambda: not lab_proxy.down())
            assert answers(await server.query("www.lab.example.")) == ["192.0.2.20"]
