from __future__ import annotations

import subprocess

import pytest

from kdns.errors import ConfigError
from kdns.plugins.forward.config import Upstream, parse
from tests.upstreams import directive


def config(body: str):
    return parse(directive(". {\n" + body + "\n}\n", "forward"))


def test_addresses_ipv4_ipv6_ports():
    c = config("forward example.org 10.0.0.10 10.0.0.11:1053 [2003::1]:53 dns://10.0.0.12:5353 ::1")
    assert c.from_zone == "example.org."
    assert c.upstreams == (
        Upstream("10.0.0.10", 53), Upstream("10.0.0.11", 1053), Upstream("2003::1", 53),
        Upstream("10.0.0.12", 5353), Upstream("::1", 53),
    )
    assert [u.label for u in c.upstreams[:3]] == ["10.0.0.10:53", "10.0.0.11:1053", "[2003::1]:53"]


def test_bracketed_ipv6_without_port_is_port_53():
    assert config("forward . [2003::1] dns://[::1]").upstreams == (Upstream("2003::1", 53), Upstream("::1", 53))


def test_defaults_are_coredns_defaults():
    c = config("forward . 127.0.0.1")
    assert (c.max_fails, c.health_check, c.expire, c.policy, c.max_concurrent) == (2, 0.5, 10.0, "random", 0)
    assert c.timeouts.read == 2.0 and c.timeouts.total == 5.0
    assert not c.force_tcp and not c.prefer_udp


def test_resolv_conf(tmp_path):
    path = tmp_path / "resolv.conf"
    path.write_text(
        "# generated\nsearch default.svc.cluster.local\nnameserver 10.96.0.10\nnameserver fd00::a\n"
        "options ndots:5\nnameserver not-an-ip\n"
    )
    c = config(f"forward . {path} 192.0.2.1:5300")
    assert c.upstreams == (Upstream("10.96.0.10", 53), Upstream("fd00::a", 53), Upstream("192.0.2.1", 5300))


def test_resolv_conf_without_nameservers(tmp_path):
    path = tmp_path / "resolv.conf"
    path.write_text("search x\n")
    with pytest.raises(ConfigError, match="no nameservers"):
        config(f"forward . {path}")


def test_missing_file():
    with pytest.raises(ConfigError, match="cannot read"):
        config("forward . /nonexistent/resolv.conf")


def test_at_most_15_upstreams():
    config("forward . " + " ".join(f"10.0.0.{i}" for i in range(15)))
    with pytest.raises(ConfigError, match="more than 15"):
        config("forward . " + " ".join(f"10.0.0.{i}" for i in range(16)))


def test_options():
    c = config(
        "forward . 127.0.0.1 {\n except example.com Example.NET\n force_tcp\n expire 5s\n max_fails 3\n"
        " health_check 100ms no_rec domain example.org\n policy round_robin\n max_concurrent 1000\n"
        " failover SERVFAIL refused\n max_idle_conns 4\n failfast_all_unhealthy_upstreams\n}"
    )
    assert c.except_zones == ("example.com.", "example.net.")
    assert c.force_tcp and c.expire == 5.0 and c.max_fails == 3
    assert c.health_check == 0.1 and not c.health_check_rd and c.health_check_domain == "example.org."
    assert c.policy == "round_robin" and c.max_concurrent == 1000 and c.max_idle_conns == 4
    assert c.failover_rcodes == {2, 5} and c.failfast_all_unhealthy


def test_zones_as_server_block_keys_a_cidr_its_reverse_zones(caplog):
    c = config(
        "forward dns://Example.ORG:53 127.0.0.1 {\n except 10.0.0.0/8 svc.Cluster.Local\n"
        " health_check 1s domain 192.168.0.0/16\n}"
    )
    assert c.from_zone == "example.org."
    assert c.except_zones == ("10.in-addr.arpa.", "svc.cluster.local.")
    assert c.health_check_domain == "168.192.in-addr.arpa."
    # As CoreDNS: FROM keeps the first zone of a CIDR that spans several, with a warning.
    assert config("forward 10.0.0.0/23 127.0.0.1").from_zone == "0.0.10.in-addr.arpa."
    assert "expands to multiple zones" in caplog.text


