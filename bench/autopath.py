"""What autopath saves a pod: queries per lookup of an outside name (`python -m bench.autopath`).

A pod's resolv.conf has `search <ns>.svc.cluster.local svc.cluster.local cluster.local` and
`options ndots:5`, so getaddrinfo("www.example.com") asks A and AAAA for each search name before the
name itself. This replays that walk the way glibc does it (A and AAAA together per name; stop at
the first name with an answer) against kdns with `autopath @kubernetes`, once from the address of a
pod of the cluster and once from an address that is none (what kdns without autopath sees), and
counts the queries kdns received (coredns_dns_requests_total) for each.

The upstream is a tiny responder in this process: www.example.com A 192.0.2.1, NODATA for its
other types, NXDOMAIN for every other name.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass

from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from bench import kdnsserver

NAMESPACE = "demo"
POD_IP = "127.0.0.53"  # a pod of NAMESPACE; loopback, so this process can send from it
NOT_A_POD = "127.0.0.1"
SEARCH = (f"{NAMESPACE}.svc.cluster.local", "svc.cluster.local", "cluster.local")
NAME = "www.example.com"
ADDRESS = "192.0.2.1"

CLUSTER = f"""\
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {NAMESPACE}}}
status: {{phase: Running, podIP: {POD_IP}, podIPs: [{{ip: {POD_IP}}}]}}
"""


@dataclass(frozen=True)
class Walk:
    queries: int  # what kdns received for the lookup
    address: str  # the A record the walk ended with ("" when none)


def _upstream(sock: socket.socket) -> None:
    while True:
        try:
            data, peer = sock.recvfrom(4096)
        except OSError:
            return
        try:
            query = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - a responder for this bench only: ignore what it cannot read
            continue
        reply = query.reply()
        qname = str(query.q.qname).lower().rstrip(".")
        if qname != NAME:
            reply.header.rcode = RCODE.NXDOMAIN
        elif query.q.qtype == QTYPE.A:
            reply.add_answer(RR(query.q.qname, QTYPE.A, ttl=60, rdata=A(ADDRESS)))
        sock.sendto(reply.pack(), peer)


def _ask(port: int, source: str, name: str, qtype: str) -> DNSRecord:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(3)
        s.sendto(DNSRecord.question(name, qtype).pack(), ("127.0.0.1", port))
        return DNSRecord.parse(s.recvfrom(4096)[0])


def _requests(metrics_port: int) -> int:
    """coredns_dns_requests_total once it stops moving (the start-up probes may still arrive)."""
    last = -1.0
    while True:
        now = kdnsserver.metric(metrics_port, "coredns_dns_requests_total")
        if now == last:
            return round(now)
        last = now
        time.sleep(0.2)


def glibc_walk(port: int, metrics_port: int, source: str) -> Walk:
    """getaddrinfo's search walk from source: (queries kdns received, the address found)."""
    before = _requests(metrics_port)
    address = ""
    for candidate in [f"{NAME}.{domain}" for domain in SEARCH] + [NAME]:
        answers = [_ask(port, source, candidate + ".", qtype) for qtype in ("A", "AAAA")]
        found = [rr for reply in answers for rr in reply.rr if rr.rtype == QTYPE.A]
        if found:
            address = str(found[0].rdata)
            break
    return Walk(_requests(metrics_port) - before, address)


def measure(work: str) -> tuple[Walk, Walk]:
    """(from a pod, from an address that is no pod's) against one kdns with autopath."""
    os.makedirs(work, exist_ok=True)
    manifests = os.path.join(work, "autopath-cluster.yaml")
    with open(manifests, "w", encoding="utf-8") as f:
        f.write(CLUSTER)
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.bind(("127.0.0.1", 0))
    threading.Thread(target=_upstream, args=(upstream,), daemon=True).start()
    ports = kdnsserver.Ports.pick()
    corefile = kdnsserver.cluster_corefile(ports, upstream.getsockname()[1], manifests=manifests, autopath=True)
    server = kdnsserver.start(os.path.join(work, "run"), corefile, ports, tag="kdns-autopath")
    try:
        return glibc_walk(ports.dns, ports.metrics, POD_IP), glibc_walk(ports.dns, ports.metrics, NOT_A_POD)
    finally:
        server.stop()
        upstream.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kdns-autopath-") as work:
        pod, other = measure(work)
    print(f"getaddrinfo({NAME!r}), ndots:5, search {' '.join(SEARCH)}:")
    print(f"  from a pod (autopath):      {pod.queries} queries -> {pod.address or 'nothing'}")
    print(f"  from no pod (no autopath):  {other.queries} queries -> {other.address or 'nothing'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
