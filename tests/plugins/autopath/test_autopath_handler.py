"""The autopath handler against a scripted next plugin (CoreDNS plugin/autopath/autopath_test.go),
and the kubernetes plugin's search paths (CoreDNS plugin/kubernetes/autopath_test.go) as tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from dnslib import RCODE, RR, DNSRecord

import kdns.plugins.kubernetes.handler as kubernetes_handler
from kdns.plugins.autopath.config import Config
from kdns.plugins.autopath.handler import Handler
from kdns.plugins.kubernetes.config import Config as KubernetesConfig
from kdns.plugins.kubernetes.handler import Handler as Kubernetes
from kdns.plugins.kubernetes.manifests import ManifestSource
from kdns.request import Request
from kdns.response import Response
from kdns.server.wire import parse_query

FIXTURES = Path(__file__).parent / "fixtures"
SOA = "example.org. 1800 IN SOA example.org. example.org. 1502165581 14400 3600 604800 14400"


class ScriptedNext:
    """CoreDNS's nextHandler: NXDOMAIN or `qname 3600 IN A 127.0.0.53` per name, SERVFAIL otherwise."""

    def __init__(self, rcodes: dict[str, str]) -> None:
        self.rcodes = rcodes
        self.asked: list[str] = []

    async def __call__(self, req: Request) -> Response:
        self.asked.append(req.qname)
        rcode = self.rcodes.get(req.qname)
        reply = DNSRecord.question(req.qname, req.type_name).reply()
        if rcode is None:
            reply.header.rcode = RCODE.SERVFAIL
        elif rcode == "NXDOMAIN":
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(*RR.fromZone(SOA))
        else:
            reply.add_answer(*RR.fromZone(f"{req.qname} 3600 IN A 127.0.0.53"))
        return Response(reply, plugin="next", tags={("test", req.qname)})


def query(name: str, qtype: str = "A") -> Request:
    req = parse_query(DNSRecord.question(name, qtype).pack())
    req.server = "dns://127.0.0.1:53"
    return req


def autopath(next: ScriptedNext, search: tuple[str, ...]) -> Handler:
    return Handler(next, Config(search=search))


def answer_text(resp: Response) -> list[str]:
    """The answer section in order (the CNAME must come first), as zone text."""
    return [" ".join(rr.toZone().split()) for rr in resp.msg.rr]


NEXT = {"b.example.org.": "NXDOMAIN", "b.com.": "NOERROR", "a.example.com.": "NOERROR"}
SEARCH = ("example.org.", "example.com.", "com.", "")


async def test_search_path_expansion() -> None:
    next = ScriptedNext(NEXT)
    resp = await autopath(next, SEARCH)(query("b.example.org."))
    assert resp.rcode == RCODE.NOERROR
    assert answer_text(resp) == ["b.example.org. 3600 IN CNAME b.com.", "b.com. 3600 IN A 127.0.0.53"]
    assert str(resp.msg.questions[0].qname) == "b.example.org."
    assert next.asked == ["b.example.org.", "b.example.com.", "b.com."]
    # A file's search path is every client's: the answer is stored while both replies are.
    assert resp.tags == {("test", "b.example.org."), ("test", "b.example.com."), ("test", "b.com.")}


async def test_no_search_path_expansion() -> None:
    next = ScriptedNext(NEXT)
    resp = await autopath(next, SEARCH)(query("a.example.com."))
    assert answer_text(resp) == ["a.example.com. 3600 IN A 127.0.0.53"]
    assert next.asked == ["a.example.com."]


async def test_no_answer_gives_the_first_reply() -> None:
    # TestAutoPathNoAnswer: nothing written for any candidate (SERVFAIL): no answer for the client.
    next = ScriptedNext(NEXT)
    resp = await autopath(next, SEARCH)(query("c.example.org."))
    assert resp.rcode == RCODE.SERVFAIL
    assert next.asked == ["c.example.org.", "c.example.com.", "c.com.", "c."]


async def test_all_nxdomain_gives_the_first_reply() -> None:
    next = ScriptedNext({"d.example.org.": "NXDOMAIN", "d.example.com.": "NXDOMAIN", "d.com.": "NXDOMAIN",
                         "d.": "NXDOMAIN"})
    resp = await autopath(next, SEARCH)(query("d.example.org."))
    assert resp.rcode == RCODE.NXDOMAIN
    assert [str(rr.rname) for rr in resp.msg.auth] == ["example.org."]
    assert not resp.msg.rr


async def test_nodata_counts_as_found() -> None:
    async def nodata_next(req: Request) -> Response:
        reply = DNSRecord.question(req.qname, req.type_name).reply()
        if req.qname != "e.example.com.":
            reply.header.rcode = RCODE.NXDOMAIN
        reply.add_auth(*RR.fromZone(SOA))
        return Response(reply, plugin="next")

    resp = await Handler(nodata_next, Config(search=SEARCH))(query("e.example.org."))
    assert (resp.rcode, resp.msg.rr, str(resp.msg.questions[0].qname)) == (RCODE.NOERROR, [], "e.example.org.")


