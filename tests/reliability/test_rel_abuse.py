"""Abuse, CI-sized: ANY, zone transfers, amplification, a TCP flood, random deep names."""

from __future__ import annotations

from chaos import abuse
from chaos.common import CI


async def test_any_is_minimal_with_the_any_plugin_and_nodata_without() -> None:
    result = await abuse.run_any(CI)
    assert result.ok, result.failures
    # Without `any` (kubeadm's Corefile), cluster names answer ANY as CoreDNS's kubernetes plugin
    # does: NODATA for a name that exists, NXDOMAIN for one that does not; no records listed.
    assert result.figures["without any: svc1.ns1.svc.cluster.local."].startswith("NOERROR, 0 answers")
    assert result.figures["without any: missing.ns1.svc.cluster.local."].startswith("NXDOMAIN, 0 answers")


async def test_zone_transfers_are_refused() -> None:
    result = await abuse.run_transfers(CI)
    assert result.ok, result.failures
    assert result.sent == 12


async def test_no_answer_is_larger_than_the_asker_allows() -> None:
    result = await abuse.run_amplification(CI)
    assert result.ok, result.failures
    assert result.figures["answers with TC"] > 0  # the big answers really were too big for some


async def test_tcp_flood_is_capped_and_udp_goes_on() -> None:
    result = await abuse.run_tcp_flood(CI, cap=500)
    assert result.ok, (result.failures, result.figures)
    assert result.figures["connections opened"] == CI.flood_connections
    assert result.figures["held by the server"] == 500


async def test_deep_random_names_cost_a_plain_miss_and_the_table_stays_bounded() -> None:
    result = await abuse.run_deep_names(CI)
    assert result.ok, (result.failures, result.figures)
    assert result.figures["plain miss (answers, authority, additional)"] == "(0, 1, 0)"
