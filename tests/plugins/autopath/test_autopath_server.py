"""autopath over real sockets: the README's two examples, clients bound to pod addresses.

The pods of fixtures/cluster.yaml live at 127.0.0.x: a client socket bound to 127.0.0.11 is the
pod client-a of namespace demo to kdns. Upstream is a real dnsmasq; the host's search list (which
ends every pod's search path, as CoreDNS reads /etc/resolv.conf) is `corp.test`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import dns.asyncquery
import dns.message
import dns.rcode
import pytest
from conftest import RunningServer, kdns_server
from plugins.kubernetes.k8s_cases import records
from prometheus_client import REGISTRY
from upstreams import Dnsmasq, dnsmasq

import kdns.plugins.kubernetes.handler as kubernetes_handler

FIXTURES = Path(__file__).parent / "fixtures"
UPSTREAM_HOSTS = {"www.example.test": "192.0.2.10", "db.corp.test": "192.0.2.20", "www.b.test": "192.0.2.30"}
POD_A, POD_B, STARTING, FINISHED, NOT_A_POD = "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14", "127.0.0.1"
SOA = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 0 7200 1800 86400 5"
Z = "svc.cluster.local."


@pytest.fixture
async def upstream() -> AsyncIterator[Dnsmasq]:
    async with dnsmasq(UPSTREAM_HOSTS) as up:
        yield up


@pytest.fixture
def host_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resolv = tmp_path / "host-resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\nsearch corp.test\n")
    monkeypatch.setattr(kubernetes_handler, "RESOLV_CONF", str(resolv))


def kubernetes_corefile(upstream: Dnsmasq, pods: str = "disabled") -> str:
    return f"""
    . {{
        autopath @kubernetes
        kubernetes cluster.local {{
            manifests {FIXTURES / "cluster.yaml"}
            pods {pods}
        }}
        forward . {upstream.address}
    }}
    """


async def ask(server: RunningServer, source: str, name: str, qtype: str = "A", tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, qtype)
    if tcp:
        return await dns.asyncquery.tcp(q, server.host, port=server.port, source=source, timeout=3)
    return await dns.asyncquery.udp(q, server.host, port=server.port, source=source, timeout=3)


def in_order(lines: list[str]) -> list[tuple[str, int, int, str]]:
    """Zone text records in their order (a CNAME must come first), as k8s_cases.records() reads them."""
    return [record for line in lines for record in records([line])]


def section(rrsets: list[dns.rrset.RRset]) -> list[tuple[str, int, int, str]]:
    return in_order([line for rrset in rrsets for line in rrset.to_text().splitlines()])


# (client, qname, qtype, rcode, answer in order, authority)
CASES = [
    # An external name from a pod of demo: 8 queries of an ndots:5 search become this one.
    (POD_A, f"www.example.test.demo.{Z}", "A", "NOERROR",
     [f"www.example.test.demo.{Z} 60 IN CNAME www.example.test.", "www.example.test. 60 IN A 192.0.2.10"], []),
    # Found without data (NODATA) still ends the search.
    (POD_A, f"www.example.test.demo.{Z}", "AAAA", "NOERROR", [], None),
    # A service of another namespace: `api.other` completed by the second element.
    (POD_A, f"api.other.demo.{Z}", "A", "NOERROR",
     [f"api.other.demo.{Z} 5 IN CNAME api.other.{Z}", f"api.other.{Z} 5 IN A 10.96.0.20"], []),
    # The host's search list comes after the cluster's.
    (POD_A, f"db.demo.{Z}", "A", "NOERROR",
     [f"db.demo.{Z} 60 IN CNAME db.corp.test.", "db.corp.test. 60 IN A 192.0.2.20"], []),
    # The first candidate is the name asked: the plain answer.
    (POD_A, f"web.demo.{Z}", "A", "NOERROR", [f"web.demo.{Z} 5 IN A 10.96.0.10"], []),
    (POD_A, f"ext.demo.{Z}", "A", "NOERROR",
     [f"ext.demo.{Z} 5 IN CNAME www.example.test.", "www.example.test. 60 IN A 192.0.2.10"], []),
    # Nothing found anywhere: the first reply, and the client searches on by itself.
    (POD_A, f"nothing.test.demo.{Z}", "A", "NXDOMAIN", [], [SOA]),
    # Not the pod's first search element: passed on.
    (POD_A, f"www.example.test.other.{Z}", "A", "NXDOMAIN", [], [SOA]),
    (POD_A, f"demo.{Z}", "A", "NOERROR", [], [SOA]),
    # The other namespace's pod searches its own namespace first.
    (POD_B, f"www.example.test.demo.{Z}", "A", "NXDOMAIN", [], [SOA]),
    (POD_B, f"www.example.test.other.{Z}", "A", "NOERROR",
     [f"www.example.test.other.{Z} 60 IN CNAME www.example.test.", "www.example.test. 60 IN A 192.0.2.10"], []),
    # No running pod at these addresses: no search path.
    (NOT_A_POD, f"www.example.test.demo.{Z}", "A", "NXDOMAIN", [], [SOA]),
    (STARTING, f"www.example.test.demo.{Z}", "A", "NXDOMAIN", [], [SOA]),
    (FINISHED, f"www.example.test.demo.{Z}", "A", "NXDOMAIN", [], [SOA]),
]


@pytest.mark.parametrize("pods", ["disabled", "verified"])
async def test_kubernetes_search_paths(upstream: Dnsmasq, host_search: None, pods: str) -> None:
    """README example `autopath @kubernetes`, with and without `pods verified` (CoreDNS needs it)."""
    async with kdns_server(kubernetes_corefile(upstream, pods)) as server:
        # Every case twice, in both orders of clients: a client-dependent answer must never be
        # served to another client from the fast path.
        for cases in (CASES, list(reversed(CASES))):
            for client, qname, qtype, rcode, answer, authority in cases:
                for tcp in (False, True):
                    r = await ask(server, client, qname, qtype, tcp)
                    where = f"{qname} {qtype} from {client} ({'tcp' if tcp else 'udp'})"
                    assert dns.rcode.to_text(r.rcode()) == rcode, where
                    assert section(r.answer) == in_order(answer), where
                    if authority is not None:
                        assert section(r.authority) == in_order(authority), where
                    assert r.question[0].name.to_text() == qname, where


async def test_dig_sees_the_cname(upstream: Dnsmasq, host_search: None) -> None:
    async with kdns_server(kubernetes_corefile(upstream)) as server:
        # The question comes back as asked, 0x20 spelling and all, completed or not.
        for name in (f"WWW.example.test.Demo.{Z}", f"Nothing.Demo.{Z}", f"Web.Demo.{Z}"):
            r = await ask(server, POD_A, name)
            assert r.question[0].name.to_text(omit_final_dot=False) == name
        out = await server.dig("-b", POD_A, f"www.example.test.demo.{Z}", "+noall", "+answer")
        assert out.split() == (
            f"www.example.test.demo.{Z} 60 IN CNAME www.example.test. www.example.test. 60 IN A 192.0.2.10"
        ).split()
        out = await server.dig("-b", POD_B, f"www.example.test.demo.{Z}", "+noall", "+comments")
        assert "status: NXDOMAIN" in out


async def test_success_metric(upstream: Dnsmasq, host_search: None) -> None:
    async with kdns_server(kubernetes_corefile(upstream)) as server:
        labels = {"server": f"dns://{server.host}:{server.port}"}
        assert REGISTRY.get_sample_value("coredns_autopath_success_total", labels) is None
        await ask(server, POD_A, f"www.example.test.demo.{Z}")  # completed
        await ask(server, POD_A, f"web.demo.{Z}")  # found as asked: no autopath
        await ask(server, POD_A, f"nothing.test.demo.{Z}")  # nothing found
        await ask(server, POD_B, f"db.other.{Z}")  # completed
        assert REGISTRY.get_sample_value("coredns_autopath_success_total", labels) == 2


async def test_fast_path_keeps_only_answers_for_everyone(upstream: Dnsmasq, host_search: None) -> None:
    async with kdns_server(kubernetes_corefile(upstream)) as server:
        await ask(server, NOT_A_POD, f"www.example.test.demo.{Z}")
        await ask(server, POD_A, f"www.example.test.demo.{Z}")
        await ask(server, POD_A, f"web.demo.{Z}")
        await ask(server, NOT_A_POD, f"web.nope.{Z}")
        await ask(server, NOT_A_POD, "nothing.cluster.local.")
        ((_, sockets),) = server.app.sockets.items()
        stored = {key[: key.index(b"\x00")] for key in sockets.listener.table.entries}
        # Found as asked, and an NXDOMAIN no pod's search path starts at: the same for everyone.
        assert b"\x03web\x04demo\x03svc\x07cluster\x05local" in stored
        assert b"\x07nothing\x07cluster\x05local" in stored
        # Negative below <ns>.svc: a pod of that namespace (one may start any time) gets more.
        assert b"\x03web\x04nope\x03svc\x07cluster\x05local" not in stored
        assert not [key for key in stored if key.startswith(b"\x03www")]


async def test_resolv_conf_search_path(upstream: Dnsmasq, tmp_path: Path) -> None:
    """README example `autopath my-resolv.conf`: one search path for every client."""
    corefile = f"""
    . {{
        autopath my-resolv.conf
        forward . {upstream.address}
    }}
    """
    async with kdns_server(corefile, tmp_path, **{"my-resolv.conf": "search a.test b.test\n"}) as server:
        for client in (NOT_A_POD, POD_A, "127.0.0.99"):
            r = await ask(server, client, "www.a.test.")
            assert section(r.answer) == in_order(["www.a.test. 60 IN CNAME www.b.test.", "www.b.test. 60 IN A 192.0.2.30"])
            r = await ask(server, client, "www.b.test.")  # not below the first element
            assert section(r.answer) == in_order(["www.b.test. 60 IN A 192.0.2.30"])
            r = await ask(server, client, "nothing.a.test.")
            assert dns.rcode.to_text(r.rcode()) == "NXDOMAIN"
