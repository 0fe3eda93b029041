"""The cache's answers served by the server's fast path (design.md section 3), over real sockets:
TTLs counting down in whole seconds, gone at expiry and eviction, DO and CD kept apart, the cache's
metrics counting every hit, loadbalance still shuffling."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from typing import Any

import dns.flags
import dns.rcode

from tests.conftest import RunningServer, kdns_server
from tests.upstreams import FakeUpstream

RECORDS = {
    ("www.example.org.", "A"): ["www.example.org. 300 IN A 192.0.2.1"],
    ("other.example.org.", "A"): ["other.example.org. 300 IN A 192.0.2.2"],
    ("web.example.org.", "A"): [f"web.example.org. 300 IN A 10.0.0.{i}" for i in (1, 2, 3)],
}


def leased_entries(server: RunningServer) -> list[Any]:
    """The fast-path entries made from the cache's answers, in every listener's table."""
    return [
        entry for sockets in server.app.sockets.values() for entry in sockets.listener.table.entries.values()
        if entry.lease is not None
    ]


def forwarding(up: FakeUpstream, *lines: str) -> str:
    """A Corefile of one block: forward to up, then lines (the cache's, loadbalance)."""
    return ". {\n forward . " + up.address + "\n" + "".join(f" {line}\n" for line in lines) + "}\n"


def entry_for(server: RunningServer, name: str) -> Any:
    """The fast-path entry of the cache's answer to `name A` (no EDNS), or None."""
    key = b"".join(bytes((len(label),)) + label.encode() for label in name.split(".")) + b"\x00\x00\x01\x00\x01\x00"
    (sockets,) = server.app.sockets.values()
    entry = sockets.listener.table.entries.get(key)
    return entry if entry is not None and entry.lease is not None else None


def fast_hits(server: RunningServer) -> int:
    """Answers the fast path gave from the cache's entries (counted on them until a scrape)."""
    return sum(sum(entry.collect().values()) for entry in leased_entries(server))


def ttls(msg: Any) -> set[int]:
    return {rrset.ttl for section in (msg.answer, msg.authority) for rrset in section}


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in the scrape")


async def test_a_hit_is_answered_by_the_fast_path_with_the_ttl_counting_down() -> None:
    async with FakeUpstream(dict(RECORDS)) as up, kdns_server(forwarding(up, "cache 30")) as server:
        first = await server.query("www.example.org.")
        assert ttls(first) == {30}
        (entry,) = leased_entries(server)  # the cache's answer, kept for the fast path
        assert fast_hits(server) == 0  # the miss itself is forward's answer, not counted there
        before = fast_hits(server)
        msg = await server.query("wWw.Example.ORG.", id=4321)
        assert fast_hits(server) == before + 1
        assert msg.id == 4321 and msg.question[0].name.to_text() == "wWw.Example.ORG."
        assert msg.answer[0].name.to_text() == "wWw.Example.ORG."
        assert [rr.to_text() for rr in msg.answer[0]] == ["192.0.2.1"]
        assert msg.flags & dns.flags.RD and msg.flags & dns.flags.RA and msg.flags & dns.flags.QR
        # Whole seconds: the answer a second on carries a TTL a second or more lower.
        await asyncio.sleep(1.1)
        later = await server.query("www.example.org.")
        assert fast_hits(server) == before + 2
        assert max(ttls(later)) < min(ttls(msg)) <= 30
        assert len(up.client_queries()) == 1
        # The TTL a fast-path answer carries is the one the cache gives (a second may have gone by since).
        assert entry.lease is not None
        left = entry.lease.left(time.monotonic())
        assert ttls(later) <= {left, left + 1}


async def test_denials_are_fast_path_answers_too_and_the_stored_copy_goes_when_its_ttl_runs_out() -> None:
    corefile = """
    . {
        forward . %s
        cache {
            success 100 2 1
            denial 100 2 1
        }
    }
    """
    async with FakeUpstream(dict(RECORDS)) as up:
        async with kdns_server(corefile % up.address) as server:
            for name in ("www.example.org.", "missing.example.org."):
                await server.query(name)
            old = entry_for(server, "www.example.org")
            assert old is not None and entry_for(server, "missing.example.org") is not None
            nx = await server.query("missing.example.org.")
            assert nx.rcode() == dns.rcode.NXDOMAIN and ttls(nx) <= {1, 2} and nx.authority
            assert fast_hits(server) == 1
            # Past the 2 s TTL the fast path answers nothing: the cache drops the item and asks
            # again, and the new answer's entry takes the old one's place.
            await asyncio.sleep(2.2)
            asked = len(up.client_queries())
            msg = await server.query("www.example.org.")
            assert ttls(msg) == {2} and len(up.client_queries()) == asked + 1
            new = entry_for(server, "www.example.org")
            assert new is not None and new is not old and not new.collect()


async def test_serve_stale_answers_from_the_cache_itself_past_the_ttl() -> None:
    corefile = """
    . {
        forward . %s
        cache {
            success 100 2 1
            serve_stale 1h
        }
    }
    """
    async with FakeUpstream(dict(RECORDS)) as up:
        async with kdns_server(corefile % up.address) as server:
            await server.query("www.example.org.")
            await server.query("www.example.org.")
            assert leased_entries(server)
            await asyncio.sleep(2.1)
            stale = await server.query("www.example.org.")
            assert ttls(stale) == {0}  # RFC 8767: served stale, by the cache, not by the fast path
            assert not leased_entries(server)


async def test_an_evicted_answer_leaves_the_fast_path_and_only_it() -> None:
    async with FakeUpstream(dict(RECORDS)) as up:
        async with kdns_server(forwarding(up, "cache 30 {", "success 1", "}")) as server:
            await server.query("missing.example.org.")
            await server.query("www.example.org.")
            await server.query("www.example.org.")
            assert entry_for(server, "www.example.org") is not None
            await server.query("other.example.org.")  # the one-entry store evicts www
            assert entry_for(server, "www.example.org") is None
            assert entry_for(server, "other.example.org") is not None
            assert len(up.client_queries()) == 3
            await server.query("www.example.org.")
            assert len(up.client_queries()) == 4
            # Invalidating a lease is no index change the cache follows (which would drop every
            # cached negative answer under its zones): the NXDOMAIN is still the cache's.
            assert (await server.query("missing.example.org.")).rcode() == dns.rcode.NXDOMAIN
            assert len(up.client_queries()) == 4


async def test_do_and_cd_askers_never_get_an_answer_made_for_the_others() -> None:
    async with FakeUpstream(dict(RECORDS)) as up, kdns_server(forwarding(up, "cache 30")) as server:
        await server.query("www.example.org.")
        await server.query("www.example.org.")
        before = fast_hits(server)
        cd = await server.query("www.example.org.", flags=dns.flags.RD | dns.flags.CD)
        assert cd.flags & dns.flags.CD
        do = await server.query("www.example.org.", use_edns=0, want_dnssec=True)
        assert do.ednsflags & dns.flags.DO
        # Each is the cache's miss (its key has DO and CD): asked upstream, not served by the fast path.
        assert fast_hits(server) == before
        assert [(q.do) for q in up.client_queries()] == [False, False, True]
        # A hit for CD askers is answered by the cache each time, never stored for the fast path;
        # DO askers' answer is stored under its own key.
        await server.query("www.example.org.", flags=dns.flags.RD | dns.flags.CD)
        assert fast_hits(server) == before and len(leased_entries(server)) == 2
        do = await server.query("www.example.org.", use_edns=0, want_dnssec=True)
        assert do.ednsflags & dns.flags.DO and fast_hits(server) == before + 1


async def test_the_cache_metrics_count_the_fast_path_hits() -> None:
    corefile = """
    . {
        forward . %s
        cache 30
        prometheus 127.0.0.1:0
    }
    """
    async with FakeUpstream(dict(RECORDS)) as up, kdns_server(corefile % up.address) as server:
        for _ in range(10):
            await server.query("www.example.org.")
        for _ in range(5):
            await server.query("missing.example.org.")
        assert fast_hits(server) == 9 + 4
        status, text = await server.http("prometheus", "/metrics")
        assert status == 200
        labels = {"server": f"dns://127.0.0.1:{server.port}"}
        assert metric(text, "coredns_cache_requests_total", **labels) == 15
        assert metric(text, "coredns_cache_hits_total", type="success", **labels) == 9
        assert metric(text, "coredns_cache_hits_total", type="denial", **labels) == 4
        assert metric(text, "coredns_cache_misses_total", **labels) == 2
        assert metric(text, "coredns_dns_responses_total", rcode="NOERROR", plugin="cache", **labels) == 9
        assert metric(text, "coredns_dns_responses_total", rcode="NXDOMAIN", plugin="cache", **labels) == 4
        # Counted once: a second scrape adds nothing.
        _, again = await server.http("prometheus", "/metrics")
        assert metric(again, "coredns_cache_hits_total", type="success", **labels) == 9
        assert re.search(r"coredns_cache_entries\{[^}]*type=\"success\"[^}]*\} 1\.0", again)


async def test_loadbalance_shuffles_the_fast_path_answers_and_patches_every_ttl() -> None:
    async with FakeUpstream(dict(RECORDS)) as up:
        async with kdns_server(forwarding(up, "cache 30", "loadbalance")) as server:
            await server.query("web.example.org.")
            await server.query("web.example.org.")
            before = fast_hits(server)
            orders = set()
            for _ in range(60):
                msg = await server.query("web.example.org.")
                orders.add(tuple(rr.to_text() for rr in msg.answer[0]))
                assert len(ttls(msg)) == 1 and 0 < min(ttls(msg)) <= 30
            assert fast_hits(server) == before + 60
            assert orders == set(itertools.permutations(["10.0.0.1", "10.0.0.2", "10.0.0.3"]))


async def test_keepttl_answers_keep_their_ttl_and_prefetch_keeps_every_hit_in_the_cache() -> None:
    async with FakeUpstream(dict(RECORDS)) as up:
        async with kdns_server(forwarding(up, "cache 30 {", "keepttl", "}")) as server:
            await server.query("www.example.org.")
            await server.query("www.example.org.")
            await asyncio.sleep(1.1)
            before = fast_hits(server)
            assert ttls(await server.query("www.example.org.")) == {30}
            assert fast_hits(server) == before + 1
        async with kdns_server(forwarding(up, "cache 30 {", "prefetch 2", "}")) as server:
            for _ in range(3):
                await server.query("www.example.org.")
            assert not leased_entries(server)



async def test_node_local_shape_a_denial_over_tcp_lives_as_its_soa_says_and_echoes_each_asker() -> None:
    # deploy/overlays/nodelocal's shape: forward over TCP (answers read as kdns.message Records),
    # then the cache. The NXDOMAIN's life is its SOA's MINIMUM (60; the SOA record says 300), read
    # from the record as the upstream wrote it; the miss and the fast-path hit each carry their
    # asker's ID and spelling.
    corefile = """
    . {
        cache {
            success 100 3600
            denial 100 3600
        }
        forward . %s {
            force_tcp
        }
    }
    """
    async with FakeUpstream(dict(RECORDS)) as up:
        async with kdns_server(corefile % up.address) as server:
            for spelling in ("MiSsInG.Example.ORG.", "missing.EXAMPLE.org."):
                msg = await server.query(spelling)
                assert msg.rcode() == dns.rcode.NXDOMAIN
                assert str(msg.question[0].name) == spelling
                (soa,) = msg.authority
                assert soa.ttl in (59, 60) and soa[0].minimum == 60
            assert fast_hits(server) == 1
            assert [(q.proto, q.name) for q in up.client_queries()] == [("tcp", "MiSsInG.Example.ORG.")]
            assert up.tcp_connections == 1
