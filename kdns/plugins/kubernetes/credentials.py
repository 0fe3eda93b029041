"""Where the API server is and how kdns proves who it is, for the plugin's three ways of saying it.

- `endpoint URL` [+ `tls CERT KEY CACERT`]: that server; client certificates when given, no other
  credentials (as CoreDNS).
- `kubeconfig FILE [CONTEXT]`: the file as kubernetes_asyncio reads it (certificates, tokens, exec
  and OIDC providers), loaded again after a 401 (exec and OIDC tokens expire).
- neither: the pod's service account, read here as client-go's rest.InClusterConfig reads it: the
  address from KUBERNETES_SERVICE_HOST/PORT, the cluster's CA, and the projected token, read again
  once a minute because the kubelet rotates it. kubernetes_asyncio's loader does the same, but
  importing it (its Configuration needs urllib3) took 25 ms of the 200 ms a start may take.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Mapping
from typing import Any

from kdns.errors import KdnsError
from kdns.plugins.kubernetes.config import Config
from kdns.standins import package_stand_ins

log = logging.getLogger(__name__)

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
# client-go's cachingTokenSource: a token read from the file is used for a minute at most.
TOKEN_REREAD = 60.0


class ClientConfigError(KdnsError):
    """The API client cannot be set up: what is wrong with the address or the credentials."""

    def __init__(self, text: str) -> None:
        super().__init__(f"kubernetes: cannot configure the API client: {text}")


def tls_context(ca_file: str | None, cert_file: str | None = None, key_file: str | None = None,
                verify: bool = True) -> ssl.SSLContext:
    """Verifying against ca_file (the system's CAs without one), with a client certificate if given."""
    context = ssl.create_default_context(cafile=ca_file or None)
    if cert_file:
        context.load_cert_chain(cert_file, keyfile=key_file or None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Credentials:
    """The server's URL, how to reach it, and the Authorization header of each request."""

    def __init__(self, url: str, context: ssl.SSLContext | None = None, server_name: str | None = None,
                 proxy: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.context = context
        self.server_name = server_name or None
        self.proxy = proxy or None

    async def authorization(self) -> str | None:
        """The Authorization header's value for the next request (None: send none)."""
        return None

    async def refresh(self) -> None:
        """The server said 401: load what can be loaded again before the retry."""


class ServiceAccount(Credentials):
    def __init__(self, directory: str = SERVICE_ACCOUNT, environ: Mapping[str, str] = os.environ,
                 clock: Any = time.monotonic) -> None:
        host, port = environ.get("KUBERNETES_SERVICE_HOST", ""), environ.get("KUBERNETES_SERVICE_PORT", "")
        if not host or not port:
            raise ClientConfigError(
                "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                "are not set (not in a pod?); give `endpoint` or `kubeconfig`"
            )
        self.token_file = os.path.join(directory, "token")
        ca_file = os.path.join(directory, "ca.crt")
        self._clock = clock
        self._token = self._read_token()
        self._read_at = clock()
        try:
            context = tls_context(ca_file)
        except (OSError, ssl.SSLError) as e:
            raise ClientConfigError(f"the service account's CA {ca_file}: {e}") from None
        address = f"[{host}]" if ":" in host else host
        super().__init__(f"https://{address}:{port}", context)

    def _read_token(self) -> str:
        try:
            with open(self.token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ClientConfigError(f"the service account's token: {e}") from None
        if not token:
            raise ClientConfigError(f"{self.token_file} is empty")
        return token

    async def authorization(self) -> str | None:
        if self._clock() - self._read_at >= TOKEN_REREAD:
            self._reread()
        return f"Bearer {self._token}"

    async def refresh(self) -> None:
        self._reread()

    def _reread(self) -> None:
        try:
            self._token = self._read_token()
        except KdnsError as e:  # a rotation half done: the last token until the next try
            log.warning("%s; keeping the last token", e)
        self._read_at = self._clock()


class Kubeconfig(Credentials):
    def __init__(self, configuration: Any, file: str, context: str | None) -> None:
        c = configuration
        tls = None
        if str(c.host).startswith("https:"):
            try:
                tls = tls_context(c.ssl_ca_cert, c.cert_file, c.key_file, c.verify_ssl)
            except (OSError, ssl.SSLError) as e:  # not serve()'s "cannot listen"
                files = ", ".join(f for f in (c.ssl_ca_cert, c.cert_file, c.key_file) if f)
                raise ClientConfigError(f"kubeconfig {file}: the TLS files: {files}: {e}") from None
        super().__init__(str(c.host), tls, getattr(c, "tls_server_name", None), getattr(c, "proxy", None))
        self.configuration = configuration
        self.file = file
        self.context_name = context

    @classmethod
    async def load(cls, file: str, context: str | None) -> Kubeconfig:
        configuration = await _load_kubeconfig(file, context)
        return cls(configuration, file, context)

    async def authorization(self) -> str | None:
        # auth_settings() runs kubernetes_asyncio's refresh hook (exec and OIDC tokens).
        for auth in (await self.configuration.auth_settings()).values():
            if auth.get("in") == "header" and auth.get("key", "").lower() == "authorization" and auth.get("value"):
                return str(auth["value"])
        return None

    async def refresh(self) -> None:
        try:
            self.configuration = await _load_kubeconfig(self.file, self.context_name)
        except KdnsError as e:  # logged, the retry reports the 401 again
            log.warning("reloading credentials failed: %s", e)


async def load_credentials(config: Config) -> Credentials:
    """The Credentials of the plugin's config: endpoint [+ tls], kubeconfig, or the service account."""
    if config.endpoint:
        url = config.endpoint
        context = None
        if url.startswith("https:"):
            cert, key, ca = config.tls or ("", "", "")  # the Corefile's order
            try:
                context = tls_context(ca or None, cert or None, key or None)
            except (OSError, ssl.SSLError) as e:
                raise ClientConfigError(f"tls {' '.join(config.tls or ())}: {e}") from None
        return Credentials(url, context)
    if config.kubeconfig:
        return await Kubeconfig.load(config.kubeconfig, config.kubeconfig_context)
    return ServiceAccount()


async def _load_kubeconfig(file: str, context: str | None) -> Any:
    Configuration, k8s_config = kubernetes_config()
    configuration = Configuration()
    import yaml  # kubernetes_asyncio's loader reads the file with it (imported by now)

    try:
        await k8s_config.load_kube_config(config_file=file, context=context or None, client_configuration=configuration)
    except (k8s_config.ConfigException, OSError, ValueError, KeyError, yaml.YAMLError) as e:
        raise ClientConfigError(f"kubeconfig {file}: {e}") from e
    except (TypeError, AttributeError) as e:
        # The loader indexes the YAML as it expects it: a list or a number where a mapping belongs.
        raise ClientConfigError(f"kubeconfig {file}: malformed: {e}") from e
    return configuration


def _api_client(*args: Any, **kwargs: Any) -> Any:
    from kubernetes_asyncio.client.api_client import ApiClient

    return ApiClient(*args, **kwargs)


def kubernetes_config() -> tuple[Any, Any]:
    """kubernetes_asyncio's Configuration class and its `config` package, without its API client:
    its package __init__s import the generated client, which kdns never uses (standins.py)."""
    try:
        with package_stand_ins("kubernetes_asyncio", "kubernetes_asyncio.client") as stand_ins:
            from kubernetes_asyncio.client.configuration import Configuration

            client = stand_ins.get("kubernetes_asyncio.client")
            if client is not None:
                # What kubernetes_asyncio.config imports from the client. ApiClient is only used by
                # new_client_from_config(), which kdns does not call: it imports the real one if asked.
                client.Configuration = Configuration  # type: ignore[attr-defined]
                client.ApiClient = _api_client  # type: ignore[attr-defined]
            import kubernetes_asyncio.config as k8s_config
    except ModuleNotFoundError as e:
        raise KdnsError(f"kubernetes: kubeconfig needs the kubernetes_asyncio package: {e}") from None
    return Configuration, k8s_config
