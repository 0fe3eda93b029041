"""Test certificates made with the openssl command: a CA, servers it signed (valid, expired, for
another name), one signed by an unknown CA, and a client certificate. EC keys: fast to make."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

# The name every test server certificate carries, with IP 127.0.0.1.
SERVER_NAME = "dns.test"


@dataclass(frozen=True)
class Certs:
    ca: Path
    server: Path  # CN and SAN dns.test, SAN IP 127.0.0.1, signed by ca
    server_key: Path
    expired: Path  # the same, expired yesterday
    other_name: Path  # signed by ca, for other.test only (same key)
    unknown: Path  # dns.test / 127.0.0.1, signed by a CA nobody trusts (same key)
    client: Path
    client_key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _key_and_csr(d: Path, name: str, cn: str) -> tuple[Path, Path]:
    key, csr = d / f"{name}.key", d / f"{name}.csr"
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
    return key, csr


def _ca(d: Path, name: str) -> tuple[Path, Path]:
    key, pem = d / f"{name}.key", d / f"{name}.pem"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", pem, "-days", "2", "-subj", f"/CN={name}")
    return key, pem


def _sign(d: Path, csr: Path, ca: tuple[Path, Path], out: str, san: str, days: int) -> Path:
    ext = d / f"{out}.ext"
    ext.write_text(f"subjectAltName={san}\n")
    pem = d / f"{out}.pem"
    _openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial",
             "-out", pem, "-days", str(days), "-extfile", ext)
    return pem


def make_certs(d: Path) -> Certs:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (Debian package openssl)")
    ca = _ca(d, "ca")
    other_ca = _ca(d, "unknown-ca")
    server_key, csr = _key_and_csr(d, "server", SERVER_NAME)
    san = f"DNS:{SERVER_NAME},IP:127.0.0.1"
    client_key, client_csr = _key_and_csr(d, "client", "kdns-client")
    return Certs(
        ca=ca[1],
        server=_sign(d, csr, ca, "server", san, 2),
        server_key=server_key,
        # -days -1: valid until yesterday, so expired now.
        expired=_sign(d, csr, ca, "expired", san, -1),
        other_name=_sign(d, csr, ca, "other-name", "DNS:other.test", 2),
        unknown=_sign(d, csr, other_ca, "unknown", san, 2),
        client=_sign(d, client_csr, ca, "client", "DNS:kdns-client", 2),
        client_key=client_key,
    )
