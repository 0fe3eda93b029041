"""`multicluster ZONES...`: CoreDNS's handler_test.go tables (commonDnsTestCases for both zones,
multiclusterDnsTestCases for the clusterset zone) and its README example, over real sockets.

The cluster is CoreDNS's APIConnServeTest written as API objects (fixtures_mcs/). Expected records
follow CoreDNS's tables; where kdns's rules for ordinary services already differ from CoreDNS (SRV
weights: kdns divides 100 by the records it sends, after merging duplicates and one per port, not
per address), the clusterset answers follow kdns's, so that a ServiceImport answers exactly as the
Service it stands for.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from plugins.kubernetes.k8s_cases import Case, ask, check, handler, nodata, nx, soa
from plugins.kubernetes.test_k8s_server import expected, rrs

import dns.flags
import dns.rcode
from kdns.errors import ConfigError
from kdns.plugins.kubernetes.config import Config
from kdns.plugins.kubernetes.index import SOA_TAG
from kdns.plugins.kubernetes.multicluster import ServiceImports

pytest.importorskip("kdns.server.app")

from conftest import kdns_server, plugin_config  # noqa: E402

MCS = Path(__file__).parent / "fixtures_mcs"
ZONES = ("cluster.local.", "clusterset.local.")


def common(z: str) -> list[Case]:
    """commonDnsTestCases: the same answers from Services (cluster.local) and ServiceImports."""
    s = f"svc.{z}"
    sz = soa(z)

    def n(name: str) -> str:
        return f"{name}.testns.{s}"

    return [
        Case(n("svc1"), "A", answer=[f"{n('svc1')} 5 IN A 10.0.0.1"]),
        Case(n("svcempty"), "A", answer=[f"{n('svcempty')} 5 IN A 10.0.0.1"]),
        Case(n("svc1"), "SRV", answer=[f"{n('svc1')} 5 IN SRV 0 100 80 {n('svc1')}"], extra=[f"{n('svc1')} 5 IN A 10.0.0.1"]),
        Case(n("svcempty"), "SRV", answer=[f"{n('svcempty')} 5 IN SRV 0 100 80 {n('svcempty')}"],
             extra=[f"{n('svcempty')} 5 IN A 10.0.0.1"]),
        Case(n("svc6"), "SRV", answer=[f"{n('svc6')} 5 IN SRV 0 100 80 {n('svc6')}"], extra=[f"{n('svc6')} 5 IN AAAA 1234:abcd::1"]),
        Case(f"_http._tcp.{n('svc1')}", "SRV", answer=[f"_http._tcp.{n('svc1')} 5 IN SRV 0 100 80 {n('svc1')}"],
             extra=[f"{n('svc1')} 5 IN A 10.0.0.1"]),
        Case(f"_http._tcp.{n('svcempty')}", "SRV", answer=[f"_http._tcp.{n('svcempty')} 5 IN SRV 0 100 80 {n('svcempty')}"],
             extra=[f"{n('svcempty')} 5 IN A 10.0.0.1"]),
        Case(n("hdls1"), "A", answer=[f"{n('hdls1')} 5 IN A 172.0.0.{i}" for i in (2, 3, 4, 5)]),
        Case(n("hdlsprtls"), "A", answer=[f"{n('hdlsprtls')} 5 IN A 172.0.0.20"]),
        nodata(n("svc1"), "AAAA", sz),
        nx(n("svc0"), "AAAA", sz),
        nx(n("svc0"), "A", sz),
        nx(f"svc0.svc-nons.{s}", "A", sz),
        Case(f"dns-version.{z}", "TXT", answer=[f'dns-version.{z} 5 IN TXT "1.1.0"']),
        nodata(n("svc1"), "TXT", sz),
        nx(f"svc0.svc-nons.{s}", "TXT", sz),
        nx(f"bogusendpoint.{n('hdls1')}", "A", sz),
        nx(f"bogusendpoint.{n('svc0')}", "A", sz),
        Case(n("svc6"), "AAAA", answer=[f"{n('svc6')} 5 IN AAAA 1234:abcd::1"]),
        Case(f"_http._tcp.{n('svc6')}", "SRV", answer=[f"_http._tcp.{n('svc6')} 5 IN SRV 0 100 80 {n('svc6')}"],
             extra=[f"{n('svc6')} 5 IN AAAA 1234:abcd::1"]),
        Case(n("hdls1"), "AAAA", answer=[f"{n('hdls1')} 5 IN AAAA 5678:abcd::1", f"{n('hdls1')} 5 IN AAAA 5678:abcd::2"]),
        nodata(s, "A", sz),
        nodata(f"pod.{z}", "A", sz),
        nodata(f"testns.{s}", "A", sz),
        nodata(s, "NS", sz),
        nodata(f"testns.{s}", "NS", sz),
        nx(f"foo.{z}", "NS", sz),
        nx(f"foo.{s}", "NS", sz),
        Case(n("svc-dual-stack"), "A", answer=[f"{n('svc-dual-stack')} 5 IN A 10.0.0.3"]),
        Case(n("svc-dual-stack"), "AAAA", answer=[f"{n('svc-dual-stack')} 5 IN AAAA 10::3"]),
        Case(n("svc-dual-stack"), "SRV", answer=[f"{n('svc-dual-stack')} 5 IN SRV 0 100 80 {n('svc-dual-stack')}"],
             extra=[f"{n('svc-dual-stack')} 5 IN A 10.0.0.3", f"{n('svc-dual-stack')} 5 IN AAAA 10::3"]),
        nodata(n("svc1"), "SOA", sz),
        nx(f"endpoint.{n('external')}", "CNAME", sz),
        nx(f"subdomain.subdomain.{n('external')}", "CNAME", sz),
    ]


def multicluster(z: str = "clusterset.local.") -> list[Case]:
    """multiclusterDnsTestCases: endpoints are named `<label>.<cluster>.<svc>...`."""
    h = f"hdls1.testns.svc.{z}"
    labels = [("172-0-0-2", "A", "172.0.0.2"), ("172-0-0-3", "A", "172.0.0.3"), ("5678-abcd--1", "AAAA", "5678:abcd::1"),
              ("5678-abcd--2", "AAAA", "5678:abcd::2"), ("dup-name", "A", "172.0.0.4"), ("dup-name", "A", "172.0.0.5")]
    return [
        Case(f"_http._tcp.{h}", "SRV",
             answer=[f"_http._tcp.{h} 5 IN SRV 0 20 80 {label}.cluster1.{h}" for label in dict.fromkeys(lb for lb, _, _ in labels)],
             extra=[f"{label}.cluster1.{h} 5 IN {t} {ip}" for label, t, ip in labels]),
        Case(h, "A", answer=[f"{h} 5 IN A 172.0.0.{i}" for i in (2, 3, 4, 5)]),
        Case(f"5678-abcd--2.cluster1.{h}", "AAAA", answer=[f"5678-abcd--2.cluster1.{h} 5 IN AAAA 5678:abcd::2"]),
        Case(f"5678-abcd--1.cluster1.{h}", "AAAA", answer=[f"5678-abcd--1.cluster1.{h} 5 IN AAAA 5678:abcd::1"]),
        Case(f"172-0-0-20.cluster1.hdlsprtls.testns.svc.{z}", "A",
             answer=[f"172-0-0-20.cluster1.hdlsprtls.testns.svc.{z} 5 IN A 172.0.0.20"]),
        # Without the cluster id the endpoint does not exist.
        nx(f"5678-abcd--1.{h}", "AAAA", soa(z)),
        Case(f"172-0-0-2.cluster1.{h}", "A", answer=[f"172-0-0-2.cluster1.{h} 5 IN A 172.0.0.2"]),
        Case(f"172-0-0-3.cluster1.{h}", "A", answer=[f"172-0-0-3.cluster1.{h} 5 IN A 172.0.0.3"]),
        Case(f"dup-name.cluster1.{h}", "A", answer=[f"dup-name.cluster1.{h} 5 IN A 172.0.0.4", f"dup-name.cluster1.{h} 5 IN A 172.0.0.5"]),
        # Another cluster, and the cluster-local forms, are not names here.
        nx(f"dup-name.cluster2.{h}", "A", soa(z)),
        nx(f"ep1a.svc1.testns.svc.{z}", "A", soa(z)),
        Case(f"ep1a.cluster1.svc1.testns.svc.{z}", "A", answer=[f"ep1a.cluster1.svc1.testns.svc.{z} 5 IN A 172.0.0.1"]),
        # An ExternalName Service has no ServiceImport: the clusterset name does not exist.
        nx(f"external.testns.svc.{z}", "CNAME", soa(z)),
    ]


CLUSTER_ONLY = [
    # The same names in cluster.local keep the cluster's own rules.
    Case("5678-abcd--1.hdls1.testns.svc.cluster.local.", "AAAA",
         answer=["5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1"]),
    nx("dup-name.cluster1.hdls1.testns.svc.cluster.local.", "A"),
    Case("external.testns.svc.cluster.local.", "CNAME",
         answer=["external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test."]),
]

README_CASES = common("cluster.local.") + CLUSTER_ONLY + common("clusterset.local.") + multicluster()


def mc_handler(**kw: object):  # type: ignore[no-untyped-def]
    return handler(Config(zones=ZONES, multicluster=("clusterset.local.",), **kw), paths=(MCS,))  # type: ignore[arg-type]


@pytest.mark.parametrize("case", README_CASES, ids=str)
async def test_table(case: Case) -> None:
    check(case, await ask(mc_handler(), case.qname, case.qtype))


async def test_coredns_multicluster_serve_dns_with_the_cluster_zone_as_multicluster_zone() -> None:
    # TestMultiClusterServeDNS: `multicluster cluster.local`, every answer from ServiceImports.
    h = handler(Config(zones=("cluster.local.",), multicluster=()), paths=(MCS,))
    for case in common("cluster.local.") + multicluster("cluster.local."):
        if "external" in case.qname and case.rcode == "NOERROR":
            continue
        check(case, await ask(h, case.qname, case.qtype))


def test_config() -> None:
    config = plugin_config("kubernetes", "    kubernetes cluster.local clusterset.local {\n        multicluster clusterset.local\n    }")
    assert config.multicluster == ("clusterset.local.",)
    assert config.multicluster_zones(config.zones) == ("clusterset.local.",)
    # Without zones: every zone of the plugin (CoreDNS OriginsFromArgsOrServerBlock).
    config = plugin_config("kubernetes", "    kubernetes cluster.local {\n        multicluster\n    }")
    assert config.multicluster_zones(config.zones) == ("cluster.local.",)
    assert plugin_config("kubernetes", "    kubernetes cluster.local").multicluster_zones(("cluster.local.",)) == ()
    with pytest.raises(ConfigError, match=r"Corefile:4.*multicluster zone 'clusterset.local.' is not one of the plugin's zones"):
        plugin_config("kubernetes", "    kubernetes cluster.local {\n        multicluster clusterset.local\n    }")


def test_index_tags_of_imports_and_imported_slices() -> None:
    h = mc_handler()
    index = h.index
    assert "ServiceImport" in index.kinds
    imported = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "imported-svc1-cluster2", "namespace": "testns",
                     "labels": {"multicluster.kubernetes.io/service-name": "svc1", "multicluster.kubernetes.io/source-cluster": "cluster2"}},
        "endpoints": [{"addresses": ["172.0.1.1"]}],
    }
    assert index.apply("EndpointSlice", "ADDED", imported) == {("mcs", "testns", "svc1"), SOA_TAG}
    assert isinstance(index.imports, ServiceImports)
    assert [a.label for a in index.imports.endpoints("testns", "svc1").addresses] == ["ep1a.cluster1", "172-0-1-1.cluster2"]
    # Not ready any more: the import's names change, the cluster's service is untouched.
    imported["endpoints"] = [{"addresses": ["172.0.1.1"], "conditions": {"ready": False}}]
    assert index.apply("EndpointSlice", "MODIFIED", imported) == {("mcs", "testns", "svc1"), SOA_TAG}
    si = {"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceImport",
          "metadata": {"name": "new", "namespace": "testns"}, "spec": {"type": "ClusterSetIP", "ips": ["10.0.9.9"]}}
    assert index.apply("ServiceImport", "ADDED", si) == {("mcs", "testns", "new"), SOA_TAG}
    assert index.apply("ServiceImport", "MODIFIED", si) == set()
    with pytest.raises(ValueError, match="neither ClusterSetIP nor Headless"):
        index.apply("ServiceImport", "MODIFIED", {**si, "spec": {"type": "Wrong"}})


def readme_example(option: str, fixtures: Path = MCS) -> str:
    """The example of kdns's kubernetes README using option, served from fixtures on a free port."""
    import re

    import kdns.plugins.kubernetes as pkg

    readme = (Path(pkg.__file__).parent / "README.md").read_text()
    (text,) = [t for t in re.findall(r"~~~ corefile\n(.*?)~~~", readme, re.S) if f" {option}" in t]
    line = next(line for line in text.splitlines() if line.strip().startswith(option))
    indent = line[: len(line) - len(line.lstrip())]
    return text.replace(".:53", ".:0").replace(line, f"{line}\n{indent}manifests {fixtures}")


