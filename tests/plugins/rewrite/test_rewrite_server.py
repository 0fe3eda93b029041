"""rewrite over real sockets (dig and dnspython): operator-style Corefiles onto cluster services
answered from the kubernetes index (manifests source), the fast path and its invalidation, bad names,
and a broken rewrite on reload."""

from __future__ import annotations

import logging
import re
import struct
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
from conftest import RunningServer, kdns_server

SERVICE = """\
apiVersion: v1
kind: Namespace
metadata: {{name: demo}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: demo}}
spec:
  clusterIP: {ip}
  ports:
  - {{name: http, port: 80, protocol: TCP}}
"""

# An operator mapping *.example.com onto services (the second issue example), and a vcluster-style
# regex rewrite with its answer name rule mapping the service names back.
SUFFIX = """
rewrite stop {{
    name suffix .example.com .svc.cluster.local answer auto
}}
"""
VCLUSTER = r"""
rewrite stop {{
    name regex ^([^.]+)\.x-([^.]+)-x-vcluster\.svc\.cluster\.local\.$ {{1}}.{{2}}.svc.cluster.local
    answer name ^([^.]+)\.([^.]+)\.svc\.cluster\.local\.$ {{1}}.x-{{2}}-x-vcluster.svc.cluster.local
}}
"""


def corefile(rules: str, manifests: Path) -> str:
    return f"""
    .:0 {{
        errors
        {rules.format()}
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            manifests {manifests}
        }}
        cache 30
        loadbalance
    }}
    """


def answers(out: str) -> list[str]:
    match = re.search(r";; ANSWER SECTION:\n(.*?)(?:\n\n|\Z)", out, re.S)
    return [" ".join(line.split()) for line in match.group(1).splitlines()] if match else []


def fast_path_key(name: str, rdtype: str, edns: bool) -> bytes:
    wire = dns.name.from_text(name).to_wire()
    assert wire is not None
    return wire.lower() + struct.pack("!HH", dns.rdatatype.from_text(rdtype), 1) + (b"\x01" if edns else b"\x00")


def on_fast_path(server: RunningServer, name: str, rdtype: str = "A", edns: bool = False) -> bool:
    key = fast_path_key(name, rdtype, edns)
    return any(key in sockets.listener.table.entries for sockets in server.app.sockets.values())


def k8s_source(server: RunningServer) -> Any:
    assert server.app.generation is not None
    for block in server.app.generation.blocks:
        for handler in block.handlers:
            if type(handler).__module__ == "kdns.plugins.kubernetes.handler":
                return handler.source
    raise LookupError("no kubernetes handler")


