"""autopath and k8s_external live against the fake API server: pods and services created, changed
and deleted through the API's watch change the answers at once, with `pods disabled` (kdns then
watches pods for autopath alone)."""

from __future__ import annotations

from pathlib import Path

import dns.asyncquery
import dns.message
import dns.rcode
import pytest
from conftest import RunningServer, kdns_server
from plugins.kubernetes.test_k8s_live import (
    ZONE,
    becomes,
    corefile,
    fast_watch,  # noqa: F401 - the autouse fixture: short backoffs
    k8s_handler,
    live_api,
    pod,
    until,
)

import kdns.plugins.kubernetes.handler as kubernetes_handler

POD_ADDRESS = "127.0.0.31"
COMPLETED = f"dual.live.live.svc.{ZONE}"  # `dual.live` typed in a pod of namespace live


async def from_pod(server: RunningServer, name: str) -> tuple[str, list[str]]:
    q = dns.message.make_query(name, "A")
    r = await dns.asyncquery.udp(q, server.host, port=server.port, source=POD_ADDRESS, timeout=3)
    return dns.rcode.to_text(r.rcode()), [rr.to_text() for rrset in r.answer for rr in rrset]


async def completes(server: RunningServer, want: bool) -> None:
    expected = ("NOERROR", [f"dual.live.svc.{ZONE}", "10.96.50.1"]) if want else ("NXDOMAIN", [])

    async def check() -> bool:
        return await from_pod(server, COMPLETED) == expected

    await until(check, f"{COMPLETED} from {POD_ADDRESS}: {expected}")


async def test_pods_come_and_go_through_the_watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The host's search list ends every pod's search path: the test's own, not the machine's.
    resolv = tmp_path / "host-resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\n")
    monkeypatch.setattr(kubernetes_handler, "RESOLV_CONF", str(resolv))
    async with live_api() as api, kdns_server(corefile(api, pods="disabled", extra="autopath @kubernetes")) as server:
        index = k8s_handler(server).index
        assert "Pod" in index.kinds and index.pods_by_ip("10.244.5.1") == ()  # no Pod objects kept
        await completes(server, False)
        api.create(pod("client", "live", [POD_ADDRESS]))
        await completes(server, True)
        api.patch("Pod", "client", {"status": {"phase": "Succeeded"}}, namespace="live")
        await completes(server, False)
        api.patch("Pod", "client", {"status": {"phase": "Running"}}, namespace="live")
        await completes(server, True)
        api.delete("Pod", "client", namespace="live")
        await completes(server, False)


async def test_k8s_external_follows_service_changes() -> None:
    extra = "k8s_external example.org"
    name = "dual.live.example.org."
    async with live_api() as api, kdns_server(corefile(api, pods="disabled", extra=extra)) as server:
        await becomes(server, name, "A", "NXDOMAIN", set())
        api.patch("Service", "dual", {"spec": {"externalIPs": ["192.0.2.7"]}}, namespace="live")
        await becomes(server, name, "A", "NOERROR", {"192.0.2.7"})
        api.patch("Service", "dual", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.8"}]}}}, namespace="live")
        await becomes(server, name, "A", "NOERROR", {"192.0.2.7", "192.0.2.8"})
        api.delete("Service", "dual", namespace="live")
        await becomes(server, name, "A", "NXDOMAIN", set())
