"""A rewritten cluster name asked again, against the same name unrewritten (issue 13: at most 1.2x).

kdns runs the kubeadm Corefile with one rule in front of the kubernetes plugin, as an operator maps
`*.example.com` onto services:

    rewrite stop {
        name suffix .example.com .svc.cluster.local answer auto
    }

Two query files name every ClusterIP service of the cluster, as `<svc>.<ns>.svc.cluster.local` and
as `<svc>.<ns>.example.com`. Both are asked once (the slow path stores their answers), then each is
asked at the same fixed rate, in rounds that take the two in turn, each first in every other round
(the host's noise moves by the minute; see Bench.fixed_rates): the server's CPU per query, median
round of each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bench import kdnsserver, measure
from bench.cluster import ZONE, Cluster, write_queries

RULE = """    rewrite stop {
        name suffix .example.com .svc.cluster.local answer auto
    }
"""
SUFFIX = f"svc.{ZONE}."
REWRITTEN_SUFFIX = "example.com."


@dataclass
class Figures:
    plain: list[float] = field(default_factory=list)  # µs per query, round by round
    rewritten: list[float] = field(default_factory=list)
    answers_agree: bool = False
    first_difference: str = ""

    @staticmethod
    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]


def corefile(ports: kdnsserver.Ports, upstream: int, manifests: str) -> str:
    """The kubeadm Corefile of the other figures, with the rewrite rule added."""
    base = kdnsserver.cluster_corefile(ports, upstream, manifests=manifests)
    return base.replace("    kubernetes cluster.local", RULE + "    kubernetes cluster.local", 1)


def query_files(cluster: Cluster, directory: str) -> tuple[str, str]:
    """(plain, rewritten) dnsperf files: every ClusterIP service's A, under both names."""
    plain = [svc.fqdn for svc in cluster.clusterip]
    rewritten = [name[: -len(SUFFIX)] + REWRITTEN_SUFFIX for name in plain]
    return (
        write_queries(os.path.join(directory, "rewrite-plain.txt"), [f"{n} A" for n in plain]),
        write_queries(os.path.join(directory, "rewrite-rewritten.txt"), [f"{n} A" for n in rewritten]),
    )


def measure_repeats(
    work: str, cluster: Cluster, manifests: str, upstream: int, plan: measure.Plan, rate: int, warm_rate: int,
) -> Figures:
    directory = os.path.join(work, "rewrite")
    os.makedirs(directory, exist_ok=True)
    plain, rewritten = query_files(cluster, directory)
    ports = kdnsserver.Ports.pick()
    server = kdnsserver.start(directory, corefile(ports, upstream, manifests), ports, tag="kdns-rewrite")
    figures = Figures()
    try:
        # The same addresses under both names (a wrong rule would make the comparison meaningless).
        sample = [svc.fqdn for svc in cluster.clusterip[:: max(1, len(cluster.clusterip) // 50)]]
        figures.answers_agree = True
        for name in sample:
            a = measure._answer(server.port, name, "A")
            b = measure._answer(server.port, name[: -len(SUFFIX)] + REWRITTEN_SUFFIX, "A")
            if a[0] != b[0] or [x.split()[-1] for x in a[1]] != [x.split()[-1] for x in b[1]]:
                figures.answers_agree = False
                figures.first_difference = f"{name}: {a} vs {b}"
                break
        for datafile in (plain, rewritten):
            measure.fixed_rate(server, datafile, warm_rate, 3600, plan, max_runs=1)
        for round_ in range(plan.searches):
            turns = [(plain, figures.plain), (rewritten, figures.rewritten)]
            # Each goes first in every other round: neither always follows the other.
            for datafile, values in turns if round_ % 2 == 0 else turns[::-1]:
                load = measure.fixed_rate(server, datafile, rate, plan.fixed_seconds, plan)
                values.append(load.us_per_query)
    finally:
        server.stop()
    return figures


