"""pprof: CoreDNS's setup_test.go table and README examples, and every endpoint over a real HTTP
connection, answering 200 with content of its kind."""

from __future__ import annotations

import asyncio
import re
import tracemalloc
from pathlib import Path

import aiohttp
import pytest

from conftest import RunningServer, kdns_server, plugin_config
from kdns import plugins
from kdns.config import config_from_text
from kdns.errors import ConfigError
from kdns.plugins.pprof.config import Config

README = Path(plugins.__file__).parent / "pprof" / "README.md"
EXAMPLE = re.compile(r"~~~ corefile\n(.*?)~~~", re.S)


# CoreDNS plugin/pprof/setup_test.go TestPProf: the rows that load.
@pytest.mark.parametrize(
    "lines, expected",
    [
        ("pprof", Config(("localhost", 6053), 0)),
        ("pprof 1.2.3.4:1234", Config(("1.2.3.4", 1234), 0)),
        ("pprof :1234", Config(("", 1234), 0)),
        ("pprof {\n}", Config(("localhost", 6053), 0)),
        ("pprof { block\n}", Config(("localhost", 6053), 1)),
        ("pprof :1234 {\n block 20\n}", Config(("", 1234), 20)),
        ("pprof [::1]:6060", Config(("::1", 6060), 0)),
    ],
)
def test_setup_good(lines: str, expected: Config) -> None:
    assert plugin_config("pprof", lines) == expected


# The rows that must fail, with the line named and the words of the message.
@pytest.mark.parametrize(
    "lines, line, words",
    [
        ("pprof :1234 -1", 3, "wrong argument count"),
        ("pprof /foo", 3, "missing port"),
        ("pprof localhost", 3, "missing port"),
        ("pprof {\n a b\n}", 4, "unknown property 'a'"),
        ("pprof {\n block 20 30\n}", 4, "wrong argument count"),
        ("pprof {\n block invalid\n}", 4, "not a number"),
        ("pprof {\n block 0\n}", 4, "out of range"),
        ("pprof {\n unknown_property\n}", 4, "unknown property 'unknown_property'"),
        ("pprof\npprof", 4, "only be used once"),
    ],
)
def test_setup_bad(lines: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        plugin_config("pprof", lines)
    assert (info.value.file, info.value.line, info.value.directive) == ("Corefile", line, "pprof")
    assert words in info.value.message


@pytest.mark.parametrize("index, address", [(0, ("localhost", 6053)), (1, ("10.9.8.7", 6060)), (2, ("", 6060)), (3, ("", 6060))])
def test_readme_examples_load(index: int, address: tuple[str, int]) -> None:
    corefile = EXAMPLE.findall(README.read_text())[index]
    (block,) = config_from_text(corefile, "README.md").blocks
    (use,) = block.plugins
    assert use.config.address == address


async def get(server: RunningServer, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{server.http_port('pprof')}{path}"
        async with session.get(url) as resp:
            return resp.status, resp.content_type, await resp.text()


async def test_every_endpoint_over_http() -> None:
    async with kdns_server(".:0 {\n    pprof 127.0.0.1:0\n    whoami\n}\n") as server:
        assert tracemalloc.is_tracing()
        status, kind, body = await get(server, "/debug/pprof/")
        assert (status, kind) == (200, "text/html")
        for name in ("profile", "heap", "goroutine", "cmdline"):
            assert f'href="{name}' in body

        # Queries while the profile runs: the profile must show the server's own code answering them.
        async def traffic() -> None:
            for _ in range(20):
                await server.query("example.org", "A", tcp=True)
                await asyncio.sleep(0.02)

        busy = asyncio.create_task(traffic())
        status, kind, body = await get(server, "/debug/pprof/profile?seconds=1")
        await busy
        assert (status, kind) == (200, "text/plain")
        assert "kdns/server/mux.py" in body

        status, kind, body = await get(server, "/debug/pprof/heap")
        assert (status, kind) == (200, "text/plain")
        assert body.startswith("heap profile: ") and re.search(r"\.py:\d+: size=\d", body)

        status, kind, body = await get(server, "/debug/pprof/goroutine")
        assert (status, kind) == (200, "text/plain")
        assert body.startswith("asyncio tasks: total ")
        assert "goroutine" in body  # this very request's task, in the handler serving it

        status, kind, body = await get(server, "/debug/pprof/cmdline")
        assert (status, kind) == (200, "text/plain")
    assert not tracemalloc.is_tracing()


async def test_profile_refuses_a_bad_duration_and_a_second_profile() -> None:
    async with kdns_server(".:0 {\n    pprof 127.0.0.1:0\n    whoami\n}\n") as server:
        for bad in ("soon", "0", "-5", "\u00b2"):
            status, _, body = await get(server, f"/debug/pprof/profile?seconds={bad}")
            assert status == 400 and "seconds" in body
        (pprof,) = [s for key, s in server.app.generation.services.items() if key[0] == "pprof"]
        first = asyncio.create_task(get(server, "/debug/pprof/profile?seconds=2"))
        while not pprof.profiling:  # the first profile has begun (no guess at how long that takes)
            await asyncio.sleep(0.01)
        status, _, body = await get(server, "/debug/pprof/profile?seconds=1")
        assert status == 500 and "already in use" in body
        assert (await first)[0] == 200
