"""cache at handler level, with a controllable clock instead of sleeping."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from dnslib import QTYPE, RCODE, RR
from prometheus_client import REGISTRY

from kdns.plugins.cache.config import parse
from kdns.plugins.cache.handler import Handler, common_zones
from kdns.plugins.forward.config import Timeouts
from kdns.plugins.forward.config import parse as forward_parse
from kdns.plugins.forward.handler import Handler as Forward
from kdns.response import Response
from tests.upstreams import FakeUpstream, directive, request

SOA = "example.org. {ttl} IN SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 {minimum}"


class Backend:
    """The next plugin: answers from a table and counts what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self.answers: dict[tuple[str, str], list[str]] = {
            ("www.example.org.", "A"): ["www.example.org. 300 IN A 192.0.2.1"],
            ("short.example.org.", "A"): ["short.example.org. 1 IN A 192.0.2.2"],
            ("alias.example.org.", "A"): [
                "alias.example.org. 300 IN CNAME www.example.org.", "www.example.org. 120 IN A 192.0.2.1",
            ],
        }
        self.soa = SOA.format(ttl=300, minimum=60)
        self.rcode: int | None = None
        self.tags: frozenset | None = None
        self.tc = False
        self.gate: asyncio.Event | None = None

    async def __call__(self, req):
        self.calls.append((req.qname, req.type_name, req.do))
        if self.gate is not None:
            await self.gate.wait()
        msg = req.reply()
        key = (req.qname_lower, req.type_name)
        if self.rcode is not None:
            msg.header.rcode = self.rcode
        elif key in self.answers:
            for text in self.answers[key]:
                msg.add_answer(*RR.fromZone(text))
        elif any(name == req.qname_lower for name, _ in self.answers):
            msg.add_auth(*RR.fromZone(self.soa))
        else:
            msg.header.rcode = RCODE.NXDOMAIN
            if self.soa:
                msg.add_auth(*RR.fromZone(self.soa))
        msg.header.tc = int(self.tc)
        return Response(msg, plugin="backend", tags=self.tags)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(body: str = "cache", backend: Backend | None = None) -> tuple[Handler, Backend, Clock]:
    backend = backend or Backend()
    h = Handler(backend, parse(directive(". {\n" + body + "\n}\n", "cache")))
    clock = Clock()
    h.clock = clock
    return h, backend, clock


def ttls(resp) -> list[int]:
    return [rr.ttl for rr in resp.msg.rr + resp.msg.auth]


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_hits_count_ttl_down_and_expire():
    h, backend, clock = make("cache 30")
    resp = await h(request("www.example.org."))
    assert resp.plugin == "backend" and ttls(resp) == [30]  # capped by `cache 30` already on the miss
    clock.now += 10.5
    resp = await h(request("www.example.org.", id=77))
    assert resp.plugin == "cache" and resp.msg.header.id == 77
    assert [str(rr.rdata) for rr in resp.msg.rr] == ["192.0.2.1"] and ttls(resp) == [20]
    clock.now += 19
    assert ttls(await h(request("www.example.org."))) == [1]
    assert len(backend.calls) == 1
    clock.now += 1
    resp = await h(request("www.example.org."))
    assert resp.plugin == "backend" and len(backend.calls) == 2


async def test_record_ttl_below_max_is_kept_and_minimum_applies():
    h, backend, clock = make("cache")
    assert ttls(await h(request("www.example.org."))) == [300]
    # A 1 s record is kept for the 5 s minimum (CoreDNS MINTTL default).
    assert ttls(await h(request("short.example.org."))) == [5]
    clock.now += 4
    assert ttls(await h(request("short.example.org."))) == [1]
    assert len(backend.calls) == 2


async def test_smallest_ttl_of_the_answer_rules():
    h, backend, clock = make("cache")
    resp = await h(request("alias.example.org."))
    assert ttls(resp) == [120, 120]
    clock.now += 100
    resp = await h(request("alias.example.org."))
    assert [QTYPE.get(rr.rtype) for rr in resp.msg.rr] == ["CNAME", "A"] and ttls(resp) == [20, 20]


