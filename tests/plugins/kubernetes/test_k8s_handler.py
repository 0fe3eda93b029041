"""The handler around the index: zones, sync state, fast-path tags, ExternalName chasing, lifecycle."""

from __future__ import annotations

import asyncio

from dnslib import QTYPE, RCODE, DNSLabel, DNSRecord
from plugins.kubernetes.k8s_cases import FIXTURES, FakeInfo, ask, config, handler

from kdns.plugins import get
from kdns.plugins.kubernetes.config import Config
from kdns.server.wire import pack, parse_query

Z = "cluster.local."
W = f"web.demo.svc.{Z}"


def test_plugin_registered() -> None:
    spec = get("kubernetes")
    assert spec is not None and spec.name == "kubernetes"


async def test_unsynced_nxdomain_is_servfail_and_nothing_is_cacheable() -> None:
    h = handler(config(), load=False)
    assert not h.ready()
    resp = await ask(h, W, "A")
    assert resp.msg.header.rcode == RCODE.SERVFAIL and resp.tags is None
    # some kinds listed, not all: answers found are served, but never kept on the fast path
    h.index.replace("Namespace", [{"metadata": {"name": "demo"}}])
    h.index.replace("Service", [{"metadata": {"name": "web", "namespace": "demo"}, "spec": {"clusterIP": "10.96.0.10"}}])
    h.index.mark_synced("Namespace")
    h.index.mark_synced("Service")
    resp = await ask(h, W, "A")
    assert resp.msg.header.rcode == 0 and [str(r.rdata) for r in resp.msg.rr] == ["10.96.0.10"]
    assert resp.tags is None
    assert (await ask(h, f"nope.demo.svc.{Z}", "A")).msg.header.rcode == RCODE.SERVFAIL
    h.index.mark_synced("EndpointSlice")
    assert h.ready()
    resp = await ask(h, f"nope.demo.svc.{Z}", "A")
    assert resp.msg.header.rcode == RCODE.NXDOMAIN and resp.tags is not None


async def test_names_are_matched_label_by_label_even_with_escapes() -> None:
    h = handler(config())
    # A namespace whose name has a dot (manifests do not check names): asked as one label, it is
    # that namespace (NODATA), not the service "web" in "demo" that the name's text reads as.
    h.index.apply("Namespace", "ADDED", {"metadata": {"name": "web.demo"}})
    one_label = DNSLabel((b"web.demo", b"svc", b"cluster", b"local"))
    resp = await h(parse_query(DNSRecord.question(one_label, "A").pack()))
    assert resp.msg.header.rcode == RCODE.NOERROR and not resp.msg.rr and resp.msg.auth
    # A byte outside ASCII is matched as that byte (latin-1): no service has it.
    resp = await h(parse_query(DNSRecord.question(DNSLabel((b"w\xe9b", b"demo", b"svc", b"cluster", b"local")), "A").pack()))
    assert resp.msg.header.rcode == RCODE.NXDOMAIN
    resp = await h(parse_query(DNSRecord.question(DNSLabel((b"WEB", b"demo", b"svc", b"cluster", b"local")), "A").pack()))
    assert [str(r.rdata) for r in resp.msg.rr] == ["10.96.0.10"]


async def test_unsynced_fallthrough_goes_next() -> None:
    h = handler(config(fallthrough=()), load=False)
    assert (await ask(h, W, "A")).plugin == "next"


async def test_case_is_echoed_and_compressed() -> None:
    h = handler(config())
    req = parse_query(DNSRecord.question("WeB.DeMo.svc.Cluster.Local.", "A").pack())
    resp = await h(req)
    data, truncated = pack(req, resp.msg)
    msg = DNSRecord.parse(data)
    assert str(msg.rr[0].rname) == "WeB.DeMo.svc.Cluster.Local."
    assert msg.header.aa == 1 and not truncated
    # the owner is a pointer to the question: question (12 + 32 + 4) + RR (2 + 10 + 4)
    assert len(data) == 12 + len(b"\x03WeB\x04DeMo\x03svc\x07Cluster\x05Local\x00") + 4 + 2 + 10 + 4
    nx = await h(parse_query(DNSRecord.question("Nope.DEMO.svc.CLUSTER.local.", "A").pack()))
    assert str(nx.msg.auth[0].rname) == "CLUSTER.local."


