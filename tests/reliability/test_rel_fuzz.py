"""Bad packets, CI-sized: 20,000 into the parser, thousands at a running server, garbage on TCP.
The long run is `python -m chaos` (1,000,000 parser inputs); see docs/reliability.md."""

from __future__ import annotations

import random

import dns.message

from chaos import fuzz
from chaos.common import CI
from chaos.packets import GENERATORS, answer_limit, bad_packet, check_answer, question_of
from kdns.errors import WireError
from kdns.server import wire


def test_parser_survives_twenty_thousand_bad_packets() -> None:
    result = fuzz.run_parser(CI)
    assert result.sent >= 20_000
    assert result.ok, result.failures
    # The generators reach both sides of the parser: a fuzz that only makes garbage proves little.
    assert result.figures["accepted"] > 1_000 and result.figures["rejected"] > 10_000


def test_every_generator_makes_packets_the_parser_rejects() -> None:
    rng = random.Random(1)
    for gen in GENERATORS:
        outcomes = set()
        for _ in range(300):
            try:
                wire.parse_query(gen(rng))
                outcomes.add("accepted")
            except WireError as e:
                outcomes.add(type(e).__name__)
        assert outcomes - {"accepted"}, f"{gen.__name__} never makes a bad packet"


def test_the_reference_reader_catches_what_the_parser_must_reject() -> None:
    """The harness's own checks can fail: pointer loops and long names are None to the reference,
    a truncated answer or one without QR is reported."""
    header = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    assert question_of(header + b"\xc0\x0c\x00\x01\x00\x01") is None
    assert question_of(header + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01") is None
    good = dns.message.make_query("a.example.", "A").to_wire()
    assert question_of(good) == ((b"a", b"example"), 1, 1)
    answer = dns.message.make_response(dns.message.from_wire(good)).to_wire()
    assert check_answer(answer) is None
    assert check_answer(answer[:-2]) is not None
    assert check_answer(good) == "answer without QR"
    assert answer_limit(dns.message.make_query("a.", "A", use_edns=0, payload=4000).to_wire()) == 4000
    assert answer_limit(dns.message.make_query("a.", "A", use_edns=0, payload=100).to_wire()) == 512
    assert answer_limit(bad_packet(random.Random(3))[:5]) == 512


async def test_server_survives_bad_packets_and_keeps_answering() -> None:
    result = await fuzz.run_server(CI)
    assert result.ok, result.failures
    assert result.figures["UDP answers"] > 1_000
    assert result.figures["good queries"] > 10


async def test_tcp_garbage_is_cut_off_and_service_goes_on() -> None:
    result = await fuzz.run_tcp_garbage(CI)
    assert result.ok, (result.failures, result.figures)
    assert result.figures["good queries during"] > 20
