"""kdns/server/process.py: one server process from start to stop, run here in the test's loop."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.message
import pytest

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
