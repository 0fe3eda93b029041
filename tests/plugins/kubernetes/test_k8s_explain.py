"""`kdns explain` (issue 15): every record kind and every negative reason, offline on the fixtures,
through the command line, and against a running kdns through its `explain` endpoint.

Expected rules and objects are written from the fixtures (fixtures/, fixtures_external/) and the
DNS specification's rows, not copied from the output.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from plugins.kubernetes.k8s_cases import FIXTURES, FakeInfo, config, handler
from plugins.kubernetes.test_k8s_live import (
    ZONE,
    fast_watch,  # noqa: F401  (autouse fixture: short watch backoffs)
    k8s_handler,
    live_api,
    service,
)

from conftest import kdns_server
from kdns.plugins.kubernetes import reasons
from kdns.plugins.kubernetes.config import EXPLAIN_ADDRESS, parse
from kdns.plugins.kubernetes.explain import explain
from kdns.plugins.kubernetes.manifests import ManifestSource
from tests.upstreams import directive

EDGES = Path(__file__).parent / "fixtures_external"
ZONAL = Path(__file__).parent / "fixtures_zonal"
REPO = Path(__file__).resolve().parents[3]
Z = ZONE
W = f"web.demo.svc.{Z}"
WH = f"web-headless.demo.svc.{Z}"


def explained(options: dict[str, Any] | None = None) -> Any:
    h = handler(config(**(options if options is not None else {"pods": "insecure"})), load=False, info=FakeInfo())
    h.index.keep_versions()
    assert ManifestSource([str(FIXTURES), str(EDGES), str(ZONAL)], h.index).reload()
    return h


def why(text: str) -> str:
    return text.split(";; WHY:\n", 1)[1]


@dataclasses.dataclass
class Row:
    qname: str
    qtype: str
    rules: tuple[str, ...]  # each in the WHY part, in this order
    objects: tuple[str, ...] = ()  # each named in a `from` line
    options: dict[str, Any] | None = None


def check(row: Row, text: str) -> None:
    part = why(text)
    at = 0
    for rule in row.rules:
        found = part.find(rule, at)
        assert found >= 0, f"{row.qname} {row.qtype}: {rule!r} not in (or not after the previous)\n{part}"
        at = found + len(rule)
    froms = [line.strip()[len("from "):].split(" (resourceVersion")[0] for line in part.splitlines()
             if line.strip().startswith("from ")]
    for obj in row.objects:
        assert obj in froms, f"{row.qname} {row.qtype}: no `from {obj}`\n{part}"


RECORDS = [
    Row(W, "A", ("cluster IP of ClusterIP service demo/web",), ("Service demo/web",)),
    Row(f"dual.demo.svc.{Z}", "AAAA", ("cluster IP of ClusterIP service demo/dual",), ("Service demo/dual",)),
    Row(WH, "A", ("headless service, ready endpoint 10.244.0.10 with hostname web-0 in EndpointSlice",
                  "headless service, ready endpoint 10.244.0.13 (no hostname: named by its address `10-244-0-13`)"),
        ("Service demo/web-headless", "EndpointSlice demo/web-headless-fghij")),
    Row(f"web-0.{WH}", "A", ("endpoint name `web-0`: ready endpoint 10.244.0.10 with hostname web-0",),
        ("EndpointSlice demo/web-headless-fghij",)),
    Row(f"web-3.{WH}", "A", ("endpoint name `web-3`: ready endpoint 10.244.0.13 named by its pod `web-3`",),
        ("EndpointSlice demo/web-headless-fghij",), {"endpoint_pod_names": True}),
    Row(f"_http._tcp.{W}", "SRV", ("port `_http._tcp` of ClusterIP service demo/web: port 80, target the service",
                                   "cluster IP of ClusterIP service demo/web"), ("Service demo/web",)),
    Row(W, "SRV", ("every named port of ClusterIP service demo/web: port 80",
                   "every named port of ClusterIP service demo/web: port 53")),
    Row(f"_http._tcp.{WH}", "SRV", ("port `_http._tcp` of headless service demo/web-headless: ready endpoint",
                                    "endpoint name `web-0`"), ("EndpointSlice demo/web-headless-fghij",)),
    Row("10.0.96.10.in-addr.arpa.", "PTR", ("reverse of the cluster IP of ClusterIP service demo/web",),
        ("Service demo/web",)),
    Row("13.0.244.10.in-addr.arpa.", "PTR", ("reverse of a ready endpoint 10.244.0.13",),
        ("Service demo/web-headless", "EndpointSlice demo/web-headless-fghij")),
    Row(f"ext.demo.svc.{Z}", "A", ("ExternalName service demo/ext: a CNAME to its spec.externalName",
                                   "outside the cluster zones: the ExternalName target resolved through"),
        ("Service demo/ext",)),
    Row(f"inner.demo.svc.{Z}", "A", ("ExternalName service demo/inner", "cluster IP of ClusterIP service demo/web"),
        ("Service demo/inner", "Service demo/web")),
    Row(f"dns-version.{Z}", "TXT", ("dns-version: the version of the Kubernetes DNS specification",)),
    Row(Z, "SOA", ("the zone's SOA; its serial is the time of the last index change",)),
    Row(Z, "NS", ("the zone's name server: the kube-dns Service", "cluster IP of ClusterIP service kube-system/kube-dns"),
        ("Service kube-system/kube-dns",)),
    Row(f"ns.dns.{Z}", "A", ("ns.dns.<zone>: the cluster IP of the kube-dns Service",), ("Service kube-system/kube-dns",)),
    Row(f"10-244-0-99.demo.pod.{Z}", "A", ("`pods insecure`: the address the name spells",), ("Namespace demo",)),
    Row(f"10-244-0-10.demo.pod.{Z}", "A", ("`pods verified`: a running Pod in the namespace has this address",),
        ("Pod demo/web-0",), {"pods": "verified"}),
]


def negative(qname: str, qtype: str, rule: str, objects: tuple[str, ...] = (),
             options: dict[str, Any] | None = None) -> Row:
    return Row(qname, qtype, (rule,), objects, options)


NEGATIVES = [
    (reasons.NO_NAMESPACE, negative(f"web.nope.svc.{Z}", "A", "NXDOMAIN: namespace `nope` does not exist")),
    (reasons.NO_SERVICE,
     negative(f"nothing.demo.svc.{Z}", "A", "NXDOMAIN: no Service `nothing` in namespace `demo`")),
    (reasons.BELOW_EXTERNAL,
     negative(f"x.ext.demo.svc.{Z}", "A", "NXDOMAIN: ExternalName service demo/ext has no names below it",
              ("Service demo/ext",))),
    (reasons.IP_EXTERNAL,
     negative(f"ext-ip.demo.svc.{Z}", "A",
              "NXDOMAIN: ExternalName service demo/ext-ip: its externalName is an IP address",
              ("Service demo/ext-ip",))),
    (reasons.NOENDPOINTS, negative(WH, "A", "NXDOMAIN: filtered: `noendpoints`", options={"noendpoints": True})),
    (reasons.IGNORE_EMPTY,
     negative(f"empty.demo.svc.{Z}", "A",
              "NXDOMAIN: filtered: `ignore empty_service` (service demo/empty has no ready endpoint)",
              ("Service demo/empty",), {"ignore_empty_service": True})),
    (reasons.NO_ENDPOINT,
     negative(f"web-9.{WH}", "A", "NXDOMAIN: no ready endpoint named `web-9` in service demo/web-headless")),
    (reasons.HEADLESS_EMPTY,
     negative(f"empty-headless.demo.svc.{Z}", "A",
              "NXDOMAIN: headless service demo/empty-headless has no ready endpoint")),
    (reasons.NO_PORT,
     negative(f"_nope._tcp.{W}", "SRV", "NXDOMAIN: service demo/web has no port named `nope` with protocol `tcp`")),
    (reasons.PODS_DISABLED,
     negative(f"10-244-0-99.demo.pod.{Z}", "A", "NXDOMAIN: filtered: `pods disabled` (the default)", options={})),
    (reasons.POD_NOT_RUNNING,
     negative(f"10-244-0-40.demo.pod.{Z}", "A",
              "NXDOMAIN: `pods verified`: no running Pod in namespace `demo` has address 10.244.0.40",
              options={"pods": "verified"})),
    (reasons.NO_ADDRESS,
     negative("9.9.9.9.in-addr.arpa.", "PTR", "NXDOMAIN: no Service and no ready endpoint has address 9.9.9.9")),
    (reasons.NOT_A_NAME, negative(f"a.b.c.d.e.f.{Z}", "A", "NXDOMAIN: not a name of the Kubernetes DNS schema")),
    (reasons.NO_TYPE,
     negative(W, "AAAA", "NODATA: the name exists, without AAAA records", ("Service demo/web",))),
    (reasons.NO_SRV_PORTS,
     negative(f"noports.demo.svc.{Z}", "SRV", "NODATA: service demo/noports has no named ports, so no SRV records")),
    (reasons.ZONAL_NOT_HEADLESS,
     negative(f"us-west-2a._zone.clstr.testns.svc.{Z}", "A",
              "NXDOMAIN: `zonal`: zonal names exist only below headless services, and testns/clstr is none",
              options={"zonal": True})),
    (reasons.ZONAL_UNKNOWN,
     negative(f"eu-north-1a._zone.hdls.testns.svc.{Z}", "A",
              "NXDOMAIN: `zonal`: no endpoint has ever been in the topology zone this name asks for",
              options={"zonal": True})),
    (reasons.ZONAL_EMPTY,
     negative(f"us-west-2c._zone.hdls.testns.svc.{Z}", "A",
              "NODATA: `zonal`: headless service testns/hdls has no ready endpoint in the topology zone this name asks for",
              options={"zonal": True})),
]

OTHER_OUTCOMES = [
    # the chased target's reason, named as the end of the CNAME chain
    Row(f"ext-dangling.demo.svc.{Z}", "A", (
        "ExternalName service demo/ext-dangling",
        "NXDOMAIN: no Service `missing` in namespace `demo` (about missing.demo.svc.cluster.local.",
    )),
    Row(f"nothing.demo.svc.{Z}", "A", ("NXDOMAIN: in a `fallthrough` zone, handed to the next plugin",),
        options={"fallthrough": ()}),
    # a zonal name below a service that does not exist: the service is what is missing
    Row(f"us-west-2a._zone.nope.testns.svc.{Z}", "A", ("NXDOMAIN: no Service `nope` in namespace `testns`",),
        options={"zonal": True}),
]


@pytest.mark.parametrize("row", RECORDS, ids=lambda r: f"{r.qname} {r.qtype}")
async def test_every_record_kind(row: Row) -> None:
    check(row, await explain(explained(row.options), row.qname, row.qtype))


@pytest.mark.parametrize("row", [r for _, r in NEGATIVES] + OTHER_OUTCOMES, ids=lambda r: f"{r.qname} {r.qtype}")
async def test_every_negative_reason(row: Row) -> None:
    text = await explain(explained(row.options), row.qname, row.qtype)
    check(row, text)
    if "fallthrough" not in (row.options or {}):
        # the negative line's record: the zone's SOA, as in the authority section
        assert re.search(r"^\S+\s+\d+\s+IN\s+SOA\s", why(text), re.M), why(text)


def test_the_table_names_every_reason() -> None:
    defined = {v for k, v in vars(reasons).items() if k.isupper()}
    assert defined == {reason for reason, _ in NEGATIVES}


async def test_unsynced_is_servfail_with_its_reason() -> None:
    h = handler(config(), load=False)
    text = await explain(h, W, "A")
    assert "status: SERVFAIL" in text and "SERVFAIL: the API has not been listed yet" in why(text)


async def test_resource_versions_come_from_the_objects() -> None:
    h = explained()
    h.index.apply("Service", "MODIFIED", {
        "metadata": {"name": "web", "namespace": "demo", "resourceVersion": "4242"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
    })
    assert "from Service demo/web (resourceVersion 4242)" in why(await explain(h, W, "A"))
    # manifests without one say so
    assert "from Service demo/web-headless (resourceVersion unknown)" in why(await explain(h, WH, "A"))


async def test_a_fallthrough_name_is_not_handed_on() -> None:
    info = FakeInfo()
    h = handler(config(fallthrough=()), info=info)
    await explain(h, f"nothing.demo.svc.{Z}", "A")
    assert info.asked == []


# -- the command line ----------------------------------------------------------------------------


def kdns(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kdns", "explain", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=60, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_cli_offline_on_manifests() -> None:
    proc = kdns("--manifests", str(FIXTURES), "web-0.web-headless.demo.svc.cluster.local")
    assert proc.returncode == 0, proc.stderr
    assert "status: NOERROR" in proc.stdout and "10.244.0.10" in proc.stdout
    assert "endpoint name `web-0`: ready endpoint 10.244.0.10 with hostname web-0" in proc.stdout
    proc = kdns("--manifests", str(FIXTURES), "nothing.nope.svc.cluster.local", "AAAA")
    assert proc.returncode == 0 and "NXDOMAIN: namespace `nope` does not exist" in proc.stdout


def test_cli_takes_the_options_of_a_corefile(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text("example.:53 {\n    kubernetes example. {\n        pods insecure\n        ttl 60\n    }\n}\n")
    proc = kdns("--manifests", str(FIXTURES), "-conf", str(corefile), "10-1-2-3.demo.pod.example", "A")
    assert proc.returncode == 0, proc.stderr
    assert "10-1-2-3.demo.pod.example. 60" in proc.stdout and "`pods insecure`" in proc.stdout


def test_cli_errors() -> None:
    proc = kdns("web.demo.svc.cluster.local")
    assert proc.returncode == 2 and "give either --manifests PATH or --server HOST:PORT" in proc.stderr
    proc = kdns("--manifests", str(FIXTURES), "web.demo.svc.cluster.local", "NOPE")
    assert proc.returncode == 2 and "unknown record type 'NOPE'" in proc.stderr
    proc = kdns("--server", "127.0.0.1:1", "web.demo.svc.cluster.local")
    assert proc.returncode == 1 and "127.0.0.1:1/explain" in proc.stderr
    for bad in ("web..demo.svc.cluster.local", "x" * 64 + ".demo.svc.cluster.local", "a." * 128):
        proc = kdns("--manifests", str(FIXTURES), bad)
        assert proc.returncode == 2 and "is not a DNS name" in proc.stderr and "Traceback" not in proc.stderr


# -- the endpoint of a running kdns ----------------------------------------------------------------


def test_explain_option() -> None:
    parsed = parse(directive(". {\n kubernetes cluster.local {\n  explain\n }\n}\n", "kubernetes"))
    assert parsed.explain == EXPLAIN_ADDRESS and EXPLAIN_ADDRESS[0] == "127.0.0.1"
    parsed = parse(directive(". {\n kubernetes cluster.local {\n  explain 10.0.0.1:8000\n }\n}\n", "kubernetes"))
    assert parsed.explain == ("10.0.0.1", 8000)
    assert parse(directive(". {\n kubernetes cluster.local\n}\n", "kubernetes")).explain is None


async def test_endpoint_of_a_running_kdns() -> None:
    async with live_api() as api:
        corefile = f"""
        .:0 {{
            kubernetes cluster.local in-addr.arpa ip6.arpa {{
                endpoint {api.url}
                explain 127.0.0.1:0
            }}
        }}
        """
        async with kdns_server(corefile) as server:
            port = k8s_handler(server).explain_endpoint.port
            stored = api.get("Service", "web", namespace="demo")
            assert stored is not None
            version = stored["metadata"]["resourceVersion"]
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/explain",
                                       params={"name": f"web.demo.svc.{Z}", "type": "A"}) as r:
                    assert r.status == 200
                    text = await r.text()
                async with session.get(f"http://127.0.0.1:{port}/explain", params={"type": "A"}) as r:
                    assert r.status == 400
                async with session.get(f"http://127.0.0.1:{port}/explain", params={"name": "web..demo"}) as r:
                    assert r.status == 400 and "is not a DNS name" in await r.text()
            assert f"from Service demo/web (resourceVersion {version})" in why(text)
            # a change is seen with its new resourceVersion
            api.update(service("web", "demo", ["10.98.75.229"]))
            for _ in range(100):
                updated = api.get("Service", "web", namespace="demo")["metadata"]["resourceVersion"]
                proc = await asyncio.to_thread(kdns, "--server", f"127.0.0.1:{port}", f"web.demo.svc.{Z}")
                if f"resourceVersion {updated})" in proc.stdout:
                    break
                await asyncio.sleep(0.05)
            assert proc.returncode == 0 and f"resourceVersion {updated})" in proc.stdout, proc.stdout + proc.stderr
