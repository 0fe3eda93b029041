"""The reload plugin swaps a changed Corefile in while queries keep coming: none is lost."""

from __future__ import annotations

import asyncio
import contextlib

import dns.asyncquery
import dns.exception
import dns.message

from conftest import kdns_server

ZONE = """$ORIGIN test.
@ 3600 IN SOA ns.test. admin.test. {serial} 7200 3600 1209600 3600
@ 3600 IN NS ns.test.
ns 3600 IN A 10.0.0.53
www 3600 IN A {address}
"""


async def test_changed_corefile_is_reloaded_under_load_without_losing_a_query() -> None:
    corefile = "test:0 {{\n    reload 2s 1s\n    file {zone}\n}}\n"
    async with kdns_server(
        corefile.format(zone="db.one"), **{"db.one": ZONE.format(serial=1, address="10.0.0.1"),
                                           "db.two": ZONE.format(serial=1, address="10.0.0.2")},
    ) as server:
        answers: list[str] = []
        lost = 0
        stop = asyncio.Event()

        async def load() -> None:
            nonlocal lost
            while not stop.is_set():
                q = dns.message.make_query("www.test", "A")
                try:
                    r = await dns.asyncquery.udp(q, server.host, port=server.port, timeout=1.0)
                    answers.append(r.answer[0][0].address)
                except dns.exception.Timeout:
                    lost += 1
                await asyncio.sleep(0.002)

        task = asyncio.create_task(load())
        await asyncio.sleep(0.5)
        # Point the Corefile at the other zone file: the reload plugin notices within 2-3 s.
        server.corefile.write_text(corefile.format(zone=server.corefile.parent / "db.two"))
        deadline = asyncio.get_running_loop().time() + 10
        while not answers or answers[-1] != "10.0.0.2":
            assert asyncio.get_running_loop().time() < deadline, "the changed Corefile was not reloaded"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert lost == 0
        assert len(answers) > 200
        # Old answers before the swap, new ones after it: never a mix back and forth.
        switch = answers.index("10.0.0.2")
        assert set(answers[:switch]) == {"10.0.0.1"} and set(answers[switch:]) == {"10.0.0.2"}
