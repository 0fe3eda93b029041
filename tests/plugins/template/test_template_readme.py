"""Every example of CoreDNS's template README (and kdns's README for the plugin, which repeats them)
as table tests: the Corefile as written there, the answers its text promises."""

from __future__ import annotations

import pytest
from plugins.template.template_cases import Case, chain, check

NXDOMAIN_ALL = """
. {
    template ANY ANY {
      rcode NXDOMAIN
    }
}
"""

SOA_NS = """
engineering.coredns.io. {
    template IN SOA {
      match ^engineering\\.coredns\\.io\\.$
      answer "{{ .Zone }} 3600 IN SOA ns1.{{ .Zone }} admin.{{ .Zone }} (1 60 120 86400 3600)"
      fallthrough
    }
    template IN SOA {
      authority "{{ .Zone }} 3600 IN SOA {$HOSTNAME}. engineering.coredns.io. (1 60 120 86400 3600)"
    }
    template IN NS {
      match ^engineering\\.coredns\\.io\\.$
      answer "{{ .Zone }} 900 IN NS ns1.engineering.coredns.io."
      answer "{{ .Zone }} 900 IN NS ns2.engineering.coredns.io."
      fallthrough
    }
    template IN NS {
      authority "{{ .Zone }} 3600 IN SOA {$HOSTNAME}. engineering.coredns.io. (1 60 120 86400 3600)"
    }
}
"""

INVALID = """
. {
    forward . 8.8.8.8

    template ANY ANY invalid {
      rcode NXDOMAIN
      authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"
      ederror 21 "Blocked according to RFC2606"
    }
}
"""

SEARCH_ZONE = """
. {
    forward . 8.8.8.8

    template IN ANY example.com.dc1.example.com {
      rcode NXDOMAIN
      authority "{{ .Zone }} 60 IN SOA ns.example.com hostmaster.example.com (1 60 60 60 60)"
    }
}
"""

SEARCH_REGEX = """
. {
    forward . 8.8.8.8

    template IN ANY example.com {
      match "example\\.com\\.(dc1\\.example\\.com\\.)$"
      rcode NXDOMAIN
      authority "{{ index .Match 1 }} 60 IN SOA ns.{{ index .Match 1 }} hostmaster.{{ index .Match 1 }} (1 60 60 60 60)"
      fallthrough
    }
}
"""

A_PTR = """
. {
    forward . 8.8.8.8

    # ip-a-b-c-d.example A a.b.c.d

    template IN A example {
      match (^|[.])ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
      answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
      fallthrough
    }

    # d.c.b.a.in-addr.arpa PTR ip-a-b-c-d.example

    template IN PTR in-addr.arpa {
      match ^(?P<d>[0-9]*)[.](?P<c>[0-9]*)[.](?P<b>[0-9]*)[.](?P<a>[0-9]*)[.]in-addr[.]arpa[.]$
      answer "{{ .Name }} 60 IN PTR ip-{{ .Group.a }}-{{ .Group.b }}-{{ .Group.c }}-{{ .Group.d }}.example."
    }
}
"""

PARSE_INT = """
. {
    forward . 8.8.8.8

    template IN A example {
      match "^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$"
      answer "{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}"
      fallthrough
    }
}
"""

MULTIPLE = """
. {
    forward . 8.8.8.8

    template IN A example {
      match "^ip-(?P<a>10)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]dc[.]example[.]$"
      match "^(?P<a>[0-9]*)[.](?P<b>[0-9]*)[.](?P<c>[0-9]*)[.](?P<d>[0-9]*)[.]ext[.]example[.]$"
      answer "{{ .Name }} 60 IN A {{ .Group.a}}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
      fallthrough
    }
}
"""

A_MX = """
. {
    forward . 8.8.8.8

    template IN A example {
      match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
      answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
      fallthrough
    }
    template IN MX example {
      match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
      answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"
      additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
      fallthrough
    }
}
"""

AUTHORITATIVE = """
. {
    forward . 8.8.8.8

    template IN A example {
      match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
      answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
      authority  "example. 60 IN NS ns0.example."
      authority  "example. 60 IN NS ns1.example."
      additional "ns0.example. 60 IN A 203.0.113.8"
      additional "ns1.example. 60 IN A 198.51.100.8"
      fallthrough
    }
    template IN MX example {
      match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
      answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"
      additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
      authority  "example. 60 IN NS ns0.example."
      authority  "example. 60 IN NS ns1.example."
      additional "ns0.example. 60 IN A 203.0.113.8"
      additional "ns1.example. 60 IN A 198.51.100.8"
      fallthrough
    }
}
"""

FOOGLE = """
. {
  template IN ANY foogle.com {
    match "^foogle\\.com\\.$"
    answer "foogle.com 60 IN CNAME google.com"
  }
  forward . 8.8.8.8
}
"""

ENG = "engineering.coredns.io."
ENG_SOA = f"{ENG} 3600 IN SOA ns1.{ENG} admin.{ENG} 1 60 120 86400 3600"
HOST_SOA = f"{ENG} 3600 IN SOA host1.{ENG} {ENG} 1 60 120 86400 3600"
INVALID_SOA = "invalid. 60 IN SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60"
DC1 = "example.com.dc1.example.com."
IP = "ip-10-1-2-3.example."
NS = ["example. 60 IN NS ns0.example.", "example. 60 IN NS ns1.example."]
GLUE = ["ns0.example. 60 IN A 203.0.113.8", "ns1.example. 60 IN A 198.51.100.8"]

