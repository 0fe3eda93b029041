"""Upstreams misbehaving, CI-sized: no wrong answer reaches a client; serve_stale serves."""

from __future__ import annotations

from chaos import upstream
from chaos.common import CI


async def test_no_wrong_answer_from_a_misbehaving_upstream() -> None:
    result = await upstream.run_misbehaving(CI)
    assert result.ok, (result.failures, result.figures)
    assert result.figures["dead"] == "servfail 11"
    assert result.figures["only spoofed port"] == "servfail 11"
    assert result.figures["wrong ID then truth"] == "ok 11"


async def test_serve_stale_answers_when_the_upstream_dies() -> None:
    result = await upstream.run_serve_stale(CI)
    assert result.ok, (result.failures, result.figures)
