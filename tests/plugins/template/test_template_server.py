"""template over real sockets: dig and dnspython against kdns, a real dnsmasq behind `forward`, the
kubernetes plugin (manifests source) behind the template, the fast path, reload, bad records."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest
from plugins.kubernetes.k8s_cases import FIXTURES
from plugins.template.test_template_readme import A_PTR, FOOGLE
from upstreams import dnsmasq

from conftest import kdns_server


def answers(out: str) -> list[str]:
    match = re.search(r";; ANSWER SECTION:\n(.*?)(?:\n\n|\Z)", out, re.S)
    return [" ".join(line.split()) for line in match.group(1).splitlines()] if match else []


def fast_path_entries(server) -> int:  # type: ignore[no-untyped-def]
    return sum(len(s.listener.table.entries) for s in server.app.sockets.values())


async def test_readme_a_and_ptr_over_dig_and_dnspython() -> None:
    async with dnsmasq({"www.example.test": "192.0.2.7"}) as upstream:
        corefile = A_PTR.replace("8.8.8.8", upstream.address)
        async with kdns_server(corefile) as server:
            out = await server.dig("ip-10-1-2-3.example", "A")
            assert "status: NOERROR" in out and "flags: qr aa rd ra" in out
            assert answers(out) == ["ip-10-1-2-3.example. 60 IN A 10.1.2.3"]
            assert answers(await server.dig("-x", "10.1.2.3")) == [
                "3.2.1.10.in-addr.arpa. 60 IN PTR ip-10-1-2-3.example.",
            ]
            # Not matched: the template falls through to forward, and dnsmasq answers.
            assert answers(await server.dig("www.example.test", "A")) == ["www.example.test. 60 IN A 192.0.2.7"]
            # dnspython, UDP and TCP, first answer and repeats: the question echoed as asked, the
            # owner as the template wrote it (`.Name` is the lowercased name, as in CoreDNS).
            for tcp in (False, True, False):
                resp = await server.query("Ip-10-9-8-7.ExAmple.", "A", tcp=tcp)
                assert resp.rcode() == dns.rcode.NOERROR and resp.flags & dns.flags.AA
                assert resp.question[0].name.to_text() == "Ip-10-9-8-7.ExAmple."
                (rrset,) = resp.answer
                assert rrset.name.to_text() == "ip-10-9-8-7.example."
                assert [rd.to_text() for rd in rrset] == ["10.9.8.7"] and rrset.ttl == 60


async def test_template_answers_are_kept_on_the_fast_path_until_a_reload(tmp_path: Path) -> None:
    corefile = """
    . {
        template IN A example.test {
            match ^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]test[.]$
            answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
        }
    }
    """
    async with kdns_server(corefile, directory=tmp_path) as server:
        assert fast_path_entries(server) == 0
        resp = await server.query("ip-10-1-2-3.example.test.", "A")
        assert [rd.to_text() for rd in resp.answer[0]] == ["10.1.2.3"]
        assert fast_path_entries(server) == 1
        # The non-matching name is NXDOMAIN (no fallthrough), a pure function of the question too.
        resp = await server.query("nope.example.test.", "A")
        assert resp.rcode() == dns.rcode.NXDOMAIN and not resp.answer
        assert fast_path_entries(server) == 2
        # A reload that changes the answer: the stored one is dropped with the old config.
        server.corefile.write_text(corefile.replace("IN A {{ .Group.a }}", "IN A 192.{{ .Group.a }}").replace(
            "{{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}", "{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"))
        assert await server.app.reload()
        resp = await server.query("ip-10-1-2-3.example.test.", "A")
        assert [rd.to_text() for rd in resp.answer[0]] == ["192.1.2.3"]
        # A broken template on reload: the error names the line, the running config keeps serving.
        server.corefile.write_text(corefile.replace('answer "{{ .Name }}', 'answer "{{ if .Name }}'))
        assert not await server.app.reload()
        resp = await server.query("ip-10-1-2-3.example.test.", "A")
        assert [rd.to_text() for rd in resp.answer[0]] == ["192.1.2.3"]


async def test_answers_that_depend_on_the_client_stay_off_the_fast_path() -> None:
    corefile = """
    . {
        template IN TXT whoami.test {
            answer "{{ .Name }} 0 IN TXT \\"{{ .Remote }}\\" \\"{{ .Question.Name }}\\" \\"{{ .Message.Id }}\\""
        }
    }
    """
    async with kdns_server(corefile) as server:
        for name in ("whoami.test.", "WhoAmI.test."):
            resp = await server.query(name, "TXT", id=4660)
            (rrset,) = resp.answer
            assert [rd.to_text() for rd in rrset] == [f'"127.0.0.1" "{name}" "4660"']
        assert fast_path_entries(server) == 0


async def test_operator_corefile_aaaa_nodata_before_kubernetes() -> None:
    """An IPv4-only cluster: every AAAA in cluster.local is NOERROR and empty; kubernetes still
    answers A (and everything else); a regex template synthesises names of another zone."""
    corefile = f"""
    . {{
        errors
        template ANY AAAA cluster.local {{
            rcode NOERROR
        }}
        template IN A example.test {{
            match ^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]test[.]$
            answer "{{{{ .Name }}}} 60 IN A {{{{ .Group.a }}}}.{{{{ .Group.b }}}}.{{{{ .Group.c }}}}.{{{{ .Group.d }}}}"
            fallthrough
        }}
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            manifests {FIXTURES}
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }}
        cache 30
        loadbalance
    }}
    """
    async with kdns_server(corefile) as server:
        for name in ("web.demo.svc.cluster.local", "dual.demo.svc.cluster.local", "nothing.demo.svc.cluster.local"):
            out = await server.dig(name, "AAAA")
            assert "status: NOERROR" in out and "flags: qr aa rd ra" in out and answers(out) == []
        assert answers(await server.dig("web.demo.svc.cluster.local", "A")) == [
            "web.demo.svc.cluster.local. 5 IN A 10.96.0.10",
        ]
        assert answers(await server.dig("dual.demo.svc.cluster.local", "A")) == [
            "dual.demo.svc.cluster.local. 5 IN A 10.96.0.30",
        ]
        assert "status: NXDOMAIN" in await server.dig("nothing.demo.svc.cluster.local", "A")
        assert answers(await server.dig("ip-10-1-2-3.example.test", "A")) == ["ip-10-1-2-3.example.test. 60 IN A 10.1.2.3"]
        # Repeats, from the fast path, are the same answers.
        resp = await server.query("Web.Demo.svc.cluster.local.", "AAAA")
        assert resp.rcode() == dns.rcode.NOERROR and not resp.answer and resp.flags & dns.flags.AA
        resp = await server.query("ip-10-1-2-3.example.test.", "A", tcp=True)
        assert [rd.to_text() for rd in resp.answer[0]] == ["10.1.2.3"]


async def test_fabricated_cname_is_followed_through_forward() -> None:
    async with dnsmasq({"google.com": "192.0.2.80"}, local_domain="com") as upstream:
        async with kdns_server(FOOGLE.replace("8.8.8.8", upstream.address)) as server:
            assert answers(await server.dig("foogle.com", "A")) == [
                "foogle.com. 60 IN CNAME google.com.", "google.com. 60 IN A 192.0.2.80",
            ]


async def test_a_bad_record_at_query_time_is_servfail_a_metric_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    corefile = """
    . {
        prometheus 127.0.0.1:0
        template IN A long.test {
            answer "{{ .Name }}{{ .Name }}{{ .Name }}{{ .Name }}{{ .Name }} 60 IN A 192.0.2.1"
        }
    }
    """
    labels = ('section="answer"', 'template="{{.Name}}{{.Name}}{{.Name}}{{.Name}}{{.Name}} 60 IN A 192.0.2.1"')
    async with kdns_server(corefile) as server:
        name = ("a" * 60 + ".") * 3 + "long.test."
        with caplog.at_level(logging.WARNING, logger="kdns.plugins.template"):
            for asked in (name, name.upper(), name):
                resp = await server.query(asked, "A")
                assert resp.rcode() == dns.rcode.SERVFAIL and not resp.answer
        lines = [r for r in caplog.records if r.name.startswith("kdns.plugins.template")]
        assert len(lines) == 1 and "longer than 255" in lines[0].getMessage()
        assert not any(r.exc_info for r in caplog.records)
        status, text = await server.http("prometheus", "/metrics")
        assert status == 200
        # Counted once: the SERVFAIL, a pure function of the question, is repeated from the fast path.
        (count,) = [
            line for line in text.splitlines()
            if line.startswith("coredns_template_rr_failures_total{") and all(label in line for label in labels)
        ]
        assert count.endswith(" 1.0")
        assert re.search(r'coredns_template_matches_total\{class="IN",server="dns://127.0.0.1:\d+",type="A",'
                         r'view="",zone="long.test."\} 1.0', text)
        # A short name through the same template is fine.
        resp = await server.query("x.long.test.", "A")
        assert resp.rcode() == dns.rcode.NOERROR and len(resp.answer[0]) == 1


def test_plugins_flag_lists_template() -> None:
    from kdns import plugins

    assert "template" in plugins.available()
    assert plugins.available().index("template") < plugins.available().index("kubernetes")


async def test_ederror_is_sent_as_an_extended_dns_error_to_edns_clients() -> None:
    """README's .invalid example: NXDOMAIN, the SOA, and EDE 21 with its reason (RFC 8914)."""
    from plugins.template.test_template_readme import INVALID

    import dns.edns

    async with kdns_server(INVALID.replace("forward . 8.8.8.8", "")) as server:
        out = await server.dig("test.invalid", "A")
        assert "status: NXDOMAIN" in out
        assert "EDE: 21 (Not Supported): (Blocked according to RFC2606)" in out
        for tcp in (False, True, False):
            resp = await server.query("test.invalid.", "A", tcp=tcp, use_edns=0, want_dnssec=True)
            assert resp.rcode() == dns.rcode.NXDOMAIN and resp.ednsflags & dns.flags.DO
            (ede,) = [o for o in resp.options if o.otype == dns.edns.OptionType.EDE]
            assert (ede.code, ede.text) == (21, "Blocked according to RFC2606")
            assert [rrset.rdtype for rrset in resp.authority] == [dns.rdatatype.SOA]
        # No EDNS in the question, none in the answer.
        resp = await server.query("test.invalid.", "A", use_edns=False)
        assert resp.rcode() == dns.rcode.NXDOMAIN and resp.edns < 0


async def test_names_with_escaped_bytes_are_written_back_as_the_same_name() -> None:
    """`.Name` is the presentation form (`\\.` for a dot inside a label, `\\DDD` for other bytes):
    the record built from it has the asker's name, byte for byte (lowercased)."""
    corefile = """
    . {
        template IN A example {
            answer "{{ .Name }} 60 IN A 192.0.2.1"
        }
    }
    """
    import dns.name

    async with kdns_server(corefile) as server:
        for labels in ((b"a.b", b"example"), (b"sp ace", b"example"), (b"\xc8\x00", b"x\\y", b"example")):
            name = dns.name.Name((*labels, b""))
            resp = await server.query(name.to_text(), "A")
            assert resp.rcode() == dns.rcode.NOERROR
            (rrset,) = resp.answer
            assert rrset.name.labels == tuple(label.lower() for label in name.labels)
