"""kdns under measurement: Corefiles (the kubeadm one, adapted to loopback ports) and the process."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from bench import procs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Ports:
    dns: int
    ready: int
    health: int
    metrics: int

    @staticmethod
    def pick() -> Ports:
        from socket import SOCK_STREAM

        return Ports(
            procs.free_port(), procs.free_port(SOCK_STREAM), procs.free_port(SOCK_STREAM), procs.free_port(SOCK_STREAM)
        )


def cluster_corefile(
    ports: Ports, upstream: int, *, manifests: str = "", endpoint: str = "", pods: str = "insecure",
    autopath: bool = False,
) -> str:
    """kubeadm's CoreDNS ConfigMap (design.md section 1) with loopback addresses and a cluster source.

    `lameduck` is left out so a stop is immediate; everything else is as kubeadm ships it, so the
    figures are those of the configuration operators run. autopath: with `autopath @kubernetes`, as
    kops has it.
    """
    source = f"manifests {manifests}" if manifests else f"endpoint {endpoint}"
    autopath_line = "\n    autopath @kubernetes" if autopath else ""
    return f""".:{ports.dns} {{
    bind 127.0.0.1
    errors
    health 127.0.0.1:{ports.health}
    ready 127.0.0.1:{ports.ready}{autopath_line}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        {source}
        pods {pods}
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    prometheus 127.0.0.1:{ports.metrics}
    forward . 127.0.0.1:{upstream} {{
        max_concurrent 1000
    }}
    cache 30 {{
        disable success cluster.local
        disable denial cluster.local
    }}
    loop
    reload
    loadbalance
}}
"""


def forward_corefile(ports: Ports, upstream: int) -> str:
    """kdns as a caching forwarder in front of knot: the path of every name outside the cluster."""
    return f""".:{ports.dns} {{
    bind 127.0.0.1
    ready 127.0.0.1:{ports.ready}
    prometheus 127.0.0.1:{ports.metrics}
    forward . 127.0.0.1:{upstream}
    cache 30
}}
"""


def forward_miss_corefile(ports: Ports, upstream: str, ca: str = "", server_name: str = "") -> str:
    """kdns forwarding to upstream (`127.0.0.1:PORT` or `tls://127.0.0.1:PORT`) through `cache 30`
    that stores nothing: every query is a cache miss, the path of a name asked for the first time."""
    tls = f"""
        tls {ca}
        tls_servername {server_name}""" if upstream.startswith("tls://") else ""
    return f""".:{ports.dns} {{
    bind 127.0.0.1
    ready 127.0.0.1:{ports.ready}
    prometheus 127.0.0.1:{ports.metrics}
    forward . {upstream} {{
        max_concurrent 1000{tls}
    }}
    cache 30 {{
        disable success .
        disable denial .
    }}
}}
"""


def start(
    directory: str,
    corefile: str,
    ports: Ports,
    *,
    workers: int = 1,
    tag: str = "kdns",
    cpus: str = str(procs.SERVER_CPU),
    timeout: float = 120.0,
    profile: str = "",
) -> procs.ServerProcess:
    """`python -m kdns -conf FILE` pinned to cpus, returned once /ready is 200 and it answers queries.

    ready_seconds: start -> /ready 200; serving_seconds: start -> also answering on its DNS port.

    profile: a path for cProfile's output (the process must then stop cleanly, by SIGTERM).
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{tag}.Corefile")
    with open(path, "w", encoding="utf-8") as f:
        f.write(corefile)
    argv = [sys.executable]
    if profile:
        argv += ["-m", "cProfile", "-o", profile]
    argv += ["-m", "kdns", "-conf", path, "-quiet"]
    if workers != 1:
        argv += ["-workers", str(workers)]
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    server = procs.start(tag, argv, ports.dns, os.path.join(directory, f"{tag}.log"), cpus=cpus, env=env, cwd=REPO)
    try:
        server.wait_ready_http(f"http://127.0.0.1:{ports.ready}/ready", timeout)
        server.wait_ready_dns("dns-version.cluster.local.", timeout, "TXT", rcode=None)
    except BaseException:
        server.stop()
        raise
    return server


def metric(port: int, name: str) -> float:
    """Sum of a Prometheus counter over its label sets (0 when absent)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


NODELOCAL = os.path.join(REPO, "deploy", "overlays", "nodelocal", "configmap.yaml")


def nodelocal_corefile(ports: Ports, kube_dns: int, upstream: int) -> str:
    """deploy/overlays/nodelocal's Corefile as shipped, on loopback: its link-local address is
    127.0.0.1, port 53 the bench's, kube-dns (10.96.0.10, over TCP) and the node's resolvers
    (/etc/resolv.conf) the given ports; `ready` added for the harness."""
    import yaml

    with open(NODELOCAL, encoding="utf-8") as f:
        corefile = yaml.safe_load(f)["data"]["Corefile"]
    for old, new in (
        ("169.254.20.10:8080", f"127.0.0.1:{ports.health}"),
        ("169.254.20.10", "127.0.0.1"),
        (":53 ", f":{ports.dns} "),
        ("forward . 10.96.0.10", f"forward . 127.0.0.1:{kube_dns}"),
        ("forward . /etc/resolv.conf", f"forward . 127.0.0.1:{upstream}"),
        ("prometheus :9253", f"prometheus 127.0.0.1:{ports.metrics}"),
    ):
        if old not in corefile:
            raise ValueError(f"{NODELOCAL}: the Corefile has no {old!r} to adapt")
        corefile = corefile.replace(old, new)
    return corefile.replace("    reload\n", f"    reload\n    ready 127.0.0.1:{ports.ready}\n", 1)
