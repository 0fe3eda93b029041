"""The upstream misbehaving: dead, slow, truncating, lying; serve_stale where configured.

The one rule: no client ever sees a wrong answer. An answer is right when it is SERVFAIL (the
upstream failed us) or carries exactly the upstream zone's records for the question; the forged
address (tests.upstreams.LIE_ADDRESS) must never appear.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import fields

import dns.message
import dns.rcode

from chaos.common import swept, Result, Size, captured_tracebacks, exchange_many, kdns, make_query
from tests.upstreams import LIE_ADDRESS, Behaviour, FakeUpstream

NAMES = 50


def zone() -> dict[tuple[str, str], list[str]]:
    records: dict[tuple[str, str], list[str]] = {}
    for i in range(NAMES):
        records[(f"h{i}.example.net.", "A")] = [f"h{i}.example.net. 1 IN A 192.0.2.{i + 1}"]
    # Big enough that a truncating upstream matters: 40 addresses.
    records[("big.example.net.", "A")] = [f"big.example.net. 60 IN A 198.51.100.{i + 1}" for i in range(40)]
    return records


def expected(name: str) -> set[str]:
    if name.startswith("big."):
        return {f"198.51.100.{i + 1}" for i in range(40)}
    i = int(name[1 : name.index(".")])
    return {f"192.0.2.{i + 1}"}


def corefile(address: str, stale: bool) -> str:
    # MINTTL 1: the cache keeps the upstream's 1 s TTL (its default floor is 5 s, as CoreDNS's).
    cache = "cache 30 {\n            success 1000 30 1\n            serve_stale 1h\n        }" if stale else ""
    return f"""
    example.net {{
        {cache}
        forward . {address} {{
            max_fails 0
        }}
    }}
    """


def judge(name: str, data: bytes | None) -> str:
    """'ok', 'servfail', 'lost' or 'wrong: why'."""
    if data is None:
        return "lost"
    msg = dns.message.from_wire(data)
    rcode = dns.rcode.to_text(msg.rcode())
    if rcode == "SERVFAIL":
        return "servfail"
    addresses = {rd.address for rrset in msg.answer for rd in rrset if hasattr(rd, "address")}
    if LIE_ADDRESS in addresses:
        return f"wrong: forged {LIE_ADDRESS} reached the client"
    if str(msg.question[0].name).lower() != name.lower():
        return "wrong: another question"
    if rcode == "NOERROR" and msg.flags & 0x0200 and addresses <= expected(name):
        # Cut to the asker's 512 bytes with TC set (RFC 2181 section 9): the client asks over TCP.
        return "ok"
    if rcode != "NOERROR" or addresses != expected(name):
        return f"wrong: {rcode} {sorted(addresses - expected(name)) or sorted(addresses)}"
    return "ok"


MODES: dict[str, dict[str, object]] = {
    "healthy": {},
    "dead": {"silent": True},
    "slow 0.3s": {"delay": 0.3},
    "slower than the 2s read timeout": {"delay": 2.5},
    "truncating UDP": {"truncate_udp": True},
    "wrong ID then truth": {"wrong_id": True},
    "wrong question then truth": {"wrong_question": True},
    "spoofed port then truth": {"wrong_port": True},
    "only wrong ID": {"wrong_id": True, "lie_then_truth": False},
    "only wrong question": {"wrong_question": True, "lie_then_truth": False},
    "only spoofed port": {"wrong_port": True, "lie_then_truth": False},
}


def set_mode(upstream: FakeUpstream, mode: str) -> None:
    fresh = Behaviour()
    for f in fields(Behaviour):
        setattr(upstream.behaviour, f.name, getattr(fresh, f.name))
    for key, value in MODES[mode].items():
        setattr(upstream.behaviour, key, value)


@swept
async def run_misbehaving(size: Size, seed: int = 53) -> Result:
    """Each mode in turn, then modes switching at random under load: never a wrong answer."""
    result = Result(
        "upstream-misbehaving",
        "forward to an upstream that is dead, slow, truncating, or answers first (or only) with a wrong ID, "
        f"a wrong question or from another port; then {size.upstream_queries:,} queries while modes switch at random",
    )
    rng = random.Random(seed)
    started = time.monotonic()
    outcomes: dict[str, dict[str, int]] = {}
    with captured_tracebacks() as tracebacks:

        async def one_mode(mode: str) -> None:
            # Each mode against its own upstream and server, all at once: the slow ones wait out
            # the forward timeout (5 s) together.
            async with FakeUpstream(records=zone()) as upstream:
                set_mode(upstream, mode)
                async with kdns(corefile(upstream.address, stale=False)) as server:
                    names = [f"h{i}.example.net." for i in rng.sample(range(NAMES), 10)] + ["big.example.net."]
                    queries = [make_query(n, "A") for n in names]
                    answers = await exchange_many(server.host, server.port, queries, window=100, timeout=8.0)
                    verdicts = [judge(n, a) for n, a in zip(names, answers)]
            outcomes[mode] = {v: verdicts.count(v) for v in set(verdicts)}
            result.sent += len(verdicts)
            _count(result, mode, verdicts)
            healthy_only = mode in ("healthy", "slow 0.3s", "truncating UDP") or mode.endswith("then truth")
            if healthy_only and verdicts.count("ok") != len(verdicts):
                result.failures.append(f"{mode}: not every answer right: {outcomes[mode]}")

        await asyncio.gather(*(one_mode(mode) for mode in MODES))
        async with FakeUpstream(records=zone()) as upstream:
            async with kdns(corefile(upstream.address, stale=False)) as server:

                async def burst(names: list[str]) -> list[str]:
                    queries = [make_query(n, "A") for n in names]
                    answers = await exchange_many(server.host, server.port, queries, window=100, timeout=8.0)
                    return [judge(n, a) for n, a in zip(names, answers)]

                # Modes switching under load.
                switches = 0
                done = 0
                while done < size.upstream_queries:
                    mode = rng.choice(list(MODES))
                    set_mode(upstream, mode)
                    switches += 1
                    n = min(100, size.upstream_queries - done)
                    task = asyncio.ensure_future(burst([f"h{rng.randrange(NAMES)}.example.net." for _ in range(n)]))
                    await asyncio.sleep(0.2)
                    set_mode(upstream, rng.choice(list(MODES)))
                    verdicts = await task
                    done += n
                    result.sent += n
                    _count(result, "switching", verdicts)
                set_mode(upstream, "healthy")
                after = await burst([f"h{i}.example.net." for i in range(NAMES)])
                result.sent += len(after)
                result.check(after.count("ok") == len(after), "answers not all right once the upstream is healthy again")
                result.figures["mode switches under load"] = switches
    for mode, counts in outcomes.items():
        result.figures[mode] = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    for record in tracebacks:
        result.failures.append(f"traceback logged: {record.getMessage()}")
    result.seconds = time.monotonic() - started
    return result


def _count(result: Result, mode: str, verdicts: list[str]) -> None:
    for v in verdicts:
        if v == "lost":
            result.lost += 1
        elif v.startswith("wrong"):
            result.wrong += 1
            if len(result.failures) < 5:
                result.failures.append(f"{mode}: {v}")


@swept
async def run_serve_stale(size: Size) -> Result:
    """cache serve_stale: once the upstream dies, expired entries are served (TTL 0, the right
    address) at once, not after the forward timeout; without serve_stale the client gets SERVFAIL."""
    result = Result("upstream-serve-stale", "upstream goes silent after answering (records with TTL 1 s); cache with serve_stale 1h")
    started = time.monotonic()
    async with FakeUpstream(records=zone()) as upstream:
        async with kdns(corefile(upstream.address, stale=True)) as server:
            names = [f"h{i}.example.net." for i in range(NAMES)]
            first = await exchange_many(server.host, server.port, [make_query(n) for n in names], timeout=3.0)
            result.check(all(judge(n, a) == "ok" for n, a in zip(names, first)), "first answers not right")
            upstream.behaviour.silent = True
            await asyncio.sleep(1.5)  # every entry has expired
            t0 = time.monotonic()
            stale = await exchange_many(server.host, server.port, [make_query(n) for n in names], timeout=3.0)
            took = time.monotonic() - t0
            result.sent = 2 * len(names)
            verdicts = [judge(n, a) for n, a in zip(names, stale)]
            result.lost = verdicts.count("lost")
            result.wrong = sum(v.startswith("wrong") for v in verdicts)
            ttls = {rrset.ttl for a in stale if a for rrset in dns.message.from_wire(a).answer}
            result.check(verdicts.count("ok") == len(names), f"stale answers: {set(verdicts)}")
            result.check(took < 1.5, f"stale answers took {took:.2f} s (waited for the upstream?)")
            result.check(ttls == {0}, f"stale answers carry TTLs {sorted(ttls)}, not 0 (RFC 8767)")
            await asyncio.sleep(0.3)  # the background refreshes go out
            served = upstream.client_queries()
            result.figures["upstream asked (first round, then refreshes)"] = len(served)
            result.check(len(served) > len(names), "the upstream was never asked again (the entries had not expired)")
            result.figures.update({"stale answers right": verdicts.count("ok"), "their TTLs": sorted(ttls), "answered in s": round(took, 3)})
    result.seconds = time.monotonic() - started
    return result
