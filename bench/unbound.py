"""unbound in front of knot, over plain DNS and DNS-over-TLS on two ports: the upstream of the
forward-over-TLS figure, so that both transports reach the same server doing the same work.

The certificates (a CA and a server certificate for 127.0.0.1) are made with the openssl command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from bench import procs

UNBOUND = "/usr/sbin/unbound"
SERVER_NAME = "dns.bench"


def unbound() -> str:
    return shutil.which("unbound") or UNBOUND


@dataclass
class DotUpstream:
    server: procs.ServerProcess
    plain_port: int
    tls_port: int
    ca: str


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(directory: str) -> tuple[str, str, str]:
    """(CA file, server certificate, server key): the server's for dns.bench and 127.0.0.1."""
    ca, ca_key = os.path.join(directory, "ca.pem"), os.path.join(directory, "ca.key")
    pem, key, csr = (os.path.join(directory, f"server.{ext}") for ext in ("pem", "key", "csr"))
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w", encoding="ascii") as f:
        f.write(f"subjectAltName=DNS:{SERVER_NAME},IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=kdns-bench-ca")
    _openssl("req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={SERVER_NAME}")
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", pem,
             "-days", "2", "-extfile", ext)
    return ca, pem, key


def start(directory: str, knot_port: int, cpus: str = str(procs.LOAD_CPU), timeout: float = 30.0) -> DotUpstream:
    """unbound forwarding everything to knot, answering on a plain and a TLS port, pinned to cpus."""
    os.makedirs(directory, exist_ok=True)
    ca, pem, key = make_certs(directory)
    plain, tls = procs.free_port(), procs.free_port()
    conf = os.path.join(directory, "unbound.conf")
    lines = [
        "server:",
        f"  interface: 127.0.0.1@{plain}",
        f"  interface: 127.0.0.1@{tls}",
        f"  tls-port: {tls}",
        f'  tls-service-key: "{key}"',
        f'  tls-service-pem: "{pem}"',
        '  username: ""', '  chroot: ""', f'  directory: "{directory}"', '  pidfile: ""',
        "  use-syslog: no", "  verbosity: 0", "  num-threads: 1", "  do-ip6: no",
        "  access-control: 127.0.0.0/8 allow",
        # knot on loopback serves the cluster's zones, reverse ones in 10.in-addr.arpa included.
        "  do-not-query-localhost: no", "  unblock-lan-zones: yes", "  insecure-lan-zones: yes",
        "  module-config: iterator",
        "forward-zone:", '  name: "."', f"  forward-addr: 127.0.0.1@{knot_port}",
    ]
    with open(conf, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    log_path = os.path.join(directory, "unbound.log")
    server = procs.start("unbound", [unbound(), "-d", "-c", conf], plain, log_path, cpus=cpus)
    try:
        server.wait_ready_dns("cluster.local.", timeout)
    except BaseException:
        server.stop()
        raise
    return DotUpstream(server, plain, tls, ca)
