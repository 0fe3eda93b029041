"""The API server misbehaving (tests/fakeapi's fault injection) while kdns serves.

Every scenario ends the same way: a freshly started kdns is pointed at the same API state and the
full set of answers (questions from chaos.cluster.questions) of the kdns that lived through the
faults must become equal to the fresh one's. While faults run, a prober keeps asking names that
existed before the faults: none may go unanswered, none may be SERVFAIL once synced, and in the
phases where kdns cannot see the API (down, 401/403) every answer must equal what it was before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chaos.cluster import Cluster, questions
from chaos.common import (
    swept,
    Canon, Kdns, Result, Size, answer_set, captured_tracebacks, diff_answers, eventually,
    fast_watch_settings, kdns, make_query, swept_tasks, exchange_many, canonical, rss,
)
from tests.fakeapi import FakeApi

CONVERGE_TIMEOUT = 20.0


def corefile(url: str, startup: str = "3s") -> str:
    return f"""
    . {{
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            endpoint {url}
            pods insecure
            ttl 30
            startup_timeout {startup}
        }}
        ready 127.0.0.1:0
        loadbalance
    }}
    """


@dataclass
class Prober:
    """Asks `names` over and over; counts lost answers, SERVFAILs, and answers that differ from
    `frozen` (when set: kdns cannot see the API, so nothing may change)."""

    server: Kdns
    names: list[tuple[str, str]]
    sent: int = 0
    lost: int = 0
    servfail: int = 0
    changed: int = 0
    frozen: list[Canon] | None = None
    examples: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _stop: bool = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stop = True
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        queries = [make_query(n, t) for n, t in self.names]
        while not self._stop:
            frozen = self.frozen
            answers = await exchange_many(self.server.host, self.server.port, queries, window=50, timeout=2.0)
            for i, data in enumerate(answers):
                self.sent += 1
                got = canonical(data)
                if data is None:
                    self.lost += 1
                elif got[0] == "SERVFAIL":
                    self.servfail += 1
                elif frozen is not None and self.frozen is frozen and got != frozen[i]:
                    self.changed += 1
                    if len(self.examples) < 3:
                        self.examples.append(f"{self.names[i]}: {got} was {frozen[i]}")
            await asyncio.sleep(0.01)


async def ready_status(server: Kdns) -> int:
    status, _ = await server.http("ready", "/ready")
    return status


Fault = Callable[[FakeApi, Kdns, Cluster, Prober, Result, Size], Awaitable[None]]


@swept
async def run_api_scenario(name: str, injected: str, size: Size, fault: Fault, unreachable_at_start: bool = False) -> Result:
    result = Result(name, injected)
    started = time.monotonic()
    cluster = Cluster(size.services)
    with captured_tracebacks() as tracebacks, fast_watch_settings():
        async with swept_tasks(result), FakeApi(bookmark_interval=1.0, bookmark_before_end=0.5) as api:
            cluster.load(api)
            if unreachable_at_start:
                await api.stop()  # the port is kept: start() listens on it again
            result.mem_before = rss()
            async with kdns(corefile(api.url, "1s" if unreachable_at_start else "5s")) as server:
                if not unreachable_at_start:
                    result.check(await ready_status(server) == 200, "not ready after the first sync")
                probe_names = [q for q in questions(api, 0) if q[1] in ("A", "SRV", "PTR")][:300]
                prober = Prober(server, probe_names)
                if not unreachable_at_start:
                    prober.start()
                await fault(api, server, cluster, prober, result, size)
                faults_over = time.monotonic()
                if prober._task is not None:
                    await prober.stop()
                result.sent += prober.sent
                result.lost += prober.lost
                result.wrong += prober.changed + prober.servfail
                if prober.examples:
                    result.failures.append("answer changed while the API was away: " + prober.examples[0])
                if prober.servfail:
                    result.failures.append(f"{prober.servfail} SERVFAIL answers after the first sync")
                await converge(api, server, cluster, result, faults_over)
                result.mem_after = rss()
        for record in tracebacks:
            result.failures.append(f"traceback logged: {record.getMessage()}")
    result.seconds = time.monotonic() - started
    return result


async def converge(api: FakeApi, server: Kdns, cluster: Cluster, result: Result, since: float) -> None:
    """Wait until the server's answers equal a fresh kdns's against the same API state."""
    qs = questions(api, cluster.next_name)
    async with kdns(corefile(api.url)) as fresh:
        want = await answer_set(fresh, qs)
    got: list[Canon] = []

    async def same() -> bool:
        nonlocal got
        got = await answer_set(server, qs)
        return got == want

    equal = await eventually(same, CONVERGE_TIMEOUT, interval=0.2)
    result.figures["questions compared"] = len(qs)
    result.figures["converged after s"] = round(time.monotonic() - since, 2)
    lost = sum(1 for g in want if g == ("lost",))
    result.check(lost == 0, f"the fresh kdns lost {lost} answers")
    if not equal:
        result.failures.append("not equal to a fresh kdns: " + "; ".join(diff_answers(qs, got, want, 3)))
        result.wrong += sum(1 for a, b in zip(got, want) if a != b)
    result.check(await ready_status(server) == 200, "/ready not 200 at the end")


# -- the faults ----------------------------------------------------------------------------


async def unreachable_at_start(api: FakeApi, server: Kdns, cluster: Cluster, prober: Prober, result: Result, size: Size) -> None:
    result.check(await ready_status(server) == 503, "/ready was not 503 while the API was unreachable")
    would_be = [("svc0.ns0.svc.cluster.local.", "A"), ("nothing.ns0.svc.cluster.local.", "A"), ("nonexistent.svc.cluster.local.", "A")]
    answers = await answer_set(server, would_be)
    result.sent += len(answers)
    rcodes = [a[0] for a in answers]
    result.figures["unsynced rcodes"] = ",".join(sorted(set(rcodes)))
    result.check(all(r == "SERVFAIL" for r in rcodes), f"answers before the first sync: {rcodes} (want SERVFAIL)")
    await asyncio.sleep(min(size.outage, 3.0))
    await api.start()
    async def ready() -> bool:
        return await ready_status(server) == 200

    synced = await eventually(ready, 15.0, interval=0.1)
    result.check(synced, "never became ready after the API appeared")


async def down_after_sync(api: FakeApi, server: Kdns, cluster: Cluster, prober: Prober, result: Result, size: Size) -> None:
    prober.frozen = await answer_set(server, prober.names)
    await asyncio.sleep(0.3)
    await api.stop()
    # Changes made while kdns cannot see them: it must keep the old answers until the API returns.
    for _ in cluster.churn(api, size.fault_rounds * 10):
        pass
    await asyncio.sleep(size.outage)
    result.figures["outage s"] = size.outage
    result.check(await ready_status(server) == 200, "/ready dropped during the outage (it must stay ready)")
    prober.frozen = None
    await api.start()


async def stream_cuts(api: FakeApi, server: Kdns, cluster: Cluster, prober: Prober, result: Result, size: Size) -> None:
    cuts = 0
    for _ in range(size.fault_rounds):
        for _ in cluster.churn(api, 10):
            pass
        await asyncio.sleep(0.5 if not size.long else 3.0)
        cuts += api.cut_streams()
    result.figures["streams cut"] = cuts


async def storm_410(api: FakeApi, server: Kdns, cluster: Cluster, prober: Prober, result: Result, size: Size) -> None:
    for _ in range(size.fault_rounds):
        for _ in cluster.churn(api, 10):
            pass
        api.compact()
        api.expire_watches(6)
        api.expire_continue_tokens()
        api.cut_streams()
        await asyncio.sleep(0.4 if not size.long else 2.0)
    result.figures["410 rounds"] = size.fault_rounds


async def stalls(api: FakeApi, server: Kdns, cluster: Cluster, prober: Prober, result: Result, size: Size) -> None:
    total = 0.0
    for i in range(size.fault_rounds):
        for _ in cluster.churn(api, 10):
            pass
        seconds = (0.5, 3.0)[i % 2]  # shorter and longer than the 2 s idle timeout
        api.stall(seconds)
        total += seconds
        await asyncio.sleep(seconds + 0.3)
    result.figures["stalled s"] = total


async def auth_failures(api: FakeApi, server: Kdns, cluster: Cluster, prober: Prober, result: Result, size: Size) -> None:
    for status, resource in ((401, None), (403, "services"), (403, "endpointslices")):
        if resource is None:
            prober.frozen = await answer_set(server, prober.names)
        api.set_auth_failure(status, resource)
        if resource is None:
            api.cut_streams()  # re-list and re-watch now meet the 401
        for _ in cluster.churn(api, 10):
            pass
        if resource is not None:
            api.cut_streams()
        await asyncio.sleep(max(1.0, size.outage / 3))
        # Under 401 the whole API is invisible: nothing may change. Under a 403 on one resource the
        # other resources still flow, so only "no SERVFAIL, none lost" holds.
        prober.frozen = None
        api.set_auth_failure(None)
        await asyncio.sleep(1.0)  # the backoff runs out; the next phase starts from a synced kdns
    result.figures["auth faults"] = "401 all; 403 services; 403 endpointslices"


async def burst(api: FakeApi, server: Kdns, cluster: Cluster, prober: Prober, result: Result, size: Size) -> None:
    start = time.monotonic()
    for i in range(size.burst):
        for obj in cluster.new_service():
            api.create(obj)
        if i % 100 == 99:
            await asyncio.sleep(0)
    result.figures["services created"] = size.burst
    result.figures["burst written in s"] = round(time.monotonic() - start, 2)


SCENARIOS: dict[str, tuple[str, Fault, bool]] = {
    "api-unreachable-at-start": ("API down when kdns starts; appears after a few seconds", unreachable_at_start, True),
    "api-down-after-sync": ("API stopped after sync; changes made while it is down; then restarted", down_after_sync, False),
    "api-stream-cuts": ("every watch stream cut mid-way, repeatedly, with changes between cuts", stream_cuts, False),
    "api-410-storm": ("history compacted, every watch answered 410, continue tokens expired, repeatedly", storm_410, False),
    "api-stall": ("API sends nothing for 0.5 s / 3 s (shorter and longer than the watch idle timeout)", stalls, False),
    "api-auth-401-403": ("401 on everything, then 403 on services, then 403 on endpointslices, mid-run", auth_failures, False),
    "api-burst": ("a burst of new Services with their EndpointSlices", burst, False),
}


@swept
async def run(name: str, size: Size) -> Result:
    injected, fault, at_start = SCENARIOS[name]
    if name == "api-burst":
        injected = f"a burst of {size.burst} new Services with their EndpointSlices"
    return await run_api_scenario(name, injected, size, fault, unreachable_at_start=at_start)
