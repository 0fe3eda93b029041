"""What the HTTP endpoints reveal with a cluster loaded. RBAC verbs and the locked-down container
are tests/deploy/test_manifests.py's (test_clusterrole_only_lists_and_watches_what_dns_needs,
test_deployment_runs_unprivileged, test_every_container_is_locked_down) and
tests/deploy/test_dockerfile.py's; `python -m chaos` runs those into the report."""

from __future__ import annotations

from chaos import security
from chaos.common import CI


async def test_metrics_health_ready_reveal_no_cluster_data() -> None:
    result = await security.run_endpoints(CI)
    assert result.ok, (result.failures, result.figures)
    assert result.figures["prometheus /metrics"].startswith("HTTP 200")
    assert result.figures["ready /ready"].startswith("HTTP 200")


def test_leak_check_finds_whole_names_only() -> None:
    secrets = {"svc12.ns1", '"ns1"', "ns1.svc", "10.96.0.17"}
    assert security.leaks('name="svc12.ns1.svc.cluster.local."', secrets) == ["ns1.svc", "svc12.ns1"]
    assert security.leaks('namespace="ns1"', secrets) == ['"ns1"']
    assert security.leaks('dns_name="ns1.example.org." svc123.ns1x 10.96.0.170', secrets) == []
    assert security.leaks('to="10.96.0.17:53"', secrets) == ["10.96.0.17"]
