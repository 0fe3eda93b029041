"""Where the API is and how kdns authenticates: endpoint [+ tls], kubeconfig FILE [CONTEXT], the
pod's service account; and the transport's TLS, proxy and gzip, against the fake API over real
sockets (https with test certificates made by openssl, a real tinyproxy)."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml

from kdns.errors import KdnsError
from kdns.plugins.kubernetes.apisource import ApiSource, HttpTransport, selector_text
from kdns.plugins.kubernetes.config import Config, parse_selector
from kdns.plugins.kubernetes.credentials import TOKEN_REREAD, ServiceAccount, load_credentials
from kdns.plugins.kubernetes.settings import WatchSettings
from tests.fakeapi import FakeApi
from tests.fakeapi.replay import RecordingIndex
from tests.plugins.kubernetes.test_api_fake import eventually, service
from tests.tlscerts import Certs, make_certs
from tests.upstreams import tinyproxy

FAST = WatchSettings(watch_timeout=2, watch_timeout_jitter=0, backoff_base=0.02, backoff_cap=0.1, watch_list=False)
KINDS = ("Namespace", "Service", "EndpointSlice")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def server_context(certs: Certs, *, cert: Path | None = None, client_ca: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert or certs.server, certs.server_key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@asynccontextmanager
async def synced_source(source: ApiSource, expect: bool = True) -> AsyncIterator[ApiSource]:
    await source.start()
    try:
        assert await source.wait_synced(5 if expect else 1) is expect
        yield source
    finally:
        await source.stop()


async def test_https_endpoint_with_client_certificate(certs: Certs) -> None:
    context = server_context(certs, client_ca=certs.ca)
    async with FakeApi(recorded=True, ssl_context=context) as api:
        tls = (str(certs.client), str(certs.client_key), str(certs.ca))  # CERT KEY CACERT
        index = RecordingIndex(KINDS)
        async with synced_source(ApiSource(Config(endpoint=api.url, tls=tls), index, FAST)):
            assert index.state["Service"]
    assert api.url.startswith("https://127.0.0.1:")


async def test_https_endpoint_refusing_kdns_without_its_client_certificate(certs: Certs) -> None:
    context = server_context(certs, client_ca=certs.ca)
    async with FakeApi(recorded=True, ssl_context=context) as api:
        tls = ("", "", str(certs.ca))
        async with synced_source(ApiSource(Config(endpoint=api.url, tls=tls), RecordingIndex(KINDS), FAST), False):
            pass


@pytest.mark.parametrize("which", ["unknown", "expired", "other_name"])
async def test_https_endpoint_with_an_untrusted_certificate_is_not_used(
    certs: Certs, which: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeApi(recorded=True, ssl_context=server_context(certs, cert=getattr(certs, which))) as api:
        config = Config(endpoint=api.url, tls=("", "", str(certs.ca)))
        with caplog.at_level(logging.WARNING):
            async with synced_source(ApiSource(config, RecordingIndex(KINDS), FAST), False):
                pass
    port = api.url.rsplit(":", 1)[1]
    assert f"connecting to 127.0.0.1:{port}: SSLCertVerificationError" in caplog.text


async def test_tls_files_that_cannot_be_read_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KdnsError, match=f"cannot configure the API client: tls c.pem k.pem {tmp_path}/ca.pem"):
        await load_credentials(Config(endpoint="https://10.0.0.1:6443", tls=("c.pem", "k.pem", f"{tmp_path}/ca.pem")))


async def test_plain_http_endpoint_sends_no_credentials() -> None:
    async with FakeApi(recorded=True) as api:
        async with synced_source(ApiSource(Config(endpoint=api.url + "/"), RecordingIndex(KINDS), FAST)) as source:
            assert isinstance(source.transport, HttpTransport)
            assert source.transport.host == api.url.removeprefix("http://")
    assert api.request_headers and all("Authorization" not in h for h in api.request_headers)
    assert all(h["Accept"] == "application/json" for h in api.request_headers)


def service_account(tmp_path: Path, certs: Certs, token: str) -> Path:
    (tmp_path / "token").write_text(token)
    (tmp_path / "ca.crt").write_bytes(certs.ca.read_bytes())
    return tmp_path


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_service_account_in_a_pod_and_its_rotating_token(tmp_path: Path, certs: Certs) -> None:
    async with FakeApi(recorded=True, token="first", ssl_context=server_context(certs)) as api:
        directory = service_account(tmp_path, certs, "first\n")  # whitespace around it is not the token's
        clock = Clock()
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": api.url.rsplit(":", 1)[1]}
        credentials = ServiceAccount(str(directory), env, clock)
        assert credentials.url == api.url
        transport = HttpTransport(credentials, FAST)
        source = ApiSource(Config(), RecordingIndex(KINDS), FAST, transport=transport)
        async with synced_source(source):
            assert {h.get("Authorization") for h in api.request_headers} == {"Bearer first"}
            # The kubelet rotates the token: kdns reads it again after a minute, as client-go does.
            (directory / "token").write_text("second")
            api.token = "second"
            clock.now += TOKEN_REREAD
            seen = len(api.request_headers)
            api.cut_streams()
            await eventually(lambda: len(api.request_headers) >= seen + len(KINDS))
            assert {h.get("Authorization") for h in api.request_headers[seen:]} == {"Bearer second"}
            # Rotated before the minute is up: the 401 makes kdns read it at once.
            (directory / "token").write_text("third")
            api.token = "third"
            seen = len(api.request_headers)
            api.cut_streams()
            await eventually(lambda: [h.get("Authorization") for h in api.request_headers[seen:]].count("Bearer third") >= len(KINDS))
            await eventually(lambda: api.open_streams == len(KINDS))


@pytest.mark.parametrize(
    "env, files, message",
    [
        ({}, {"token": "t"}, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, {"token": "t"}, "are not set"),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}, {}, "the service account's token"),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}, {"token": " \n"}, "token is empty"),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}, {"token": "t"}, "service account's CA"),
    ],
)
def test_service_account_outside_a_pod_is_a_clear_error(
    tmp_path: Path, env: dict[str, str], files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(KdnsError, match=f"kubernetes: cannot configure the API client: .*{message}"):
        ServiceAccount(str(tmp_path), env)


def test_service_account_on_an_ipv6_cluster(tmp_path: Path, certs: Certs) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "fd00:10:96::1", "KUBERNETES_SERVICE_PORT": "443"}
    assert ServiceAccount(str(service_account(tmp_path, certs, "t")), env).url == "https://[fd00:10:96::1]:443"


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
        config = Config(kubeconfig=str(file), kubeconfig_context="good")
        async with synced_source(ApiSource(config, RecordingIndex(KINDS), FAST)):
            pass
    assert all(h.get("Authorization") == "Bearer s3cret" for h in api.request_headers)


async def test_kubeconfig_read_again_after_a_401(tmp_path: Path) -> None:
    # An exec or OIDC token expires; here the file itself changes, as a renewal writes it.
    async with FakeApi(recorded=True, token="renewed") as api:
        file = kubeconfig(tmp_path / "kubeconfig", api.url, "expired")
        source = ApiSource(Config(kubeconfig=str(file), kubeconfig_context="good"), RecordingIndex(KINDS), FAST)
        await source.start()
        try:
            await eventually(lambda: len(api.request_headers) >= len(KINDS))
            assert not source.synced()
            kubeconfig(file, api.url, "renewed")
            assert await source.wait_synced(5)
        finally:
            await source.stop()
    assert {h.get("Authorization") for h in api.request_headers} == {"Bearer expired", "Bearer renewed"}


async def test_kubeconfig_that_cannot_be_read_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KdnsError, match="kubernetes: cannot configure the API client"):
        await load_credentials(Config(kubeconfig=str(tmp_path / "missing")))


@pytest.mark.parametrize(
    "text", ["a: [\n", "- 1\n- 2\n", "apiVersion: v1\nclusters: 5\ncontexts: x\ncurrent-context: a\n", ""]
)
async def test_a_malformed_kubeconfig_is_a_clear_error_naming_it(tmp_path: Path, text: str) -> None:
    file = tmp_path / "kubeconfig"
    file.write_text(text)
    with pytest.raises(KdnsError, match=f"kubernetes: cannot configure the API client: kubeconfig {file}: "):
        await load_credentials(Config(kubeconfig=str(file)))


async def test_https_through_the_kubeconfigs_proxy(tmp_path: Path, certs: Certs) -> None:
    # The kubeconfig's proxy-url is used whatever the server's address, as client-go does
    # (HTTPS_PROXY is not for loopback addresses: test_httpclient.py's test_environment_proxy).
    async with tinyproxy() as proxy, FakeApi(recorded=True, ssl_context=server_context(certs)) as api:
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {
                "server": api.url, "certificate-authority": str(certs.ca), "proxy-url": proxy.url,
            }}],
            "users": [{"name": "u", "user": {"token": "t0k3n"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        }))
        async with synced_source(ApiSource(Config(kubeconfig=str(path)), RecordingIndex(KINDS), FAST)):
            pass
        assert f"CONNECT {api.url.removeprefix('https://')} HTTP/1.1" in proxy.log()


async def test_large_lists_come_gzipped() -> None:
    # 500 services a page: well over the apiserver's 128 KiB compression threshold.
    services = [service(f"svc-{i:04d}", ip=f"10.96.{i // 250}.{i % 250 + 1}") for i in range(1200)]
    async with FakeApi(objects=services) as api:
        index = RecordingIndex(KINDS)
        async with synced_source(ApiSource(Config(endpoint=api.url), index, FAST)):
            assert len(index.state["Service"]) == 1200
    assert api.gzipped >= 2


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


async def test_kubeconfig_whose_certificate_authority_is_not_a_certificate_is_a_clear_error(tmp_path: Path) -> None:
    # Not "cannot listen: [X509: ...]" (an ssl.SSLError is an OSError) naming nothing.
    (tmp_path / "ca.crt").write_text("not a certificate\n")
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://10.96.0.1", "certificate-authority": str(tmp_path / "ca.crt")}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    with pytest.raises(KdnsError, match=rf"kubernetes: cannot configure the API client: kubeconfig {path}: the TLS files: .*ca\.crt"):
        await load_credentials(Config(kubeconfig=str(path)))
