"""kdns/server/process.py: one server process from start to stop, run here in the test's loop."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import weakref
from collections.abc import Iterator
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.message
import pytest

from conftest import kdns_server
from kdns.cli import read_config
from kdns.server.process import serve
from upstreams import free_port


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as kdns.cli.main() leaves it for serve(): off; restored afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was:
            gc.enable()


async def test_the_collector_runs_again_once_the_server_answers(tmp_path: Path, collector: None) -> None:
    port = free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:{port} {{\n    whoami\n}}\n")
    server = asyncio.create_task(serve(str(corefile), read_config(str(corefile), port), port, quiet=True))
    query = dns.message.make_query("example.org", "A")
    async with asyncio.timeout(10):
        while True:
            try:
                await dns.asyncquery.udp(query, "127.0.0.1", port=port, timeout=0.2)
                break
            except dns.exception.Timeout:
                assert not server.done()
    # Start-up's objects are out of the collector's walks, and the collector is on: cyclic garbage
    # made while serving is collected.
    assert gc.isenabled() and gc.get_freeze_count() > 0
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(server, 10) == 0


async def test_a_reload_lets_the_generation_it_replaces_be_collected(collector: None) -> None:
    # A kubernetes handler and its index hold reference cycles: once serve() has frozen start-up's
    # objects, they would stay for the process's life after a reload replaced them (a whole
    # cluster's index, kept twice).
    service = "kind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}\n"
    corefile = ".:0 {\n    kubernetes cluster.local {\n        manifests cluster.yaml\n    }\n}\n"
    async with kdns_server(corefile, **{"cluster.yaml": service}) as server:
        assert server.app.generation is not None
        replaced = weakref.ref(server.app.generation.blocks[0].handlers[0])
        gc.freeze()  # as serve() does once the server answers
        gc.enable()
        server.corefile.write_text(corefile.replace("cluster.local {", "cluster.local {\n        ttl 7"))
        assert await server.app.reload()
        async with asyncio.timeout(10):  # its tasks end as the old generation is retired
            while replaced() is not None:
                gc.collect()
                await asyncio.sleep(0.05)
