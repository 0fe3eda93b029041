"""Pod traffic: the queries glibc sends for a pod's lookups with Kubernetes' resolv.conf (issue 19).

A pod's resolv.conf has `search <ns>.svc.cluster.local svc.cluster.local cluster.local` and
`options ndots:5`: a name with fewer than 5 dots is tried with each search suffix first, then as it
is; a fully qualified name (trailing dot) only as it is. glibc asks A and AAAA for each candidate
and stops at the first that exists. So a short service name costs 2 queries, `svc.otherns` 4 (the
first candidate is NXDOMAIN), an outside name 8 (6 cluster NXDOMAINs, then 2 forwarded).

The lookups (what the pods ask, each from a pod in a random namespace): 35% a service of the pod's
own namespace by its short name, 15% `svc.othernamespace`, 35% an outside name (300 of them, in
the EXTERNAL zone, TTL 300, served by the upstream), 10% a StatefulSet pod by `host.headless-svc`
of the pod's namespace, 5% a service's fully qualified name. As queries: about 55% cluster
NXDOMAIN, 29% cluster answers, 16% outside names.
"""

from __future__ import annotations

import os
import random

from bench.cluster import ZONE, Cluster

EXTERNAL = "example.net"
EXTERNAL_NAMES = 300
EXTERNAL_TTL = 300
NDOTS = 5


def external_names() -> list[str]:
    return [f"host-{i:03d}.{EXTERNAL}" for i in range(EXTERNAL_NAMES)]


def write_external_zone(directory: str) -> dict[str, str]:
    """The outside names as a zone for knot (the upstream, and the ceiling's copy): zone -> path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{EXTERNAL}.zone")
    with open(path, "w", encoding="ascii") as f:
        f.write(f"$ORIGIN {EXTERNAL}.\n$TTL {EXTERNAL_TTL}\n")
        f.write(f"@ SOA ns.{EXTERNAL}. hostmaster.{EXTERNAL}. 1 7200 1800 86400 {EXTERNAL_TTL}\n@ NS ns.{EXTERNAL}.\n")
        f.write(f"ns.{EXTERNAL}. A 192.0.2.1\n")
        for i, name in enumerate(external_names()):
            f.write(f"{name}. A 198.51.{i // 250}.{i % 250 + 1}\n{name}. AAAA 2001:db8::{i + 1:x}\n")
    return {EXTERNAL: path}


def candidates(name: str, namespace: str) -> list[str]:
    """The names glibc tries for name in a pod of namespace, in order (fully qualified, dot-ended)."""
    if name.endswith("."):
        return [name]
    search = [f"{namespace}.svc.{ZONE}", f"svc.{ZONE}", ZONE]
    expanded = [f"{name}.{suffix}." for suffix in search]
    return expanded + [name + "."] if name.count(".") < NDOTS else [name + ".", *expanded]


def lookups(cluster: Cluster, count: int, seed: int = 19) -> list[tuple[str, str, str]]:
    """(name as the pod asks it, the pod's namespace, the candidate that exists) for count lookups."""
    rng = random.Random(seed)
    clusterip = {ns: [s for s in cluster.clusterip if s.namespace == ns] for ns in cluster.namespaces}
    headless = {ns: [s for s in cluster.headless if s.namespace == ns] for ns in cluster.namespaces}
    elsewhere = {ns: [s for s in cluster.clusterip if s.namespace != ns] for ns in cluster.namespaces}
    outside = external_names()
    out = []
    for _ in range(count):
        ns = rng.choice(cluster.namespaces)
        roll = rng.random()
        if roll < 0.35:
            svc = rng.choice(clusterip[ns])
            out.append((svc.name, ns, svc.fqdn))
        elif roll < 0.50:
            svc = rng.choice(elsewhere[ns])
            out.append((f"{svc.name}.{svc.namespace}", ns, svc.fqdn))
        elif roll < 0.85:
            name = rng.choice(outside)
            out.append((name, ns, name + "."))
        elif roll < 0.95:
            svc = rng.choice(headless[ns])
            host = rng.choice(svc.endpoints).hostname
            out.append((f"{host}.{svc.name}", ns, f"{host}.{svc.fqdn}"))
        else:
            svc = rng.choice(cluster.clusterip)
            out.append((svc.fqdn, ns, svc.fqdn))
    return out


def query_mix(cluster: Cluster, count: int, seed: int = 19) -> list[str]:
    """dnsperf lines: each lookup's A and AAAA per candidate up to the one that exists; count lines."""
    lines: list[str] = []
    lookups_needed = count // 2  # at least 2 queries a lookup
    for name, ns, found in lookups(cluster, lookups_needed, seed):
        for candidate in candidates(name, ns):
            lines += [f"{candidate} A", f"{candidate} AAAA"]
            if candidate == found:
                break
        else:
            raise AssertionError(f"{name} from {ns} never reaches {found}")
    return lines[:count]


def distinct(lines: list[str], seed: int = 23) -> list[str]:
    """Each line of the mix once (shuffled): asked twice, the cache has every outside name and the
    fast path every answer (the first ask fills the cache, the second is the cache's hit)."""
    once = list(dict.fromkeys(lines))
    random.Random(seed).shuffle(once)
    return once
