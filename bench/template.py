"""The template plugin on repeat (issue 13): a template answer must cost no more than 1.2x a cluster name.

kdns runs the kubeadm Corefile with two templates in front of kubernetes, as operators write them:
NODATA for every AAAA in cluster.local, and an A record read out of `ip-a-b-c-d.example.test` names.
Both kinds of answer depend on the question alone, so repeats are served from the fast path like
cluster names are. After every name was asked once, CPU per query is measured at the first fixed
rate over (1) A of the cluster's service names, answered by kubernetes, and (2) template answers:
AAAA of the same names and as many regex names, in rounds that take the two in turn (median round).
"""

from __future__ import annotations

import os
import socket

from dnslib import DNSRecord

from bench import dnsperf, kdnsserver, measure
from bench import report as fmt
from bench.report import Row

TEMPLATES = """    template ANY AAAA cluster.local {
        rcode NOERROR
    }
    template IN A example.test {
        match ^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]test[.]$
        answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
    }
"""
SECTION = "template (kubeadm Corefile + 2 templates)"
GOAL = 1.2


def corefile(ports: kdnsserver.Ports, upstream: int, manifests: str) -> str:
    return kdnsserver.cluster_corefile(ports, upstream, manifests=manifests).replace(
        "    errors\n", "    errors\n" + TEMPLATES, 1
    )


def query_files(distinct: str, work: str) -> tuple[str, str]:
    """(cluster A names, template questions) written next to each other in work."""
    with open(distinct, encoding="ascii") as f:
        names = [line.split()[0] for line in f if line.endswith(" A\n") and not line.startswith("www.example")]
    cluster = [f"{name} A" for name in names]
    templated: list[str] = []
    for i, name in enumerate(names):
        templated += [f"{name} AAAA", f"ip-10-{i >> 16 & 255}-{i >> 8 & 255}-{i & 255}.example.test. A"]
    paths = os.path.join(work, "template-cluster.txt"), os.path.join(work, "template-answers.txt")
    for path, lines in zip(paths, (cluster, templated)):
        with open(path, "w", encoding="ascii") as f:
            f.write("\n".join(lines) + "\n")
    return paths


def check_templates_answer(port: int, cluster_file: str) -> None:
    """The templates answer these questions (not kubernetes, whose NODATA carries an SOA, nor
    forward): else the section would measure something else."""
    with open(cluster_file, encoding="ascii") as f:
        name = f.readline().split()[0]
    for qname, qtype, want in (("ip-10-0-0-1.example.test.", "A", ["10.0.0.1"]), (name, "AAAA", [])):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2.0)
            s.sendto(DNSRecord.question(qname, qtype).pack(), ("127.0.0.1", port))
            reply = DNSRecord.parse(s.recv(65535))
        got = (reply.header.rcode, [str(rr.rdata) for rr in reply.rr], len(reply.auth))
        assert got == (0, want, 0), f"{qname} {qtype}: not the template's answer: {reply}"


def measure_repeats(
    work: str, manifests: str, distinct: str, upstream: int, plan: measure.Plan
) -> tuple[list[Row], list[str]]:
    """The report rows and notes of this section."""
    cluster_file, template_file = query_files(distinct, work)
    ports = kdnsserver.Ports.pick()
    server = kdnsserver.start(
        os.path.join(work, "run"), corefile(ports, upstream, manifests), ports, tag="kdns-template"
    )
    rate = plan.rates[0]
    rounds: dict[str, list[float]] = {cluster_file: [], template_file: []}
    try:
        check_templates_answer(server.port, cluster_file)
        for path in rounds:
            dnsperf.run(server.port, path, rate=5000, max_runs=1, timeout=plan.timeout)
        for _ in range(plan.searches):
            for path, values in rounds.items():
                values.append(measure.fixed_rate(server, path, rate, plan.fixed_seconds, plan).us_per_query)
    finally:
        server.stop()
    cluster, templated = (sorted(v)[len(v) // 2] for v in rounds.values())
    ratio = templated / cluster
    rows = [
        Row(
            SECTION,
            f"CPU per query, A of cluster names on repeat ({rate // 1000}k QPS, median of {plan.searches})",
            fmt.us(cluster),
        ),
        Row(
            SECTION,
            "CPU per query, template answers on repeat (AAAA NODATA, regex A; same rate)",
            fmt.us(templated),
            target=f"≤ {GOAL}x cluster names",
            verdict=f"{fmt.verdict(ratio, GOAL)} ({ratio:.2f}x)",
        ),
    ]
    notes = [
        "kdns template: CPU per query round by round, cluster names "
        + ", ".join(f"{v:.1f}" for v in rounds[cluster_file]) + " µs; template answers "
        + ", ".join(f"{v:.1f}" for v in rounds[template_file]) + " µs"
    ]
    return rows, notes