def test_failover_rcode_names_any_case():
    assert config("forward . 127.0.0.1 {\n failover nxdomain FormErr\n}").failover_rcodes == {3, 1}


def test_force_tcp_wins_over_prefer_udp():
    c = config("forward . 127.0.0.1 {\n prefer_udp\n force_tcp\n}")
    assert c.force_tcp and not c.prefer_udp


@pytest.mark.parametrize(
    "body, message",
    [
        ("forward .", "wrong argument count"),
        ("forward . example.com", "not an IP address or file"),
        ("forward . 127.0.0.1:99999", "invalid port"),
        ("forward . https://9.9.9.9/dns-query", "DNS-over-HTTPS upstreams are not supported by kdns"),
        ("forward . tls://dns.quad9.net", "not an IP address or file: 'tls://dns.quad9.net'"),
        ("forward . tls://9.9.9.9:0", "invalid port in 'tls://9.9.9.9:0'"),
        ("forward . tls://9.9.9.9 {\n tls a b c d\n}", "'tls' takes 0 to 3, got 4"),
        ("forward . tls://9.9.9.9 {\n tls_servername\n}", "'tls_servername' takes exactly 1, got 0"),
        ("forward . tls://9.9.9.9 {\n tls /nonexistent/ca.pem\n}",
         "cannot load TLS certificates \\(/nonexistent/ca.pem\\): No such file or directory"),
        ("forward . 127.0.0.1 {\n policy fastest\n}", "unknown policy 'fastest'"),
        ("forward . 127.0.0.1 {\n max_fails -1\n}", "less than 0"),
        ("forward . 127.0.0.1 {\n max_concurrent 0\n}", "less than 1"),
        ("forward . 127.0.0.1 {\n expire soon\n}", "invalid duration"),
        ("forward . 127.0.0.1 {\n bogus\n}", "unknown property 'bogus'"),
        ("forward . 127.0.0.1 {\n failover NOERROR\n}", "NOERROR"),
        ("forward . 127.0.0.1 {\n health_check 1s sometimes\n}", "unknown argument"),
        ("forward . 127.0.0.1 {\n failover bitmap\n}", "'bitmap' is not a valid rcode"),
        ("forward . 127.0.0.1 {\n failover SERVFAIL Refused reverse\n}", "'reverse' is not a valid rcode"),
        ("forward . 1.2.3.4:²", "invalid port in '1.2.3.4:²'"),
        ("forward . [::1]:٣", "invalid port in"),
        ("forward . 1.2.3.4:+-53", "invalid port"),
        ("forward . [::1", "not an IP address or file: '\\[::1'"),
        ("forward . [::1]53", "not an IP address or file"),
        ("forward . 1::2::3", "not an IP address or file"),
        ("forward . ::1]:53", "not an IP address or file"),
        ("forward . [::1]:", "invalid port in"),
        ("forward . 127.0.0.1:0", "invalid port in"),
        ("forward a..b 127.0.0.1", "empty label"),
        ("forward . 127.0.0.1 {\n except example.org a..b\n}", "empty label"),
        ("forward . 127.0.0.1 {\n except " + "x" * 64 + "\n}", "not a valid label"),
        ("forward . 127.0.0.1 {\n health_check 1s domain a..b\n}", "empty label"),
        ("forward . 127.0.0.1 {\n health_check 1s domain 10.0.0.0/23\n}", "invalid domain name"),
        ("forward . 127.0.0.1 {\n max_fails ²\n}", "'²' is not a number"),
        ("forward . 127.0.0.1 {\n max_idle_conns --1\n}", "'--1' is not a number"),
        ("forward . 127.0.0.1 {\n max_concurrent ١٠\n}", "not a number"),
        ("forward . 127.0.0.1 {\n force_tcp {\n x\n }\n}", "'force_tcp' takes no block"),
    ],
)
def test_errors_name_file_line_and_problem(body, message):
    with pytest.raises(ConfigError, match=message) as e:
        config(body)
    assert e.value.file == "Corefile" and e.value.line >= 2
    assert e.value.directive == "forward"