async def test_question_case_echoed_and_never_mixed():
    h, backend, _ = make("cache")
    await h(request("www.example.org."))
    resp = await h(request("WwW.ExAmple.ORG."))
    assert resp.plugin == "cache"
    assert str(resp.msg.q.qname) == "WwW.ExAmple.ORG."
    assert str(resp.msg.rr[0].rname) == "WwW.ExAmple.ORG."
    # A CNAME chain keeps its other owner names as they are.
    await h(request("alias.example.org."))
    resp = await h(request("ALIAS.example.org."))
    assert [str(rr.rname) for rr in resp.msg.rr] == ["ALIAS.example.org.", "www.example.org."]
    assert len(backend.calls) == 2


async def test_do_bit_and_cd_bit_key_separate_entries():
    h, backend, _ = make("cache")
    await h(request("www.example.org."))
    await h(request("www.example.org.", do=True))
    await h(request("www.example.org.", edns=True))  # EDNS without DO shares the DO=0 entry
    await h(request("www.example.org.", do=True))
    await h(request("www.example.org.", cd=True))
    assert backend.calls == [
        ("www.example.org.", "A", False), ("www.example.org.", "A", True), ("www.example.org.", "A", False),
    ]


async def test_type_and_class_key_separate_entries():
    h, backend, _ = make("cache")
    await h(request("www.example.org.", "A"))
    resp = await h(request("www.example.org.", "AAAA"))
    assert resp.plugin == "backend" and resp.msg.rr == [] and len(backend.calls) == 2


@pytest.mark.parametrize(
    "soa_ttl, minimum, body, expect",
    [
        (300, 60, "cache", 60),  # SOA MINIMUM below the SOA TTL
        (10, 60, "cache", 10),  # RFC 2308 section 5: the smaller of the two
        (300, 600, "cache 30", 30),  # capped by the denial TTL
        (300, 3600, "cache {\n denial 100 120\n}", 120),
        (300, 1, "cache", 5),  # raised to the denial MINTTL default
        (300, 1, "cache {\n denial 100 120 0\n}", 1),
    ],
)
async def test_negative_caching_bounded_by_soa_minimum(soa_ttl, minimum, body, expect):
    h, backend, clock = make(body)
    backend.soa = SOA.format(ttl=soa_ttl, minimum=minimum)
    resp = await h(request("nope.example.org."))
    assert resp.rcode == RCODE.NXDOMAIN and ttls(resp) == [expect]
    clock.now += expect - 0.5
    resp = await h(request("nope.example.org."))
    assert resp.plugin == "cache" and resp.rcode == RCODE.NXDOMAIN
    assert [QTYPE.get(rr.rtype) for rr in resp.msg.auth] == ["SOA"]
    clock.now += 1
    assert (await h(request("nope.example.org."))).plugin == "backend"
    assert len(backend.calls) == 2


async def test_nodata_is_a_denial():
    h, backend, _ = make("cache")
    await h(request("www.example.org.", "TXT"))
    resp = await h(request("www.example.org.", "TXT"))
    assert resp.plugin == "cache" and resp.rcode == RCODE.NOERROR and resp.msg.rr == []
    assert ttls(resp) == [60]
    assert sample(
        "coredns_cache_hits_total", {"server": "dns://:53", "type": "denial", "zones": ".", "view": ""}
    ) >= 1


async def test_nxdomain_without_soa_is_not_cached():
    h, backend, _ = make("cache")
    backend.soa = ""
    await h(request("nope.example.org."))
    await h(request("nope.example.org."))
    assert len(backend.calls) == 2


async def test_servfail_cached_briefly_and_configurable():
    h, backend, clock = make("cache")
    backend.rcode = RCODE.SERVFAIL
    await h(request("www.example.org."))
    clock.now += 4
    assert (await h(request("www.example.org."))).plugin == "cache"
    clock.now += 1.5
    assert (await h(request("www.example.org."))).plugin == "backend"
    h, backend, _ = make("cache {\n servfail 0\n}")
    backend.rcode = RCODE.SERVFAIL
    await h(request("www.example.org."))
    await h(request("www.example.org."))
    assert len(backend.calls) == 2


@pytest.mark.parametrize("rcode", [RCODE.REFUSED, RCODE.FORMERR, RCODE.NOTIMP])
async def test_other_errors_not_cached(rcode):
    h, backend, _ = make("cache")
    backend.rcode = rcode
    await h(request("www.example.org."))
    await h(request("www.example.org."))
    assert len(backend.calls) == 2