async def test_tags_on_answers() -> None:
    h = handler(config(pods="insecure"))
    assert (await ask(h, W, "A")).tags == frozenset({("ns", "demo"), ("svc", "demo", "web")})
    assert (await ask(h, "10.0.96.10.in-addr.arpa.", "PTR")).tags == frozenset({("ip", "10.96.0.10")})
    assert (await ask(h, f"10-1-2-3.demo.pod.{Z}", "A")).tags == frozenset({("ns", "demo")})
    assert (await ask(h, f"foo.{Z}", "A")).tags == frozenset()  # never changes
    assert (await ask(h, Z, "SOA")).tags == frozenset({("soa",)})


async def test_external_name_outside_is_chased_and_not_cacheable() -> None:
    info = FakeInfo()
    h = handler(config(), info=info)
    resp = await ask(h, f"ext.demo.svc.{Z}", "A")
    assert [QTYPE.get(r.rtype) for r in resp.msg.rr] == ["CNAME", "A"]
    assert resp.tags is None
    assert info.asked == [("example.com.", QTYPE.A)]
    # a CNAME question needs no chase and stays cacheable
    resp = await ask(h, f"ext.demo.svc.{Z}", "CNAME")
    assert resp.tags is not None and info.asked == [("example.com.", QTYPE.A)]


async def test_external_name_inside_is_chased_from_the_index_with_both_tags() -> None:
    h = handler(config())
    resp = await ask(h, f"inner.demo.svc.{Z}", "A")
    assert resp.tags == frozenset({("ns", "demo"), ("svc", "demo", "inner"), ("svc", "demo", "web")})


async def test_external_name_loop_ends() -> None:
    h = handler(config())
    for a, b in (("a", "b"), ("b", "a")):
        h.index.apply("Service", "ADDED", {"metadata": {"name": a, "namespace": "demo"},
                                           "spec": {"type": "ExternalName", "externalName": f"{b}.demo.svc.{Z}"}})
    resp = await ask(h, f"a.demo.svc.{Z}", "A")
    assert resp.msg.header.rcode == 0
    assert [QTYPE.get(r.rtype) for r in resp.msg.rr] == ["CNAME", "CNAME"]


async def test_out_of_zone_and_other_classes_go_next() -> None:
    h = handler(config())
    assert (await ask(h, "example.org.", "A")).plugin == "next"
    q = DNSRecord.question(W, "TXT", "CH")
    assert (await h(parse_query(q.pack()))).plugin == "next"


async def test_zones_from_the_block() -> None:
    h = handler(Config(), info=FakeInfo(zones=["Cluster.Local.", "10.96.0.0/16"]))
    assert h.zones == ("cluster.local.", "96.10.in-addr.arpa.")
    assert [str(r.rdata) for r in (await ask(h, W, "A")).msg.rr] == ["10.96.0.10"]
    ptr = await ask(h, "10.0.96.10.in-addr.arpa.", "PTR")
    assert [str(r.rdata) for r in ptr.msg.rr] == [W]


async def test_invalidators_get_the_touched_tags() -> None:
    h = handler(config())
    got: list[set] = []  # type: ignore[type-arg]
    h.invalidators.append(got.append)
    h.index.apply("Service", "DELETED", {"metadata": {"name": "web", "namespace": "demo"}})
    assert len(got) == 1 and ("svc", "demo", "web") in got[0]


async def test_start_with_manifests_and_stop() -> None:
    h = handler(config(manifests=(str(FIXTURES),)), load=False)
    await h.start()
    try:
        assert h.ready()
        assert [str(r.rdata) for r in (await ask(h, W, "A")).msg.rr] == ["10.96.0.10"]
    finally:
        await h.stop()


async def test_start_gives_up_after_startup_timeout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Service\nmetadata: {name: [\n")
    h = handler(config(manifests=(str(broken),), startup_timeout=0.2), load=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await h.start()
    try:
        assert 0.15 <= loop.time() - started < 2
        assert not h.ready()
        assert (await ask(h, W, "A")).msg.header.rcode == RCODE.SERVFAIL
    finally:
        await h.stop()