def test_tls_upstreams_port_853_by_default_and_mixed_with_plain():
    c = config("forward . tls://9.9.9.9 tls://[2620:fe::fe]:8853 TLS://149.112.112.112 10.0.0.1")
    assert c.upstreams == (
        Upstream("9.9.9.9", 853, tls=True), Upstream("2620:fe::fe", 8853, tls=True),
        Upstream("149.112.112.112", 853, tls=True), Upstream("10.0.0.1", 53),
    )
    assert c.upstreams[1].label == "[2620:fe::fe]:8853"


def test_tls_arguments_as_coredns_reads_them(tmp_path):
    from tests.tlscerts import make_certs

    certs = make_certs(tmp_path)
    base = "forward . tls://127.0.0.1 {\n"
    c = config(base + " tls_servername dns.test\n}")
    assert (c.tls.cert, c.tls.key, c.tls.ca, c.tls.server_name) == (None, None, None, "dns.test")
    c = config(base + f" tls {certs.ca}\n}}")
    assert (c.tls.cert, c.tls.key, c.tls.ca) == (None, None, str(certs.ca))
    c = config(base + f" tls {certs.client} {certs.client_key}\n}}")
    assert (c.tls.cert, c.tls.key, c.tls.ca) == (str(certs.client), str(certs.client_key), None)
    c = config(base + f" tls {certs.client} {certs.client_key} {certs.ca}\n tls_servername dns.test\n}}")
    assert (c.tls.cert, c.tls.key, c.tls.ca, c.tls.server_name) == (
        str(certs.client), str(certs.client_key), str(certs.ca), "dns.test",
    )
    # A key that does not belong to the certificate is refused at load time.
    with pytest.raises(ConfigError, match="cannot load TLS certificates") as e:
        config(base + f" tls {certs.client} {certs.server_key} {certs.ca}\n}}")
    assert e.value.line == 3
    # So is an encrypted key (no prompt for its password: kdns runs without a terminal).
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "ec", "-in", str(certs.client_key), "-aes256", "-passout", "pass:secret",
                    "-out", str(encrypted)], check=True, capture_output=True)
    with pytest.raises(ConfigError, match=f"cannot load TLS certificates \\({certs.client}, {encrypted}\\)"):
        config(base + f" tls {certs.client} {encrypted}\n}}")


def test_tls_options_without_tls_upstreams_warn(caplog):
    c = config("forward . 127.0.0.1 {\n tls\n tls_servername dns.test\n}")
    assert c.upstreams == (Upstream("127.0.0.1", 53),)
    assert "Corefile:3: tls options apply only to tls:// upstreams" in caplog.text


def test_several_forward_rank_longest_zone_first():
    from kdns.config import config_from_text

    corefile = (
        ". {\n forward . 10.0.0.1\n forward corp.example 10.0.0.2\n forward a.corp.example 10.0.0.3\n"
        " forward . 10.0.0.4\n forward Lab.Example 10.0.0.5\n}\n"
    )
    uses = [u for u in config_from_text(corefile).blocks[0].plugins if u.name == "forward"]
    # Deepest zone first; equal depth in Corefile order (the second `.` only gets what the first excepts).
    assert [(u.config.from_zone, u.config.upstreams[0].host) for u in uses] == [
        ("a.corp.example.", "10.0.0.3"), ("corp.example.", "10.0.0.2"), ("lab.example.", "10.0.0.5"),
        (".", "10.0.0.1"), (".", "10.0.0.4"),
    ]
