"""Lifecycle services across a reload: one kept by the new config is still stopped at exit."""

from __future__ import annotations

import aiohttp
import pytest

from conftest import kdns_server

COREFILE = ".:0 {\n    health 127.0.0.1:0\n    whoami\n}\n"


async def test_a_service_kept_across_a_reload_is_stopped_at_exit() -> None:
    async with kdns_server(COREFILE) as server:
        port = server.http_port("health")
        server.corefile.write_text(COREFILE.replace("whoami", "whoami\n    log"))
        assert await server.app.reload()
        assert server.http_port("health") == port  # the same endpoint, kept
        assert (await server.http("health", "/health"))[0] == 200
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}/health")


async def test_a_plugin_that_cannot_start_on_reload_leaves_the_old_config_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with kdns_server(COREFILE) as server:
        # kubernetes's start() cannot read the kubeconfig: a KdnsError that is not a ConfigError.
        server.corefile.write_text(COREFILE.replace("whoami", "whoami\n    kubernetes cluster.local {\n        kubeconfig /nonexistent/kubeconfig\n    }"))
        assert not await server.app.reload()
        assert "reload failed, keeping the running config: kubernetes: cannot configure the API client" in caplog.text
        assert (await server.query("example.org", "A")).additional  # whoami, still
