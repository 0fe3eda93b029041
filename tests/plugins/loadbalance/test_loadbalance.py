from __future__ import annotations

import itertools

import pytest
from dnslib import QTYPE, RCODE, RR

from kdns.errors import ConfigError
from kdns.plugins.loadbalance.config import parse
from kdns.plugins.loadbalance.handler import Handler
from kdns.response import Response
from tests.upstreams import directive, request


def config(body: str):
    return parse(directive(". {\n" + body + "\n}\n", "loadbalance"))


def backend(records: list[str], rcode: int = RCODE.NOERROR, tags=None, auth: list[str] | None = None):
    served: list[Response] = []

    async def answer(req):
        msg = req.reply(rcode)
        for text in records:
            msg.add_answer(*RR.fromZone(text))
        for text in auth or []:
            msg.add_auth(*RR.fromZone(text))
        resp = Response(msg, plugin="backend", tags=tags)
        served.append(resp)
        return resp

    return answer, served


THREE = [f"web.example.org. 30 IN A 10.0.0.{i}" for i in (1, 2, 3)]


def order(resp) -> tuple[str, ...]:
    return tuple(str(rr.rdata) for rr in resp.msg.rr)


async def test_every_order_of_three_addresses_appears():
    answer, served = backend(THREE)
    h = Handler(answer, config("loadbalance"))
    seen = set()
    for _ in range(300):
        seen.add(order(await h(request("web.example.org."))))
    # 6 orders, each with probability 1/6 per query: missing one in 300 has probability < 1e-22.
    assert seen == set(itertools.permutations(("10.0.0.1", "10.0.0.2", "10.0.0.3")))
    # Shuffled on a copy: what next() returned is untouched.
    assert all(order(r) == ("10.0.0.1", "10.0.0.2", "10.0.0.3") for r in served)


async def test_first_position_roughly_uniform():
    answer, _ = backend(THREE)
    h = Handler(answer, config("loadbalance round_robin"))
    firsts = {"10.0.0.1": 0, "10.0.0.2": 0, "10.0.0.3": 0}
    for _ in range(600):
        firsts[order(await h(request("web.example.org.")))[0]] += 1
    # Each expected 200; 120 is more than 6 standard deviations (sd ~11.5) away.
    assert all(120 < n < 280 for n in firsts.values()), firsts


async def test_cname_stays_first_and_aaaa_shuffled():
    records = ["alias.example.org. 30 IN CNAME web.example.org."] + [
        f"web.example.org. 30 IN AAAA 2001:db8::{i}" for i in (1, 2)
    ]
    answer, _ = backend(records)
    h = Handler(answer, config("loadbalance"))
    seen = set()
    for _ in range(100):
        resp = await h(request("alias.example.org.", "AAAA"))
        assert QTYPE.get(resp.msg.rr[0].rtype) == "CNAME"
        seen.add(order(resp)[1:])
    assert seen == {("2001:db8::1", "2001:db8::2"), ("2001:db8::2", "2001:db8::1")}


async def test_cname_moved_before_addresses():
    records = ["web.example.org. 30 IN A 10.0.0.1", "alias.example.org. 30 IN CNAME web.example.org."]
    answer, _ = backend(records)
    resp = await Handler(answer, config("loadbalance"))(request("alias.example.org."))
    assert [QTYPE.get(rr.rtype) for rr in resp.msg.rr] == ["CNAME", "A"]


async def test_single_record_and_errors_pass_unchanged():
    answer, served = backend(THREE[:1])
    h = Handler(answer, config("loadbalance"))
    assert await h(request("web.example.org.")) is served[-1]
    answer, served = backend([], rcode=RCODE.NXDOMAIN)
    h = Handler(answer, config("loadbalance"))
    assert await h(request("web.example.org.")) is served[-1]


async def test_tags_kept_on_the_shuffled_copy():
    tags = frozenset({"svc"})
    answer, _ = backend(THREE, tags=tags)
    resp = await Handler(answer, config("loadbalance"))(request("web.example.org."))
    assert resp.tags == tags


async def test_limit_answers():
    answer, _ = backend(THREE)
    h = Handler(answer, config("loadbalance round_robin {\n limit_answers 2\n}"))
    seen = set()
    for _ in range(200):
        resp = await h(request("web.example.org."))
        assert len(resp.msg.rr) == 2
        seen.update(order(resp))
    assert seen == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}


@pytest.mark.parametrize(
    "body, message",
    [
        ("loadbalance weighted /etc/weights", "not supported by kdns"),
        ("loadbalance fastest", "unknown policy"),
        ("loadbalance round_robin {\n limit_answers 0\n}", "greater than zero"),
        ("loadbalance round_robin {\n reload 10s\n}", "weighted"),
        ("loadbalance round_robin {\n bogus\n}", "unknown property 'bogus'"),
        ("loadbalance round_robin {\n limit_answers ²\n}", "'²' is not a number"),
        ("loadbalance round_robin {\n limit_answers -1\n}", "greater than zero"),
        ("loadbalance round_robin {\n limit_answers 2 {\n x\n }\n}", "'limit_answers' takes no block"),
        ("loadbalance round_robin extra", "wrong argument count"),
        ("loadbalance weighted /etc/weights 5s extra", "not supported by kdns"),
    ],
)
def test_config_errors(body, message):
    with pytest.raises(ConfigError, match=message) as e:
        config(body)
    assert e.value.file == "Corefile" and e.value.directive == "loadbalance"
