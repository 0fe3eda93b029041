"""ApiSource configuration: endpoint, tls, kubeconfig FILE [CONTEXT], in-cluster (kubernetes_asyncio)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kdns.errors import KdnsError
from kdns.plugins.kubernetes.apisource import ApiSource, HttpTransport, load_configuration, selector_text
from kdns.plugins.kubernetes.config import Config, parse_selector
from kdns.plugins.kubernetes.settings import WatchSettings
from tests.fakeapi import FakeApi
from tests.fakeapi.replay import RecordingIndex

FAST = WatchSettings(watch_timeout=2, watch_timeout_jitter=0, backoff_base=0.02, backoff_cap=0.1)


async def test_endpoint_with_tls_files() -> None:
    config = Config(endpoint="https://10.0.0.1:6443/", tls=("/c.pem", "/k.pem", "/ca.pem"))
    configuration, refresh = await load_configuration(config)
    assert configuration.host == "https://10.0.0.1:6443"
    assert (configuration.cert_file, configuration.key_file, configuration.ssl_ca_cert) == ("/c.pem", "/k.pem", "/ca.pem")
    assert refresh is None


async def test_plain_http_endpoint_has_no_credentials() -> None:
    configuration, _ = await load_configuration(Config(endpoint="http://127.0.0.1:8001"))
    transport = HttpTransport(configuration)
    assert transport.host == "127.0.0.1:8001"
    headers = await transport._headers()
    assert headers["Accept"] == "application/json" and "Authorization" not in headers


async def test_in_cluster_outside_a_cluster_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KdnsError, match="cannot configure the API client"):
        await load_configuration(Config())


def kubeconfig(path: Path, server: str, token: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "fake", "cluster": {"server": server}},
                    {"name": "other", "cluster": {"server": "http://127.0.0.1:9"}},
                ],
                "users": [{"name": "kdns", "user": {"token": token}}],
                "contexts": [
                    {"name": "good", "context": {"cluster": "fake", "user": "kdns"}},
                    {"name": "bad", "context": {"cluster": "other", "user": "kdns"}},
                ],
                "current-context": "bad",
            }
        )
    )
    return path


async def test_kubeconfig_with_context_and_bearer_token(tmp_path: Path) -> None:
    async with FakeApi(recorded=True, token="s3cret", bookmark_interval=0.3) as api:
        file = kubeconfig(tmp_path / "kubeconfig", api.url, "s3cret")
        index = RecordingIndex(["Namespace", "Service", "EndpointSlice"])
        source = ApiSource(Config(kubeconfig=str(file), kubeconfig_context="good"), index, FAST)
        await source.start()
        try:
            assert await source.wait_synced(5)
        finally:
            await source.stop()
        assert all(h.get("Authorization") == "Bearer s3cret" for h in api.request_headers)


def test_selector_text() -> None:
    assert selector_text(None) is None
    assert selector_text(parse_selector("app=web,tier in (a, b)")) == "app=web,tier in (a, b)"
    assert selector_text("a=b") == "a=b"


async def test_startup_timeout_comes_from_the_config() -> None:
    source = ApiSource(Config(endpoint="http://127.0.0.1:9", startup_timeout=0.2), RecordingIndex(["Service"]))
    assert source.settings.startup_timeout == 0.2
    await source.start()
    try:
        assert not await source.wait_synced()
    finally:
        await source.stop()