EXAMPLES = [
    # Resolve everything to NXDOMAIN
    (NXDOMAIN_ALL, Case("anything.example.org.", "A", "NXDOMAIN")),
    (NXDOMAIN_ALL, Case("example.", "MX", "NXDOMAIN")),
    (NXDOMAIN_ALL, Case("version.bind.", "TXT", "NXDOMAIN", qclass="CH")),
    # Resolving SOA/NS for a dynamic domain
    (SOA_NS, Case(ENG, "SOA", answer=[ENG_SOA])),
    (SOA_NS, Case(f"www.{ENG}", "SOA", ns=[HOST_SOA])),
    (SOA_NS, Case(ENG, "NS", answer=[f"{ENG} 900 IN NS ns1.{ENG}", f"{ENG} 900 IN NS ns2.{ENG}"])),
    (SOA_NS, Case(f"www.{ENG}", "NS", ns=[HOST_SOA])),
    (SOA_NS, Case(ENG, "A", passed=True)),
    # Resolve .invalid as NXDOMAIN (in any class)
    (INVALID, Case("test.invalid.", "A", "NXDOMAIN", ns=[INVALID_SOA])),
    (INVALID, Case("invalid.", "AAAA", "NXDOMAIN", ns=[INVALID_SOA])),
    (INVALID, Case("test.invalid.", "TXT", "NXDOMAIN", qclass="CH",
                   ns=["invalid. 60 CH SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60"])),
    (INVALID, Case("example.org.", "A", passed=True)),
    # Block invalid search domain completions, by zone and by regex
    (SEARCH_ZONE, Case(f"something.{DC1}", "A", "NXDOMAIN",
                       ns=[f"{DC1} 60 IN SOA ns.example.com. hostmaster.example.com. 1 60 60 60 60"])),
    (SEARCH_ZONE, Case("something.dc1.example.com.", "A", passed=True)),
    (SEARCH_REGEX, Case(f"something.{DC1}", "AAAA", "NXDOMAIN", ns=[
        "dc1.example.com. 60 IN SOA ns.dc1.example.com. hostmaster.dc1.example.com. 1 60 60 60 60",
    ])),
    (SEARCH_REGEX, Case("www.example.com.", "A", passed=True)),
    # Resolve A/PTR for .example (the A template is a wildcard)
    (A_PTR, Case(IP, "A", answer=[f"{IP} 60 IN A 10.1.2.3"])),
    (A_PTR, Case(f"www.{IP}", "A", answer=[f"www.{IP} 60 IN A 10.1.2.3"])),
    (A_PTR, Case("3.2.1.10.in-addr.arpa.", "PTR", answer=[f"3.2.1.10.in-addr.arpa. 60 IN PTR {IP}"])),
    (A_PTR, Case("www.example.", "A", passed=True)),
    (A_PTR, Case(IP, "AAAA", passed=True)),
    (A_PTR, Case("10.in-addr.arpa.", "PTR", "NXDOMAIN")),
    # Resolve hexadecimal ip pattern using parseInt
    (PARSE_INT, Case("ip0a7b7b7b.example.", "A", answer=["ip0a7b7b7b.example. 60 IN A 10.123.123.123"])),
    (PARSE_INT, Case("ip0a7b7b.example.", "A", passed=True)),
    # Resolve multiple ip patterns
    (MULTIPLE, Case("ip-10-1-2-3.dc.example.", "A", answer=["ip-10-1-2-3.dc.example. 60 IN A 10.1.2.3"])),
    (MULTIPLE, Case("192.0.2.1.ext.example.", "A", answer=["192.0.2.1.ext.example. 60 IN A 192.0.2.1"])),
    (MULTIPLE, Case("ip-11-1-2-3.dc.example.", "A", passed=True)),
    # Resolve A and MX records for IP templates in .example
    (A_MX, Case(IP, "A", answer=[f"{IP} 60 IN A 10.1.2.3"])),
    (A_MX, Case(IP, "MX", answer=[f"{IP} 60 IN MX 10 {IP}"], extra=[f"{IP} 60 IN A 10.1.2.3"])),
    # Adding authoritative nameservers to the response
    (AUTHORITATIVE, Case(IP, "A", answer=[f"{IP} 60 IN A 10.1.2.3"], ns=NS, extra=GLUE)),
    (AUTHORITATIVE, Case(IP, "MX", answer=[f"{IP} 60 IN MX 10 {IP}"], ns=NS,
                         extra=[f"{IP} 60 IN A 10.1.2.3", *GLUE])),
    # Fabricate a CNAME (the target's records come from the chain: see test_template_server.py)
    (FOOGLE, Case("foogle.com.", "A", answer=["foogle.com. 60 IN CNAME google.com."])),
    (FOOGLE, Case("foogle.com.", "TXT", answer=["foogle.com. 60 IN CNAME google.com."])),
    (FOOGLE, Case("www.foogle.com.", "A", "NXDOMAIN")),
]


@pytest.mark.parametrize(("corefile", "case"), EXAMPLES, ids=[f"{i}-{c}" for i, (_, c) in enumerate(EXAMPLES)])
async def test_readme_examples(corefile: str, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTNAME", "host1.engineering.coredns.io")
    check(case, await chain(corefile).ask(case.qname, case.qtype, case.qclass))