async def test_the_clients_spelling_is_kept() -> None:
    next = ScriptedNext({"B.Example.Org.": "NXDOMAIN", "B.example.com.": "NOERROR"})
    resp = await autopath(next, SEARCH)(query("B.Example.Org."))
    assert answer_text(resp) == ["B.Example.Org. 3600 IN CNAME B.example.com.", "B.example.com. 3600 IN A 127.0.0.53"]


# TestInSearchPath: which names start the search (the first element or below it).
@pytest.mark.parametrize(
    "qname, searched",
    [
        ("google.com.", False),
        ("a.default.svc.cluster.local.", True),
        ("a.b.svc.cluster.local.", False),
        # The first element itself has no name to complete. CoreDNS answers SERVFAIL here
        # ("trimzone: overshot"); kdns passes it on.
        ("default.svc.cluster.local.", False),
    ],
)
async def test_in_search_path(qname: str, searched: bool) -> None:
    search = ("default.svc.cluster.local.", "svc.cluster.local.", "cluster.local.", "")
    next = ScriptedNext({})
    await autopath(next, search)(query(qname))
    if searched:
        base = qname[: -len(search[0]) - 1]
        assert next.asked == [f"{base}.{s}" if s else f"{base}." for s in search]
    else:
        assert next.asked == [qname]


async def test_outside_its_zones_it_passes_on() -> None:
    next = ScriptedNext(NEXT)
    h = Handler(next, Config(zones=("cluster.local.",), search=SEARCH))
    resp = await h(query("b.example.org."))
    assert resp.rcode == RCODE.NXDOMAIN and next.asked == ["b.example.org."]


async def test_a_candidate_too_long_to_ask_is_skipped() -> None:
    long_base = ".".join(["x" * 60] * 3)  # 183 octets: with example.org. it fits in 255, with an 83-octet domain not
    far = "y" * 60 + "." + "z" * 20 + "."
    next = ScriptedNext({f"{long_base}.example.org.": "NXDOMAIN", f"{long_base}.com.": "NOERROR"})
    resp = await autopath(next, ("example.org.", far, "com.", ""))(query(f"{long_base}.example.org."))
    assert next.asked == [f"{long_base}.example.org.", f"{long_base}.com."]
    assert resp.rcode == RCODE.NOERROR


# plugin/kubernetes/autopath_test.go: the search path of the pod behind a query.
CUSTOM = ("custom.", "")
TESTNS = ("testns.svc.interwebs.test.", "svc.interwebs.test.", "interwebs.test.") + CUSTOM
OTHER = ("other.svc.interwebs.test.", "svc.interwebs.test.", "interwebs.test.") + CUSTOM
ROOT_TESTNS = ("testns.svc.", "svc.", ".") + CUSTOM

KUBERNETES_CASES = [
    # (qname, client address, zone, search path)
    ("svc1.testns.svc.interwebs.test.testns.svc.interwebs.test.", "10.240.0.1", "interwebs.test.", TESTNS),
    ("svc1.testns.svc.interwebs.test.", "10.240.0.1", "interwebs.test.", TESTNS),
    ("example.com.testns.svc.interwebs.test.", "10.240.0.1", "interwebs.test.", TESTNS),
    ("example.com.testns.svc.", "10.240.0.1", ".", ROOT_TESTNS),
    ("example.com.testns.svc.", "10.16.0.1", ".", ("other.svc.", "svc.", ".") + CUSTOM),
    ("example.com.other.svc.interwebs.test.", "10.16.0.1", "interwebs.test.", OTHER),
    ("example.com.svc.interwebs.test.", "10.240.0.1", "interwebs.test.", TESTNS),
    ("example.other.svc.interwebs.test.", "10.240.0.1", "interwebs.test.", TESTNS),
    ("example.testns.svc.interwebs.test.", "10.240.0.1", "interwebs.test.", TESTNS),
    ("example.other.svc.interwebs.test.", "10.16.0.1", "interwebs.test.", OTHER),
    # kdns's own rows: the pod's second address, an IPv4-mapped client, no pod, a pod not
    # running, a name outside the zone.
    ("x.svc.interwebs.test.", "fd00::16:1", "interwebs.test.", OTHER),
    ("x.svc.interwebs.test.", "::ffff:10.240.0.1", "interwebs.test.", TESTNS),
    ("x.svc.interwebs.test.", "10.240.0.2", "interwebs.test.", None),
    ("x.svc.interwebs.test.", "10.240.0.9", "interwebs.test.", None),
    ("example.com.", "10.240.0.1", "interwebs.test.", None),
]


@pytest.mark.parametrize("pods", ["disabled", "insecure", "verified"])
@pytest.mark.parametrize("qname, client, zone, expected", KUBERNETES_CASES)
def test_kubernetes_search_path(
    qname: str, client: str, zone: str, expected: tuple[str, ...] | None, pods: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.0.0.53\nsearch custom\n")
    monkeypatch.setattr(kubernetes_handler, "RESOLV_CONF", str(resolv))
    k = Kubernetes(ScriptedNext({}), KubernetesConfig(zones=(zone,), pods=pods))
    k.enable_autopath()
    assert "Pod" in k.index.kinds
    assert ManifestSource([str(FIXTURES / "interwebs.yaml")], k.index).reload()
    req = query(qname)
    req.client = (client, 40000)
    assert k.autopath(req) == expected

