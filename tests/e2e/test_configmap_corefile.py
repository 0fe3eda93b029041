"""deploy/base's ConfigMap Corefile (kubeadm's shape) served by kdns against the fake API (issue 5).

The Corefile is read from the ConfigMap YAML, not copied, and changed only where a test on
127.0.0.1 must differ from a pod: free ports instead of 53/8080/8181/9153, the fake API's URL
instead of the in-cluster service account, and a loopback upstream instead of the node's
/etc/resolv.conf. Every plugin of the ConfigMap stays, options included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import pytest
from e2e_corefile import DEPLOY, configmap_corefile, sub_once
from conftest import RunningServer, kdns_server
from fakeapi_main import load_objects
from upstreams import FakeUpstream

from tests.fakeapi import FakeApi

HERE = Path(__file__).resolve().parent


def corefile_for_test(api_url: str, upstream: str) -> str:
    text = configmap_corefile()
    text = sub_once(text, ".:53 {", ". {")  # kdns_server gives port-less keys a free port
    text = sub_once(text, "health {", "health 127.0.0.1:0 {")
    text = sub_once(text, "    ready\n", "    ready 127.0.0.1:0\n")
    text = sub_once(text, "prometheus :9153", "prometheus 127.0.0.1:0")
    text = sub_once(
        text,
        "kubernetes cluster.local in-addr.arpa ip6.arpa {",
        f"kubernetes cluster.local in-addr.arpa ip6.arpa {{\n       endpoint {api_url}",
    )
    return sub_once(text, "forward . /etc/resolv.conf {", f"forward . {upstream} {{")


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    records = {
        ("www.example.org.", "A"): ["www.example.org. 300 IN A 192.0.2.10"],
        # The reverse name of an address the cluster does not own: the kubernetes plugin falls
        # through (`fallthrough in-addr.arpa ip6.arpa`) and forward asks the upstream.
        ("10.2.0.192.in-addr.arpa.", "PTR"): ["10.2.0.192.in-addr.arpa. 300 IN PTR www.example.org."],
    }
    async with FakeUpstream(records=records) as server:
        yield server


@pytest.fixture
async def server(upstream: FakeUpstream) -> AsyncIterator[RunningServer]:
    objects = load_objects([str(HERE / "cluster.yaml"), str(DEPLOY / "service.yaml")])
    async with FakeApi(objects) as api:
        async with kdns_server(corefile_for_test(api.url, upstream.address)) as running:
            yield running


def _rrs(msg: dns.message.Message) -> list[str]:
    return [line for rrset in msg.answer for line in rrset.to_text().splitlines()]


async def test_configmap_corefile_serves_a_cluster_name(server: RunningServer, upstream: FakeUpstream) -> None:
    resp = await server.query("web.default.svc.cluster.local.", "A")
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.AA
    assert _rrs(resp) == ["web.default.svc.cluster.local. 30 IN A 10.96.0.100"]
    # The kube-dns Service of deploy/base/service.yaml, through the same API.
    resp = await server.query("kube-dns.kube-system.svc.cluster.local.", "A")
    assert _rrs(resp) == ["kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10"]
    # A name in the cluster zone that does not exist is NXDOMAIN from kdns, never forwarded:
    # the ConfigMap's fallthrough names only the reverse zones.
    resp = await server.query("nosuch.default.svc.cluster.local.", "A")
    assert resp.rcode() == dns.rcode.NXDOMAIN
    assert not [q for q in upstream.client_queries() if "cluster.local" in q.name.lower()]


async def test_configmap_corefile_serves_reverse_names(server: RunningServer, upstream: FakeUpstream) -> None:
    resp = await server.query("10.0.96.10.in-addr.arpa.", "PTR")
    assert resp.flags & dns.flags.AA
    assert _rrs(resp) == ["10.0.96.10.in-addr.arpa. 30 IN PTR kube-dns.kube-system.svc.cluster.local."]
    resp = await server.query("11.1.244.10.in-addr.arpa.", "PTR")
    assert _rrs(resp) == [
        "11.1.244.10.in-addr.arpa. 30 IN PTR busybox-1.busybox-subdomain.default.svc.cluster.local."
    ]
    # Not a cluster address: fallthrough in-addr.arpa hands it to forward.
    resp = await server.query("10.2.0.192.in-addr.arpa.", "PTR")
    assert resp.rcode() == dns.rcode.NOERROR
    # `cache 30` caps the TTL of the reply that fills the cache too (CoreDNS cache: "avoid
    # jarring TTL experience"); the upstream said 300.
    assert _rrs(resp) == ["10.2.0.192.in-addr.arpa. 30 IN PTR www.example.org."]
    assert [q.name.lower() for q in upstream.client_queries() if q.qtype == "PTR"] == ["10.2.0.192.in-addr.arpa."]


async def test_configmap_corefile_forwards_outside_names(server: RunningServer, upstream: FakeUpstream) -> None:
    resp = await server.query("www.example.org.", "A")
    assert resp.rcode() == dns.rcode.NOERROR
    assert _rrs(resp) == ["www.example.org. 30 IN A 192.0.2.10"]  # capped by `cache 30`
    asked = [q for q in upstream.client_queries() if q.name.lower() == "www.example.org."]
    assert len(asked) == 1
    # The second answer comes from the cache: the upstream is not asked again.
    resp = await server.query("www.example.org.", "A")
    assert [(rrset.name.to_text(), 0 < rrset.ttl <= 30) for rrset in resp.answer] == [("www.example.org.", True)]
    assert len([q for q in upstream.client_queries() if q.name.lower() == "www.example.org."]) == 1


async def test_configmap_corefile_probes_and_metrics(server: RunningServer) -> None:
    assert await server.http("health", "/health") == (200, "OK")
    status, _ = await server.http("ready", "/ready")
    assert status == 200
    await server.query("web.default.svc.cluster.local.", "A")
    status, text = await server.http("prometheus", "/metrics")
    assert status == 200
    assert "coredns_dns_requests_total{" in text
