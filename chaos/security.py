"""Security of the deployment: what the HTTP endpoints reveal, and the manifest checks.

RBAC (list/watch on services, endpointslices, namespaces, pods only) and the locked-down container
(non-root, read-only root filesystem, all capabilities dropped but NET_BIND_SERVICE) are checked by
tests/deploy/test_manifests.py; `deploy_checks` runs exactly those tests so the report shows them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from chaos.cluster import Cluster
from chaos.common import swept, REPO, Result, Size, answer_set, fast_watch_settings, kdns, rss
from chaos.cluster import questions
from tests.fakeapi import FakeApi

PATHS = [("prometheus", "/metrics"), ("health", "/health"), ("ready", "/ready"), ("health", "/"), ("ready", "/metrics")]


def corefile(url: str) -> str:
    return f"""
    . {{
        errors
        health 127.0.0.1:0
        ready 127.0.0.1:0
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            endpoint {url}
            pods insecure
            ttl 30
        }}
        prometheus 127.0.0.1:0
        cache 30 {{
            disable success cluster.local
            disable denial cluster.local
        }}
        loadbalance
    }}
    """


def secrets_of(api: FakeApi) -> set[str]:
    """What would reveal the cluster: each service as `<svc>.<ns>`, each namespace as `<ns>.svc`
    or a quoted label value, every address, every slice and endpoint hostname (quoted)."""
    out: set[str] = set()
    for s in api.objects("Service"):
        name, ns = s["metadata"]["name"], s["metadata"]["namespace"]
        out |= {f"{name}.{ns}", f'"{name}"'}
        out.update(ip for ip in s["spec"].get("clusterIPs", []) if ip != "None")
    for n in api.objects("Namespace"):
        out |= {f"{n['metadata']['name']}.svc", f'"{n["metadata"]["name"]}"'}
    for sl in api.objects("EndpointSlice"):
        out.add(f'"{sl["metadata"]["name"]}"')
        for ep in sl.get("endpoints") or []:
            out.update(ep["addresses"])
    return out


def leaks(text: str, secrets: set[str]) -> list[str]:
    found = []
    for secret in secrets:
        # Whole tokens only: address 10.96.0.17 must not match inside 10.96.0.170.
        if re.search(rf"(?<![\w-]){re.escape(secret)}(?![\w-]|\.\d)", text):
            found.append(secret)
    return sorted(found)


@swept
async def run_endpoints(size: Size) -> Result:
    result = Result(
        "security-endpoints",
        "scrape /metrics, /health, /ready with a cluster loaded and queried; look for any service, namespace, "
        "slice or endpoint name and any address",
    )
    started = time.monotonic()
    cluster = Cluster(50)
    with fast_watch_settings():
        async with FakeApi() as api:
            cluster.load(api)
            async with kdns(corefile(api.url)) as server:
                result.mem_before = rss()
                qs = questions(api, cluster.next_name)
                answers = await answer_set(server, qs)
                result.sent = len(qs)
                result.lost = sum(a == ("lost",) for a in answers)
                secrets = secrets_of(api)
                # The probe: these names really are in the answers, so a leak check can find them.
                everything = " ".join(str(a) for a in answers).replace(".svc.cluster.local", ".svc").replace("'", '"')
                unquoted = {x for x in secrets if not x.startswith('"')}
                result.check(len(leaks(everything, unquoted)) > len(unquoted) // 2, "the leak check does not find names in DNS answers")
                for plugin, path in PATHS:
                    status, text = await server.http(plugin, path)
                    found = leaks(text, secrets)
                    result.figures[f"{plugin} {path}"] = f"HTTP {status}, {len(text)} bytes, {len(found)} cluster names/addresses"
                    if found:
                        result.wrong += len(found)
                        lines = [line for line in text.splitlines() if any(f in line for f in found)]
                        result.failures.append(f"{path} reveals {found[:5]}, e.g. {lines[:2]}")
                result.mem_after = rss()
    result.figures["names and addresses looked for"] = len(secrets)
    result.seconds = time.monotonic() - started
    return result


DEPLOY_TESTS = [
    "tests/deploy/test_manifests.py::test_clusterrole_only_lists_and_watches_what_dns_needs",
    "tests/deploy/test_manifests.py::test_legacy_endpoints_overlay_adds_only_endpoints",
    "tests/deploy/test_manifests.py::test_deployment_runs_unprivileged",
    "tests/deploy/test_manifests.py::test_every_container_is_locked_down",
    "tests/deploy/test_dockerfile.py::test_user_is_numeric_non_root_and_matches_the_deployment",
]


def deploy_checks(size: Size) -> Result:
    """Runs the deploy/ tests that check RBAC verbs and the container's lockdown."""
    result = Result("security-deploy", "RBAC verbs, non-root, read-only root filesystem: " + ", ".join(t.split("::")[1] for t in DEPLOY_TESTS))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DEPLOY_TESTS],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    tail = (proc.stdout.strip().splitlines() or [""])[-1]
    result.figures["pytest"] = tail
    result.sent = len(DEPLOY_TESTS)
    result.check(proc.returncode == 0, f"deploy tests failed: {tail}")
    result.seconds = time.monotonic() - started
    return result