async def test_truncated_not_cached():
    h, backend, _ = make("cache")
    backend.tc = True
    await h(request("www.example.org."))
    await h(request("www.example.org."))
    assert len(backend.calls) == 2


async def test_disable_success_and_denial_per_zone():
    h, backend, _ = make("cache {\n disable success example.org\n}")
    for _ in range(2):
        await h(request("www.example.org."))
        await h(request("nope.example.org."))
    assert [c[0] for c in backend.calls] == ["www.example.org.", "nope.example.org.", "www.example.org."]

    h, backend, _ = make("cache {\n disable denial example.org\n}")
    for _ in range(2):
        await h(request("www.example.org."))
        await h(request("nope.example.org."))
    assert [c[0] for c in backend.calls] == ["www.example.org.", "nope.example.org.", "nope.example.org."]

    # The kubeadm Corefile: no caching at all under cluster.local, the rest cached.
    h, backend, _ = make("cache 30 {\n disable success cluster.local\n disable denial cluster.local\n}")
    backend.answers[("svc.cluster.local.", "A")] = ["svc.cluster.local. 5 IN A 10.0.0.1"]
    for _ in range(2):
        await h(request("svc.cluster.local."))
        await h(request("nope.cluster.local."))
        await h(request("www.example.org."))
    assert len(backend.calls) == 5


async def test_names_where_nothing_is_stored_count_as_requests_and_misses():
    # The kubeadm Corefile: cluster.local answers go straight through, counted as CoreDNS counts them.
    h, backend, _ = make("cache 30 {\n disable success cluster.local\n disable denial cluster.local\n}")
    assert h.uncached == ("cluster.local.",)
    labels = {"server": "dns://:53", "zones": ".", "view": ""}
    req0 = sample("coredns_cache_requests_total", labels)
    miss0 = sample("coredns_cache_misses_total", labels)
    backend.answers[("svc.cluster.local.", "A")] = ["svc.cluster.local. 5 IN A 10.0.0.1"]
    backend.tags = frozenset({"svc"})
    for name in ("svc.cluster.local.", "nope.cluster.local.", "svc.cluster.local."):
        resp = await h(request(name))
        assert resp.plugin == "backend" and resp.tags == frozenset({"svc"})
    assert len(backend.calls) == 3 and len(h.success) == len(h.denial) == 0
    assert sample("coredns_cache_requests_total", labels) == req0 + 3
    assert sample("coredns_cache_misses_total", labels) == miss0 + 3


async def test_counts_go_on_across_a_reload():
    # CoreDNS's counters are global vectors: a new handler for the same server and zones adds to them.
    labels = {"server": "dns://:53", "zones": "reload.example.", "view": ""}
    before = sample("coredns_cache_requests_total", labels)
    for _ in range(2):
        h, _, _ = make("cache reload.example")
        await h(request("www.reload.example."))
    assert sample("coredns_cache_requests_total", labels) == before + 2


def test_common_zones_are_the_deeper_of_each_nested_pair():
    assert common_zones(("cluster.local.",), ("cluster.local.",)) == ("cluster.local.",)
    assert common_zones(("local.",), ("cluster.local.", "example.org.")) == ("cluster.local.",)
    assert common_zones((".",), ("a.", "b.")) == ("a.", "b.")
    assert common_zones(("a.",), ("b.",)) == ()
    assert common_zones(None, ("a.",)) == () and common_zones(("a.",), None) == ()


async def test_disable_without_zones_means_the_cache_zones():
    h, backend, _ = make("cache example.org {\n disable success\n}")
    for _ in range(2):
        await h(request("www.example.org."))
        await h(request("nope.example.org."))
    assert len(backend.calls) == 3


async def test_only_cache_zones_are_cached():
    h, backend, _ = make("cache example.com")
    for _ in range(2):
        await h(request("www.example.org."))
    assert len(backend.calls) == 2
    assert h.zones == ("example.com.",)


async def test_block_zones_from_attach():
    h, backend, _ = make("cache")

    class Info:
        zones = ["example.net."]

    h.attach(Info())  # type: ignore[arg-type]
    for _ in range(2):
        await h(request("www.example.org."))
    assert len(backend.calls) == 2 and h.zones_label == "example.net."


