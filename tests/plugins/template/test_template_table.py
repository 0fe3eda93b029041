"""CoreDNS's plugin/template test tables (template_test.go TestHandler and TestMultiSection) as
kdns table tests: each CoreDNS template written as the Corefile lines that make it, each row a
Case with the records it must answer, as zone text."""

from __future__ import annotations

import pytest
from plugins.template.template_cases import Case, chain, check

from kdns.plugins.template import metrics

# CoreDNS's test templates, zone "." (the server block's), fallthrough everywhere.
IP_REGEX = "(^|[.])ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$"
A_ANSWER = '"{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"'
TEMPLATES = {
    "exampleDomainA": f"""template ANY ANY {{
        match {IP_REGEX}
        answer {A_ANSWER}
        fallthrough
    }}""",
    "exampleDomainANS": f"""template ANY ANY {{
        match {IP_REGEX}
        answer {A_ANSWER}
        additional "ns0.example. IN A 203.0.113.8"
        authority "example. IN NS ns0.example.com."
        fallthrough
    }}""",
    "exampleDomainMX": f"""template ANY ANY {{
        match {IP_REGEX}
        answer "{{{{ .Name }}}} 60 MX 10 {{{{ .Name }}}}"
        additional {A_ANSWER}
        fallthrough
    }}""",
    "invalidDomain": """template ANY ANY {
        match [.]invalid[.]$
        rcode NXDOMAIN
        answer "invalid. 60 {{ .Class }} SOA a.invalid. b.invalid. (1 60 60 60 60)"
        fallthrough
    }""",
    "rcodeServfail": """template ANY ANY {
        match .*
        rcode SERVFAIL
        fallthrough
    }""",
    "broken": """template ANY ANY {
        match [.]example[.]$
        answer "{{ .Name }} 60 IN TXT \\"{{ index .Match 2 }}\\""
        fallthrough
    }""",
    "nonRR": """template ANY ANY {
        match [.]example[.]$
        answer "{{ .Name }}"
        fallthrough
    }""",
    "nonRRAdditional": """template ANY ANY {
        match [.]example[.]$
        additional "{{ .Name }}"
        fallthrough
    }""",
    "nonRRAuthority": """template ANY ANY {
        match [.]example[.]$
        authority "{{ .Name }}"
        fallthrough
    }""",
    "cname": """template ANY ANY {
        match example[.]net[.]
        answer "example.net 60 IN CNAME target.example.com"
        fallthrough
    }""",
    # Rows of later CoreDNS versions: parseInt and .Meta (kdns has no metadata plugin: "").
    "hexIP": """template ANY ANY {
        match "^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$"
        answer "{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}"
        fallthrough
    }""",
    "meta": """template ANY ANY {
        match [.]example[.]$
        answer "{{ .Name }} 60 IN TXT \\"{{ .Meta \\"foo\\" }}-{{ .Meta \\"bar\\" }}\\""
        fallthrough
    }""",
}
IP = "ip-10-95-12-8.example."

HANDLER_ROWS = [
    ("RcodeServFail", "rcodeServfail", Case("test.invalid.", "A", "SERVFAIL")),
    ("ExampleDomainNameMismatch", "exampleDomainA", Case("test.invalid.", "A", passed=True)),
    ("BrokenTemplate", "broken", Case("test.example.", "ANY", "SERVFAIL")),
    ("NonRRTemplate", "nonRR", Case("test.example.", "ANY", "SERVFAIL")),
    ("NonRRAdditionalTemplate", "nonRRAdditional", Case("test.example.", "ANY", "SERVFAIL")),
    ("NonRRAuthorityTemplate", "nonRRAuthority", Case("test.example.", "ANY", "SERVFAIL")),
    ("ExampleDomainMatch", "exampleDomainA", Case(IP, "A", answer=[f"{IP} 60 IN A 10.95.12.8"])),
    ("ExampleDomainMXMatch", "exampleDomainMX", Case(
        IP, "MX", answer=[f"{IP} 60 IN MX 10 {IP}"], extra=[f"{IP} 60 IN A 10.95.12.8"])),
    ("ExampleDomainANSMatch", "exampleDomainANS", Case(
        IP, "A", answer=[f"{IP} 60 IN A 10.95.12.8"], ns=["example. 3600 IN NS ns0.example.com."],
        extra=["ns0.example. 3600 IN A 203.0.113.8"])),
    ("ExampleInvalidNXDOMAIN", "invalidDomain", Case(
        "test.invalid.", "MX", "NXDOMAIN", answer=["invalid. 60 IN SOA a.invalid. b.invalid. 1 60 60 60 60"])),
    # The target is followed through the chain, where nothing answers it: the CNAME alone.
    ("CNAMEWithoutUpstream", "cname", Case("example.net.", "A", answer=["example.net. 60 IN CNAME target.example.com."])),
    ("HexIPMatch", "hexIP", Case("ip0a5f0c09.example.", "A", answer=["ip0a5f0c09.example. 60 IN A 10.95.12.9"])),
    ("MetaMatch", "meta", Case("test.example.", "TXT", answer=['test.example. 60 IN TXT "-"'])),
]


@pytest.mark.parametrize(("name", "template", "case"), HANDLER_ROWS, ids=[r[0] for r in HANDLER_ROWS])
async def test_coredns_handler_rows(name: str, template: str, case: Case) -> None:
    templates = chain(f". {{\n{TEMPLATES[template]}\n}}")
    check(case, await templates.ask(case.qname, case.qtype, case.qclass))