COREFILE = readme_example("multicluster")


async def served(corefile: str, cases: list[Case], tcp: bool) -> None:
    """Each case asked of a kdns serving corefile, with dnspython over UDP or TCP."""
    async with kdns_server(corefile) as server:
        for case in cases:
            # EDNS: the SRV answers with their targets' addresses are larger than 512 bytes.
            msg = await server.query(case.qname, case.qtype, tcp=tcp, use_edns=0, payload=1232)
            assert dns.rcode.to_text(msg.rcode()) == case.rcode, case
            assert msg.flags & dns.flags.AA, case
            assert rrs(msg.answer) == expected(case.answer), case
            assert rrs(msg.additional) == expected(case.extra), case
            assert len(msg.authority) == len(case.ns), case


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_readme_example_over_sockets(tcp: bool) -> None:
    await served(COREFILE, README_CASES, tcp)


async def test_dig_srv_names_the_cluster() -> None:
    async with kdns_server(COREFILE) as server:
        out = await server.dig("+short", "SRV", "_http._tcp.svc1.testns.svc.clusterset.local")
        assert out.split() == ["0", "100", "80", "svc1.testns.svc.clusterset.local."]
        out = await server.dig("+short", "A", "ep1a.cluster1.svc1.testns.svc.clusterset.local")
        assert out.split() == ["172.0.0.1"]