async def test_suffix_onto_a_service_is_fast_and_follows_the_service(tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(SERVICE.format(ip="10.96.0.10"))
    async with kdns_server(corefile(SUFFIX, tmp_path)) as server:
        out = await server.dig("web.demo.example.com", "A")
        assert "status: NOERROR" in out and ";web.demo.example.com.\t\tIN\tA" in out
        assert answers(out) == ["web.demo.example.com. 5 IN A 10.96.0.10"]
        # A repeat (any spelling) is served from the fast path, as the plain service name is.
        plain = await server.query("web.demo.svc.cluster.local", "A")
        msg = await server.query("WEB.Demo.example.COM", "A")
        assert msg.question[0].name.to_text() == "WEB.Demo.example.COM."
        assert msg.answer[0].name.to_text() == "WEB.Demo.example.COM."
        assert [rd.address for rd in msg.answer[0]] == ["10.96.0.10"] == [rd.address for rd in plain.answer[0]]
        # dig asked with EDNS, dnspython without: one stored answer each.
        assert on_fast_path(server, "web.demo.example.com", edns=True)
        assert on_fast_path(server, "web.demo.example.com")
        assert on_fast_path(server, "web.demo.svc.cluster.local")
        # The service changes: the stored rewritten answer is dropped with the plain one, at once.
        manifest.write_text(SERVICE.format(ip="10.96.0.99"))
        assert k8s_source(server).reload()
        assert not on_fast_path(server, "web.demo.example.com", edns=True)
        assert not on_fast_path(server, "web.demo.example.com")
        assert not on_fast_path(server, "web.demo.svc.cluster.local")
        msg = await server.query("web.demo.example.com", "A")
        assert [rd.address for rd in msg.answer[0]] == ["10.96.0.99"]
        # A name that does not exist: NXDOMAIN with the zone's SOA, owner left as CoreDNS leaves it.
        msg = await server.query("nope.demo.example.com", "A")
        assert msg.rcode() == dns.rcode.NXDOMAIN
        assert msg.authority[0].name.to_text() == "cluster.local."
        # SRV through the rewrite: the target is mapped back too (answer auto rewrites values).
        out = await server.dig("_http._tcp.web.demo.example.com", "SRV")
        assert answers(out) == ["_http._tcp.web.demo.example.com. 5 IN SRV 0 100 80 web.demo.example.com."]


async def test_vcluster_style_regex_with_answer_name(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(SERVICE.format(ip="10.96.0.10"))
    async with kdns_server(corefile(VCLUSTER, tmp_path)) as server:
        name = "web.x-demo-x-vcluster.svc.cluster.local"
        for tcp in (False, True, False):
            msg = await server.query(name, "A", tcp=tcp)
            assert msg.rcode() == dns.rcode.NOERROR and msg.flags & dns.flags.AA
            assert msg.question[0].name.to_text() == name + "."
            assert [(r.name.to_text(), [rd.address for rd in r]) for r in msg.answer] == [(name + ".", ["10.96.0.10"])]
        assert on_fast_path(server, name)
        out = await server.dig(name, "A", "+noedns")
        assert answers(out) == [f"{name}. 5 IN A 10.96.0.10"]
        # Names the rule does not match are the kubernetes plugin's own.
        msg = await server.query("web.demo.svc.cluster.local", "A")
        assert msg.answer[0].name.to_text() == "web.demo.svc.cluster.local."


async def test_edns0_rewrite_is_never_stored_for_other_askers(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(SERVICE.format(ip="10.96.0.10"))
    rules = "rewrite continue edns0 local set 0xffee {{client_ip}}\n" + SUFFIX
    async with kdns_server(corefile(rules, tmp_path)) as server:
        for _ in range(2):
            msg = await server.query("web.demo.example.com", "A")
            assert [rd.address for rd in msg.answer[0]] == ["10.96.0.10"]
        # Not kept from rewrite's answer. The cache (before rewrite in the chain, as in CoreDNS)
        # keeps that answer for every asker of the name, as it always did, and serves its repeats
        # from the fast path: that entry is the cache's (a lease), not rewrite's.
        key = fast_path_key("web.demo.example.com", "A", False)
        entries = [s.listener.table.entries.get(key) for s in server.app.sockets.values()]
        assert all(entry is None or entry.lease is not None for entry in entries)


async def test_rewrite_to_an_overlong_name_is_servfail_and_one_log_line(tmp_path: Path, caplog: Any) -> None:
    (tmp_path / "web.yaml").write_text(SERVICE.format(ip="10.96.0.10"))
    rules = r"rewrite name regex ^(.*)\.long\.test\.$ {{1}}{{1}}{{1}}{{1}}{{1}}.long.test"
    async with kdns_server(corefile(rules, tmp_path)) as server:
        caplog.set_level(logging.INFO)
        caplog.clear()
        asked = "a" * 60 + ".long.test"
        out = await server.dig(asked, "A")
        assert "status: SERVFAIL" in out and f";{asked}.\t" in out
        lines = [r for r in caplog.records if "invalid name after rewrite" in r.getMessage()]
        assert len(lines) == 1 and lines[0].exc_info is None
        assert not any(r.exc_info for r in caplog.records)


async def test_broken_rewrite_on_reload_keeps_the_old_config(tmp_path: Path, caplog: Any) -> None:
    (tmp_path / "web.yaml").write_text(SERVICE.format(ip="10.96.0.10"))
    async with kdns_server(corefile(SUFFIX, tmp_path)) as server:
        server.corefile.write_text(corefile("rewrite name regex (?<=web)\\.example\\.com x.y", tmp_path))
        assert not await server.app.reload()
        failed = [r.getMessage() for r in caplog.records if "reload failed" in r.getMessage()]
        assert failed and "rewrite" in failed[0] and ":4:" in failed[0] and "(?<=" in failed[0]
        msg = await server.query("web.demo.example.com", "A")
        assert [rd.address for rd in msg.answer[0]] == ["10.96.0.10"]


async def test_readme_example_with_whoami_and_edns0() -> None:
    # README: `rewrite edns0 local set 0xffee 0x61626364` in front of whoami, over real sockets.
    cf = ". {\n    rewrite edns0 local set 0xffee 0x61626364\n    whoami\n}\n"
    async with kdns_server(cf) as server:
        msg = await server.query("example.org", "A", use_edns=0)
        assert msg.rcode() == dns.rcode.NOERROR and msg.question[0].name.to_text() == "example.org."
        # The client's own OPT comes back as kdns's, without the option meant for the chain.
        assert msg.edns == 0 and list(msg.options) == []


HEADLESS = """\
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: demo}
spec: {clusterIP: None}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: demo, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
endpoints:
- {addresses: [10.244.0.1]}
- {addresses: [10.244.0.2]}
- {addresses: [10.244.0.3]}
"""


async def test_rewritten_headless_answers_are_shuffled_on_the_fast_path(tmp_path: Path) -> None:
    # The owners mapped back are the asker's own labels (pointers to the question), so the stored
    # answer's address run can be reordered on every hit, as loadbalance does for plain names.
    (tmp_path / "db.yaml").write_text(HEADLESS)
    async with kdns_server(corefile(SUFFIX, tmp_path)) as server:
        orders = set()
        for _ in range(30):
            msg = await server.query("db.demo.example.com", "A")
            assert {r.name.to_text() for r in msg.answer} == {"db.demo.example.com."}
            orders.add(tuple(rd.address for r in msg.answer for rd in r))
        assert {frozenset(o) for o in orders} == {frozenset({"10.244.0.1", "10.244.0.2", "10.244.0.3"})}
        entries = [
            e for s in server.app.sockets.values() for k, e in s.listener.table.entries.items()
            if k == fast_path_key("db.demo.example.com", "A", False)
        ]
        assert entries and entries[0].runs
        assert len(orders) > 1


KUBERNETES_SERVICE = """\
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec:
  clusterIP: 10.96.0.1
  ports:
  - {name: https, port: 443, protocol: TCP}
"""


async def test_vcluster_default_corefile(tmp_path: Path) -> None:
    # vcluster's CoreDNS ConfigMap (its ports, probes and forward left out): node names of the virtual
    # cluster answered with the kubernetes service's address. No answer rule: the records keep the
    # service's name, the question is the asker's, as in CoreDNS.
    (tmp_path / "NodeHosts").write_text("10.0.0.5 node-a\n")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "kubernetes.yaml").write_text(KUBERNETES_SERVICE)
    cf = f"""
    .:0 {{
        errors
        rewrite name regex .*\\.nodes\\.vcluster\\.com kubernetes.default.svc.cluster.local
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            manifests {manifests}
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }}
        hosts {tmp_path / "NodeHosts"} {{
            ttl 60
            reload 15s
            fallthrough
        }}
        cache 30
        loop
        loadbalance
    }}
    """
    async with kdns_server(cf) as server:
        out = await server.dig("node-a.nodes.vcluster.com", "A")
        assert "status: NOERROR" in out and ";node-a.nodes.vcluster.com.\t" in out
        assert answers(out) == ["kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1"]
        msg = await server.query("node-a.nodes.vcluster.com", "A")
        assert [rd.address for r in msg.answer for rd in r] == ["10.96.0.1"]
        assert on_fast_path(server, "node-a.nodes.vcluster.com")
        # Other names as the rest of the chain answers them (hosts, its TTL capped by cache 30).
        assert answers(await server.dig("node-a", "A")) == ["node-a. 30 IN A 10.0.0.5"]
