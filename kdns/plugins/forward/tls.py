"""DNS-over-TLS client settings (RFC 7858): `tls [CERT KEY CA]` and `tls_servername NAME`.

As CoreDNS's plugin/pkg/tls.NewTLSConfigFromArgs reads `tls`: no argument, the system CAs verify the
upstream; one, a CA file; two, a client certificate and key with the system CAs; three, certificate,
key and CA. The upstream's certificate is always verified, and its name too: `tls_servername` when
given, else the upstream's IP address, which must then be in the certificate's subjectAltName.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

# RFC 7858 section 3.1: DNS-over-TLS listens on port 853.
TLS_PORT = 853


@dataclass(frozen=True)
class TlsClient:
    cert: str | None = None
    key: str | None = None
    ca: str | None = None  # None: the system's CAs
    server_name: str | None = None  # None: the upstream's IP address

    @classmethod
    def from_args(cls, args: list[str], server_name: str | None) -> TlsClient:
        if len(args) == 1:
            return cls(ca=args[0], server_name=server_name)
        if len(args) >= 2:
            return cls(args[0], args[1], args[2] if len(args) == 3 else None, server_name)
        return cls(server_name=server_name)

    def context(self) -> ssl.SSLContext:
        """A client context that verifies the server's chain and name; OSError or ssl.SSLError
        when a file cannot be read or holds no certificate/key."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca)
        # create_default_context already sets both; said again so that no later edit can drop them.
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert is not None:
            # An encrypted key fails here: without a password callback, OpenSSL would prompt on the
            # terminal and hang the load.
            context.load_cert_chain(self.cert, self.key, password=lambda: b"")
        return context