# -- live: a ServiceImport and its slices change through the fake API --------------------------


@pytest.fixture
def fast_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    from kdns.plugins.kubernetes import apisource
    from plugins.kubernetes.test_k8s_live import FAST

    monkeypatch.setattr(apisource, "DEFAULT_SETTINGS", FAST)


def service_import(name: str, ns: str, kind: str = "ClusterSetIP", ips: tuple[str, ...] = ()) -> dict:
    return {"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceImport", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": kind, "ips": list(ips), "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}}


def imported_slice(name: str, ns: str, service: str, cluster: str, ips: list[str]) -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns, "labels": {
            "multicluster.kubernetes.io/service-name": service, "multicluster.kubernetes.io/source-cluster": cluster}},
        "addressType": "IPv4", "endpoints": [{"addresses": [ip]} for ip in ips],
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
    }


@pytest.mark.usefixtures("fast_watch")
async def test_service_import_and_slice_changes_are_answered_at_once() -> None:
    from plugins.kubernetes.test_k8s_live import becomes, cached, live_api, on_fast_path

    async with live_api() as api, kdns_server(f"""
        .:0 {{
            kubernetes cluster.local clusterset.local {{
                endpoint {api.url}
                multicluster clusterset.local
                startup_timeout 2s
            }}
        }}
        """) as server:
        web, web_set = "web.demo.svc.cluster.local.", "web.demo.svc.clusterset.local."
        hl_set = "db.demo.svc.clusterset.local."
        await cached(server, web, "A", "NOERROR", {"10.98.75.229"})
        await cached(server, web_set, "A", "NXDOMAIN", set())
        await cached(server, hl_set, "A", "NXDOMAIN", set())

        api.create(service_import("web", "demo", ips=("10.100.0.1",)))
        await becomes(server, web_set, "A", "NOERROR", {"10.100.0.1"})
        # Exactly the clusterset names were dropped: the cluster's own answer stayed packed.
        assert on_fast_path(server, web, "A") and on_fast_path(server, hl_set, "A")
        await cached(server, web_set, "A", "NOERROR", {"10.100.0.1"})

        api.create(service_import("db", "demo", kind="Headless"))
        await becomes(server, hl_set, "A", "NXDOMAIN", set())  # no endpoints yet
        await cached(server, f"x.cluster-a.{hl_set}", "A", "NXDOMAIN", set())
        api.create(imported_slice("db-a", "demo", "db", "cluster-a", ["10.1.0.1", "10.1.0.2"]))
        api.create(imported_slice("db-b", "demo", "db", "cluster-b", ["10.2.0.1"]))
        await becomes(server, hl_set, "A", "NOERROR", {"10.1.0.1", "10.1.0.2", "10.2.0.1"})
        await becomes(server, f"10-2-0-1.cluster-b.{hl_set}", "A", "NOERROR", {"10.2.0.1"})
        await cached(server, f"_http._tcp.{hl_set}", "SRV", "NOERROR", {
            f"0 33 8080 10-1-0-1.cluster-a.{hl_set}", f"0 33 8080 10-1-0-2.cluster-a.{hl_set}", f"0 33 8080 10-2-0-1.cluster-b.{hl_set}"})
        assert on_fast_path(server, web_set, "A") and on_fast_path(server, web, "A")

        api.delete("EndpointSlice", "db-a", namespace="demo")
        await becomes(server, hl_set, "A", "NOERROR", {"10.2.0.1"})
        await becomes(server, f"_http._tcp.{hl_set}", "SRV", "NOERROR", {f"0 100 8080 10-2-0-1.cluster-b.{hl_set}"})
        api.delete("ServiceImport", "web", namespace="demo")
        await becomes(server, web_set, "A", "NXDOMAIN", set())
        assert on_fast_path(server, web, "A")