async def test_keepttl_serves_the_original_ttl():
    h, backend, clock = make("cache 30 {\n keepttl\n}")
    await h(request("www.example.org."))
    clock.now += 20
    resp = await h(request("www.example.org."))
    assert resp.plugin == "cache" and ttls(resp) == [30]
    clock.now += 10
    assert (await h(request("www.example.org."))).plugin == "backend"


async def test_prefetch_refreshes_popular_entries_before_expiry():
    h, backend, clock = make("cache {\n prefetch 2 1m 50%\n}")
    backend.answers[("www.example.org.", "A")] = ["www.example.org. 10 IN A 192.0.2.1"]
    before = sample("coredns_cache_prefetch_total", {"server": "dns://:53", "zones": ".", "view": ""})
    await h(request("www.example.org."))
    clock.now += 2
    await h(request("www.example.org."))  # 1 hit, 8 s left: not yet
    await asyncio.sleep(0)
    assert len(backend.calls) == 1
    clock.now += 4
    resp = await h(request("www.example.org."))  # 2 hits, 4 s left <= 50% of 10: prefetch
    assert resp.plugin == "cache" and ttls(resp) == [4]
    await asyncio.sleep(0.01)
    assert len(backend.calls) == 2
    assert sample("coredns_cache_prefetch_total", {"server": "dns://:53", "zones": ".", "view": ""}) == before + 1
    # The refreshed entry counts from now, so a client sees a full TTL again without a miss.
    resp = await h(request("www.example.org."))
    assert resp.plugin == "cache" and ttls(resp) == [10]
    assert len(backend.calls) == 2


async def test_prefetch_needs_popularity():
    h, backend, clock = make("cache {\n prefetch 3 10s\n}")
    backend.answers[("www.example.org.", "A")] = ["www.example.org. 10 IN A 192.0.2.1"]
    await h(request("www.example.org."))
    for _ in range(2):
        clock.now += 4.5  # hits 11 s apart would reset; these are 4.5 s apart, but only 2
        await h(request("www.example.org."))
    await asyncio.sleep(0.01)
    assert len(backend.calls) == 1


async def test_serve_stale_immediate_while_backend_fails():
    h, backend, clock = make("cache 30 {\n serve_stale 1h\n}")
    await h(request("www.example.org."))
    backend.rcode = RCODE.SERVFAIL  # the upstream is down
    clock.now += 31
    stale_before = sample("coredns_cache_served_stale_total", {"server": "dns://:53", "zones": ".", "view": ""})
    for _ in range(3):
        resp = await h(request("www.example.org."))
        assert resp.plugin == "cache" and [str(rr.rdata) for rr in resp.msg.rr] == ["192.0.2.1"]
        assert ttls(resp) == [0]
        await asyncio.sleep(0.01)
    # Each stale answer triggered a refresh in the background; the SERVFAILs did not replace the entry.
    assert len(backend.calls) == 4
    assert sample(
        "coredns_cache_served_stale_total", {"server": "dns://:53", "zones": ".", "view": ""}
    ) == stale_before + 3
    backend.rcode = None
    resp = await h(request("www.example.org."))
    assert ttls(resp) == [0]
    await asyncio.sleep(0.01)
    resp = await h(request("www.example.org."))  # the refresh worked: fresh again
    assert ttls(resp) == [30]
    # Past the stale window the entry is gone.
    clock.now += 3600 + 31
    backend.rcode = RCODE.SERVFAIL
    assert (await h(request("www.example.org."))).rcode == RCODE.SERVFAIL


async def test_serve_stale_verify_asks_first():
    h, backend, clock = make("cache 30 {\n serve_stale 10m verify\n}")
    await h(request("www.example.org."))
    clock.now += 31
    backend.answers[("www.example.org.", "A")] = ["www.example.org. 300 IN A 192.0.2.99"]
    resp = await h(request("www.example.org."))
    assert [str(rr.rdata) for rr in resp.msg.rr] == ["192.0.2.99"] and ttls(resp) == [30]
    clock.now += 31
    backend.rcode = RCODE.SERVFAIL
    resp = await h(request("www.example.org."))
    assert [str(rr.rdata) for rr in resp.msg.rr] == ["192.0.2.99"] and ttls(resp) == [0]
    assert len(backend.calls) == 3