async def test_a_template_that_fails_to_run_is_counted_and_says_why() -> None:
    templates = chain(f". {{\n{TEMPLATES['broken']}\n}}")
    key = ("dns://:53", ".", "", "IN", "ANY", "answer", '{{.Name}} 60 IN TXT "{{index .Match 2}}"')
    before = metrics.template_failures.get(key, 0)
    resp = await templates.ask("test.example.", "ANY")
    assert resp.rcode == 2
    assert resp.error is not None and "error calling index: index out of range: 2" in resp.error
    assert metrics.template_failures[key] == before + 1


async def test_a_template_that_writes_no_record_is_counted() -> None:
    templates = chain(f". {{\n{TEMPLATES['nonRRAuthority']}\n}}")
    key = ("dns://:53", ".", "", "IN", "A", "authority", "{{.Name}}")
    before = metrics.rr_failures.get(key, 0)
    resp = await templates.ask("test.example.", "A")
    assert resp.rcode == 2 and resp.error is not None and "test.example." in resp.error
    assert metrics.rr_failures[key] == before + 1


async def test_matches_are_counted_by_zone_class_and_type() -> None:
    templates = chain(f". {{\n{TEMPLATES['exampleDomainA']}\n}}")
    key = ("dns://:53", ".", "", "IN", "A")
    before = metrics.matches.get(key, 0)
    await templates.ask(IP, "A")
    await templates.ask("test.invalid.", "A")  # no match: not counted
    assert metrics.matches[key] == before + 1


MULTISECTION = """
test.:8053 {
    # REFUSE IN A for the server zone (test.)
    template IN A {
        rcode REFUSED
    }
    # Fallthrough everything IN TXT for test.
    template IN TXT {
        match "$^"
        rcode SERVFAIL
        fallthrough
    }
    # Answer CH TXT *.coredns.invalid. / coredns.invalid.
    template CH TXT coredns.invalid {
        answer "{{ .Name }} 60 CH TXT \\"test\\""
    }
    # Answer example. ip templates and fallthrough otherwise
    template IN A example {
        match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
        answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
        fallthrough
    }
    # Answer MX record requests for ip templates in example. and never fall through
    template IN MX example {
        match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
        answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"
        additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
    }
    template IN ANY . {
        match ^nowana[.](.*)$
        answer "{{ .Name }} 60 IN A 1.2.3.4"
        fallthrough
    }
    template IN ANY . {
        match ^(www[.])?cnamewitha[.](.*)$
        answer "{{ .Name }} 60 IN CNAME nowana.com."
        fallthrough
    }
}
"""
IP2 = "ip-10-11-12-13.example."
MULTISECTION_ROWS = [
    Case("some.test.", "A", "REFUSED"),
    Case("some.test.", "TXT", passed=True),
    Case("coredns.invalid.", "TXT", qclass="CH", answer=['coredns.invalid. 60 CH TXT "test"']),
    Case(IP2, "A", answer=[f"{IP2} 60 IN A 10.11.12.13"]),
    Case(IP2, "MX", answer=[f"{IP2} 60 IN MX 10 {IP2}"], extra=[f"{IP2} 60 IN A 10.11.12.13"]),
    Case("something.example.", "A", passed=True),
    Case("something.example.", "MX", "NXDOMAIN"),
    # The CNAME's target is answered by the first template, through the whole chain.
    Case("www.cnamewitha.com.", "A", answer=[
        "www.cnamewitha.com. 60 IN CNAME nowana.com.", "nowana.com. 60 IN A 1.2.3.4",
    ]),
]


@pytest.mark.parametrize("case", MULTISECTION_ROWS, ids=str)
async def test_coredns_multisection_rows(case: Case) -> None:
    templates = chain(MULTISECTION)
    check(case, await templates.ask(case.qname, case.qtype, case.qclass))


async def test_a_cname_loop_between_templates_ends() -> None:
    templates = chain("""
    . {
        template IN ANY . {
            match ^a[.]loop[.]$
            answer "a.loop. 60 IN CNAME b.loop."
            fallthrough
        }
        template IN ANY . {
            match ^b[.]loop[.]$
            answer "b.loop. 60 IN CNAME a.loop."
        }
    }""")
    resp = await templates.ask("a.loop.", "A")
    assert resp.rcode == 0 and 2 <= len(resp.msg.rr) <= 20
    assert {str(rr.rdata) for rr in resp.msg.rr} == {"a.loop.", "b.loop."}


async def test_message_and_question_print_as_miekg_dns_prints_them() -> None:
    """`{{ .Question }}` and `{{ .Message }}` are Go's String() of the query (dns.Question, dns.Msg)."""
    from kdns.plugins.template.data import MessageData, QuestionData
    from plugins.template.template_cases import query

    req = query("Some.Example.", "MX", edns=True)
    req.id = 4660
    assert QuestionData(req).go_string() == ";Some.Example.\tIN\t MX"
    assert MessageData(req).go_string() == (
        ";; opcode: QUERY, status: NOERROR, id: 4660\n"
        ";; flags: rd; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0\n"
        "\n;; OPT PSEUDOSECTION:\n; EDNS: version 0; flags:; udp: 1232\n"
        "\n;; QUESTION SECTION:\n;Some.Example.\tIN\t MX\n"
    )
