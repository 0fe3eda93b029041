"""The pure qname grammar: names.parse() on labels, no index."""

from __future__ import annotations

import pytest

from kdns.plugins.kubernetes.names import Kind, Name, dashed_ip, ip_label, parse, reverse_ip, reverse_name

ZL = 2  # cluster.local


def p(name: str, zone_len: int = ZL) -> Name:
    return parse(name.rstrip(".").split(".") if name != "." else [], zone_len)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("cluster.local", Name(Kind.APEX)),
        ("dns-version.cluster.local", Name(Kind.DNS_VERSION)),
        ("ns.dns.cluster.local", Name(Kind.NS_DNS)),
        ("svc.cluster.local", Name(Kind.SVC_ROOT)),
        ("pod.cluster.local", Name(Kind.POD_ROOT)),
        ("demo.svc.cluster.local", Name(Kind.NAMESPACE, namespace="demo")),
        ("demo.pod.cluster.local", Name(Kind.POD_NAMESPACE, namespace="demo")),
        ("web.demo.svc.cluster.local", Name(Kind.SERVICE, namespace="demo", service="web")),
        ("web-0.web.demo.svc.cluster.local", Name(Kind.ENDPOINT, namespace="demo", service="web", endpoint="web-0")),
        ("_http._tcp.web.demo.svc.cluster.local",
         Name(Kind.PORT, namespace="demo", service="web", port="http", protocol="tcp")),
        ("10-1-2-3.demo.pod.cluster.local", Name(Kind.POD, namespace="demo", ip="10.1.2.3")),
        ("fd00-1--5.demo.pod.cluster.local", Name(Kind.POD, namespace="demo", ip="fd00:1::5")),
        ("1.2.0.10.in-addr.arpa", Name(Kind.REVERSE, ip="10.0.2.1")),
    ],
)
def test_shapes(name: str, expected: Name) -> None:
    assert p(name) == expected if not name.endswith("arpa") else parse(name.split("."), 2) == expected


@pytest.mark.parametrize(
    "name",
    [
        "foo.cluster.local",
        "web.demo.foo.cluster.local",
        "a.b.c.d.e.f.svc.cluster.local",
        "http.tcp.web.demo.svc.cluster.local",  # SRV labels need their underscores
        "_http.tcp.web.demo.svc.cluster.local",
        "_._tcp.web.demo.svc.cluster.local",
        "x.1-2-3-4.demo.pod.cluster.local",
        "1-2-3.demo.pod.cluster.local",
        "1-2-3-256.demo.pod.cluster.local",
        "fd00-1---5.demo.pod.cluster.local",
        "nope.demo.pod.cluster.local",
        "dns-version.x.cluster.local",
        "ns.dns.x.cluster.local",
    ],
)
def test_invalid(name: str) -> None:
    assert p(name).kind is Kind.INVALID


def test_zone_relative() -> None:
    # a longer zone: the same labels classify relative to it
    assert parse("web.demo.svc.k8s.example.org".split("."), 3) == Name(Kind.SERVICE, "demo", "web")
    assert parse("svc.k8s.example.org".split("."), 3).kind is Kind.SVC_ROOT
    assert parse([], 0).kind is Kind.APEX


def test_reverse() -> None:
    assert reverse_ip("4.3.2.1.in-addr.arpa".split(".")) == "1.2.3.4"
    assert reverse_ip("3.2.1.in-addr.arpa".split(".")) == ""
    assert reverse_ip("04.3.2.1.in-addr.arpa".split(".")) == ""
    assert reverse_ip("300.3.2.1.in-addr.arpa".split(".")) == ""
    # A label byte 0xB2 reads as "²": a digit to isdigit(), not to int(); not an address either way.
    assert reverse_ip("\xb2.3.2.1.in-addr.arpa".split(".")) == ""
    v6 = reverse_name("fd00:96::30")
    assert v6 == "0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa."
    assert reverse_ip(v6.rstrip(".").split(".")) == "fd00:96::30"
    assert reverse_ip(v6.rstrip(".").split(".")[1:]) == ""
    assert reverse_ip(("x" + v6[1:]).rstrip(".").split(".")) == ""
    # the apex of a reverse zone and names between it and a full address
    assert parse(["in-addr", "arpa"], 2).kind is Kind.APEX
    assert parse(["96", "10", "in-addr", "arpa"], 4).kind is Kind.APEX
    assert parse(["10", "in-addr", "arpa"], 2).kind is Kind.INVALID


def test_dashed() -> None:
    assert dashed_ip("10-0-0-1") == "10.0.0.1"
    assert dashed_ip("fd00-0-0-0-0-0-0-1") == "fd00::1"
    assert dashed_ip("0--1") == "::1"
    assert dashed_ip("1-2-3-4-5") == ""
    assert ip_label("10.0.0.1") == "10-0-0-1"
    assert ip_label("fd00:1::5") == "fd00-1--5"
    assert ip_label("fd00::") == "fd00--0"
    assert ip_label("::1") == "0--1"
    for ip in ("10.0.0.1", "fd00:1::5", "fd00::", "::1"):
        assert dashed_ip(ip_label(ip)) == ip