async def test_tagged_response_passes_untouched_and_is_not_cached():
    # A tagged answer is the server's fast path's to keep: a cached copy would outlive the index
    # change that drops it there (a rewrite onto a service answers names outside cluster.local).
    h, backend, _ = make("cache")
    backend.tags = frozenset({"svc/default/web"})
    first = await h(request("www.example.org."))
    assert first.tags == backend.tags and first.plugin == "backend"
    again = await h(request("www.example.org."))
    assert again.plugin == "backend" and again.tags == backend.tags
    assert len(backend.calls) == 2 and len(h.success) == 0


async def test_eviction_when_full():
    h, backend, _ = make("cache {\n success 2\n}")
    labels = {"server": "dns://:53", "type": "success", "zones": ".", "view": ""}
    before = sample("coredns_cache_evictions_total", labels)
    for name in ("www", "short", "alias"):
        await h(request(f"{name}.example.org."))
    assert len(h.success) == 2
    assert sample("coredns_cache_evictions_total", labels) == before + 1
    assert sample("coredns_cache_entries", labels) == 2
    await h(request("www.example.org."))  # the least recently used one was evicted
    assert len(backend.calls) == 4


async def test_request_hit_miss_metrics():
    h, backend, _ = make("cache example.org")
    h_labels = {"server": "dns://:53", "zones": "example.org.", "view": ""}
    req0 = sample("coredns_cache_requests_total", h_labels)
    miss0 = sample("coredns_cache_misses_total", h_labels)
    hit0 = sample("coredns_cache_hits_total", {**h_labels, "type": "success"})
    for _ in range(3):
        await h(request("www.example.org."))
    await h(request("www.example.com."))  # outside the cache's zones: not a cache request at all
    assert sample("coredns_cache_requests_total", h_labels) == req0 + 3
    assert sample("coredns_cache_misses_total", h_labels) == miss0 + 1
    assert sample("coredns_cache_hits_total", {**h_labels, "type": "success"}) == hit0 + 2


async def test_serve_stale_through_forward_while_upstream_silent():
    """cache in front of forward in front of a real socket server that goes silent."""
    async with FakeUpstream({("www.example.org.", "A"): ["www.example.org. 300 IN A 192.0.2.1"]}) as up:
        fwd_config = forward_parse(directive(f". {{\n forward . {up.address}\n}}\n", "forward"))
        fwd = Forward(None, dataclasses.replace(fwd_config, timeouts=Timeouts(read=0.2, total=0.5, health=0.1)))
        h = Handler(fwd, parse(directive(". {\n cache 30 {\n serve_stale\n }\n}\n", "cache")))
        clock = Clock()
        h.clock = clock
        try:
            assert (await h(request("www.example.org."))).plugin == "forward"
            up.behaviour.silent = True
            clock.now += 60
            resp = await h(request("www.example.org."))
            assert resp.plugin == "cache" and [str(rr.rdata) for rr in resp.msg.rr] == ["192.0.2.1"]
            assert ttls(resp) == [0]
            await asyncio.sleep(0.7)  # the background refresh timed out
            assert (await h(request("www.example.org."))).plugin == "cache"
            up.behaviour.silent = False
            await asyncio.sleep(0.3)
            resp = await h(request("www.example.org."))
            await asyncio.sleep(0.3)
            resp = await h(request("www.example.org."))
            assert ttls(resp) == [30]
        finally:
            await h.stop()
            await fwd.stop()


async def test_reply_header_from_item_and_asker():
    backend = Backend()
    original = backend.__call__

    async def authoritative(req):
        resp = await original(req)
        resp.msg.header.aa = 1
        resp.msg.header.ad = 1
        return resp

    h = Handler(authoritative, parse(directive(". {\n cache\n}\n", "cache")))
    await h(request("www.example.org."))
    resp = await h(request("www.example.org.", id=5))
    header = resp.msg.header
    assert resp.plugin == "cache" and header.id == 5 and header.qr == 1
    assert header.aa == 1 and header.rd == 1 and header.ra == 1
    assert header.ad == 0  # the asker set neither DO nor AD (RFC 6840 section 5.8)
    await h(request("www.example.org.", do=True))
    resp = await h(request("www.example.org.", do=True))
    assert resp.plugin == "cache" and resp.msg.header.ad == 1
    packed = resp.msg.pack()
    assert packed[6:8] == b"\x00\x01"  # ANCOUNT as packed
