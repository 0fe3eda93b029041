"""`zonal`: CoreDNS's zonal_test.go table (TestServeDNSZonal, TestRecordTopologyZones) and the
README example, over real sockets; zone changes reach cached answers at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugins.kubernetes.k8s_cases import Case, ask, check, handler, nodata, nx, soa

from kdns.errors import ConfigError
from kdns.plugins.kubernetes.config import Config

pytest.importorskip("kdns.server.app")

from conftest import kdns_server, plugin_config  # noqa: E402

ZONAL = Path(__file__).parent / "fixtures_zonal"
H = "hdls.testns.svc.cluster.local."

CASES = [
    # Endpoints narrowed to the requested zone (not-ready and zone-less endpoints never match).
    Case(f"us-west-2a._zone.{H}", "A", answer=[f"us-west-2a._zone.{H} 5 IN A 172.0.0.1"]),
    Case(f"us-west-2b._zone.{H}", "A", answer=[f"us-west-2b._zone.{H} 5 IN A 172.0.0.2", f"us-west-2b._zone.{H} 5 IN A 172.0.0.3"]),
    # A real zone the service has no endpoints in: NODATA, not NXDOMAIN.
    nodata(f"us-west-2c._zone.{H}", "A"),
    # A label that is not a zone keeps its NXDOMAIN (search-path safety).
    nx(f"db._zone.{H}", "A"),
    # Zone-scoped names are defined for headless services only.
    nx("us-west-2a._zone.clstr.testns.svc.cluster.local.", "A"),
    nodata(f"us-west-2c._zone.{H}", "TXT"),
    nx(f"db._zone.{H}", "TXT"),
    # SRV comes out zone-filtered too, targets named under the service.
    Case(f"us-west-2b._zone.{H}", "SRV",
         answer=[f"us-west-2b._zone.{H} 5 IN SRV 0 50 80 172-0-0-2.{H}", f"us-west-2b._zone.{H} 5 IN SRV 0 50 80 172-0-0-3.{H}"],
         extra=[f"172-0-0-2.{H} 5 IN A 172.0.0.2", f"172-0-0-3.{H} 5 IN A 172.0.0.3"]),
    nodata(f"us-west-2a._zone.{H}", "AAAA"),
    # Zone labels are matched as every name is: case-insensitively.
    Case(f"US-West-2A._zone.{H}", "A", answer=[f"US-West-2A._zone.{H} 5 IN A 172.0.0.1"]),
    # The service and the namespace must exist.
    nx("us-west-2a._zone.nope.testns.svc.cluster.local.", "A"),
    nx("us-west-2a._zone.hdls.nope.svc.cluster.local.", "A"),
]
# Without the option the same name is no name at all, as before the feature.
DISABLED = [nx(f"us-west-2a._zone.{H}", "A"), nx(f"us-west-2c._zone.{H}", "A")]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_zonal(case: Case) -> None:
    check(case, await ask(handler(Config(zones=("cluster.local.",), zonal=True), paths=(ZONAL,)), case.qname, case.qtype))


@pytest.mark.parametrize("case", DISABLED, ids=str)
async def test_zonal_disabled(case: Case) -> None:
    check(case, await ask(handler(Config(zones=("cluster.local.",)), paths=(ZONAL,)), case.qname, case.qtype))


async def test_not_inside_multicluster_zones() -> None:
    config = Config(zones=("cluster.local.", "clusterset.local."), zonal=True, multicluster=("clusterset.local.",))
    h = handler(config, paths=(ZONAL,))
    check(CASES[0], await ask(h, CASES[0].qname, "A"))
    case = nx("us-west-2a._zone.hdls.testns.svc.clusterset.local.", "A", soa("clusterset.local."))
    check(case, await ask(h, case.qname, "A"))


def test_record_topology_zones() -> None:
    # TestRecordTopologyZones: slices register their zones as they come; the set only grows.
    h = handler(Config(zones=("cluster.local.",), zonal=True), load=False)
    index = h.index
    sl = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
          "metadata": {"name": "s", "namespace": "testns", "labels": {"kubernetes.io/service-name": "hdls"}},
          "endpoints": [{"addresses": ["172.0.0.1"], "zone": "us-west-2a"}]}
    assert ("zone", "us-west-2a") in index.apply("EndpointSlice", "ADDED", sl)
    assert index.zone_known("us-west-2a")
    sl["endpoints"][0]["zone"] = "us-west-2b"
    touched = index.apply("EndpointSlice", "MODIFIED", sl)
    assert ("zone", "us-west-2b") in touched and ("zone", "us-west-2a") not in touched
    # The merged endpoints are the same; the zonal names of the service changed all the same.
    assert ("zonal", "testns", "hdls") in touched and ("svc", "testns", "hdls") not in touched
    assert index.zone_known("us-west-2b") and index.zone_known("us-west-2a")  # add-only
    index.apply("EndpointSlice", "DELETED", sl)
    assert index.zone_known("us-west-2b")
    off = handler(Config(zones=("cluster.local.",)), load=False).index
    assert not any(tag[0] == "zone" for tag in off.apply("EndpointSlice", "ADDED", sl))
    assert not off.zone_known("us-west-2b")


async def test_a_zonal_answer_follows_readiness_hidden_by_another_slice() -> None:
    # While the EndpointSlice controller moves an endpoint, its address can be in two slices (here
    # in two zones): the service's merged endpoints do not change when one copy turns not ready,
    # its zonal names do, so a cached zonal answer must be dropped all the same.
    h = handler(Config(zones=("cluster.local.",), zonal=True), paths=(ZONAL,))

    def copy_in(slice_name: str, zone: str, ready: bool) -> dict:
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": slice_name, "namespace": "testns", "labels": {"kubernetes.io/service-name": "hdls"}},
                "endpoints": [{"addresses": ["172.0.0.9"], "zone": zone, "conditions": {"ready": ready}}]}

    h.index.apply("EndpointSlice", "ADDED", copy_in("move-a", "us-west-2a", True))
    h.index.apply("EndpointSlice", "ADDED", copy_in("move-b", "us-west-2b", True))
    name = f"us-west-2a._zone.{H}"
    before = await ask(h, name, "A")
    assert "172.0.0.9" in {str(rr.rdata) for rr in before.msg.rr}
    touched = h.index.apply("EndpointSlice", "MODIFIED", copy_in("move-a", "us-west-2a", False))
    assert ("svc", "testns", "hdls") not in touched  # the merged endpoints are the same
    assert before.tags is not None and before.tags & touched
    assert "172.0.0.9" not in {str(rr.rdata) for rr in (await ask(h, name, "A")).msg.rr}


def test_config() -> None:
    assert plugin_config("kubernetes", "    kubernetes cluster.local {\n        zonal\n    }").zonal
    assert not plugin_config("kubernetes", "    kubernetes cluster.local").zonal
    with pytest.raises(ConfigError, match=r"Corefile:4"):
        plugin_config("kubernetes", "    kubernetes cluster.local {\n        zonal yes\n    }")


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_readme_example_over_sockets(tcp: bool) -> None:
    from plugins.kubernetes.test_k8s_multicluster import readme_example, served

    await served(readme_example("zonal", ZONAL), CASES, tcp)


@pytest.fixture
def fast_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    from kdns.plugins.kubernetes import apisource
    from plugins.kubernetes.test_k8s_live import FAST

    monkeypatch.setattr(apisource, "DEFAULT_SETTINGS", FAST)


@pytest.mark.usefixtures("fast_watch")
async def test_zone_changes_are_answered_at_once() -> None:
    from plugins.kubernetes.test_k8s_live import becomes, cached, endpoint_slice, live_api, on_fast_path

    async with live_api() as api, kdns_server(f"""
        .:0 {{
            kubernetes cluster.local {{
                endpoint {api.url}
                zonal
                startup_timeout 2s
            }}
        }}
        """) as server:
        hl = "hl.live.svc.cluster.local."
        a, b = f"zone-a._zone.{hl}", f"zone-b._zone.{hl}"
        # The recorded demo slices are in zone-a (hl's have no zone: NODATA); nothing is in zone-b.
        await cached(server, a, "A", "NOERROR", set())
        await cached(server, b, "A", "NXDOMAIN", set())
        await cached(server, hl, "A", "NOERROR", {"10.244.5.1", "10.244.5.2"})

        # Another service's endpoint makes zone-b a zone: hl's name turns NODATA at once.
        slice_b = endpoint_slice("other-b", "live", "other", [{"addresses": ["10.244.9.9"], "zone": "zone-b"}])
        api.create(slice_b)
        await becomes(server, b, "A", "NOERROR", set())
        assert on_fast_path(server, hl, "A")  # the plain name was not touched

        # hl's endpoints move into zones: its zonal names follow, the plain name stays packed.
        slices = {s["metadata"]["name"]: s for s in api.objects("EndpointSlice") if s["metadata"]["namespace"] == "live"}
        eps = slices["hl-v4"]["endpoints"]
        api.patch("EndpointSlice", "hl-v4", {"endpoints": [{**eps[0], "zone": "zone-b"}, *eps[1:]]}, namespace="live")
        await becomes(server, b, "A", "NOERROR", {"10.244.5.1"})
        assert on_fast_path(server, hl, "A")
