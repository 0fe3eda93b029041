"""Shared test helpers: a real kdns server on 127.0.0.1 with free ports, and real clients for it.

The server runs in the test's own event loop, so clients must not block it: use `server.query`
(dnspython's asyncquery), `server.dig(...)` (dig as an async subprocess) or `server.http(path)`.
In-process tests use asyncio's own loop; uvloop, which kdns runs on, is covered by the tests that
start kdns as a process (tests/test_cli.py, tests/e2e/).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.message
import dns.rdatatype
import pytest

from kdns.config import config_from_text, load_config
from kdns.server.app import App
from kdns.server.settings import DEFAULT, ServerSettings

REPO = Path(__file__).resolve().parent.parent

# The kubeadm Corefile (design.md section 1, and the README's), verbatim: it must load and serve
# unchanged.
KUBEADM_COREFILE = (REPO / "tests" / "fixtures" / "kubeadm.Corefile").read_text()


class RunningServer:
    def __init__(self, app: App, corefile: Path) -> None:
        self.app = app
        self.corefile = corefile
        self.host, self.port = app.addresses()[0]
        if self.host in ("", "0.0.0.0"):
            self.host = "127.0.0.1"

    def http_port(self, plugin: str) -> int:
        """The bound port of a health/ready/prometheus endpoint (configure them with port 0)."""
        assert self.app.generation is not None
        for key, service in self.app.generation.services.items():
            if key[0] == plugin:
                return int(service.endpoint.port)
        raise KeyError(plugin)

    async def query(
        self, name: str, rdtype: str = "A", tcp: bool = False, timeout: float = 3.0, **make: Any
    ) -> dns.message.Message:
        q = dns.message.make_query(name, rdtype, **make)
        if tcp:
            return await dns.asyncquery.tcp(q, self.host, port=self.port, timeout=timeout)
        return await dns.asyncquery.udp(q, self.host, port=self.port, timeout=timeout)

    async def dig(self, *args: str) -> str:
        """dig's output for `dig @host -p port ARGS`; fails the test when dig fails."""
        if shutil.which("dig") is None:
            pytest.fail("dig is not installed (apt-get install bind9-dnsutils)")
        proc = await asyncio.create_subprocess_exec(
            "dig", f"@{self.host}", "-p", str(self.port), "+time=3", "+tries=1", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, f"dig {' '.join(args)} failed: {out.decode()} {err.decode()}"
        return out.decode()

    async def http(self, plugin: str, path: str) -> tuple[int, str]:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{self.http_port(plugin)}{path}") as resp:
                return resp.status, await resp.text()


@asynccontextmanager
async def kdns_server(
    corefile: str, directory: Path | None = None, settings: ServerSettings = DEFAULT, **files: str
) -> AsyncIterator[RunningServer]:
    """Start kdns in-process from Corefile text; keys without a port get a free one.

    Server blocks without `bind` are bound to 127.0.0.1. Extra keyword arguments are written as
    files next to the Corefile (name=content), for imports, hosts files and zone files.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(directory or tmp)
        for name, content in files.items():
            (base / name).write_text(textwrap.dedent(content))
        path = base / "Corefile"
        path.write_text(textwrap.dedent(corefile))
        cwd = os.getcwd()
        os.chdir(base)
        try:
            config = load_config(str(path), default_port=0)
            app = App(str(path), config, default_port=0, default_host="127.0.0.1", settings=settings)
            await app.start()
        finally:
            os.chdir(cwd)
        try:
            yield RunningServer(app, path)
        finally:
            await app.stop()


def plugin_config(name: str, lines: str) -> Any:
    """The parsed config of plugin `name` in a Corefile named "Corefile" whose line 3 on are lines
    (line 1 opens the server block, line 2 is `whoami`); ConfigError as loading it raises."""
    config = config_from_text(f".:53 {{\n    whoami\n{lines}\n}}\n", "Corefile")
    (use,) = [u for u in config.blocks[0].plugins if u.name == name]
    return use.config
