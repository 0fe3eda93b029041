"""proxy (CoreDNS before 1.5) read as forward: every option of its README mapped, or refused by name."""

from __future__ import annotations

import logging

import pytest

from kdns.config import config_from_text
from kdns.errors import ConfigError
from kdns.plugins.forward.config import Upstream
from kdns.plugins.forward.config import parse as forward_parse
from kdns.plugins.proxy.config import parse
from tests.upstreams import directive


def config(body: str):
    return parse(directive(". {\n" + body + "\n}\n", "proxy"))


def forward(body: str):
    return forward_parse(directive(". {\n" + body + "\n}\n", "forward"))


def spelling(caplog) -> str:
    """The forward line the load-time warning names."""
    [record] = [r for r in caplog.records if r.name == "kdns.plugins.proxy"]
    assert record.levelno == logging.WARNING
    return record.getMessage().split("kdns runs it as: ", 1)[1]


def test_plain_proxy_is_forward_that_does_not_spray(caplog):
    c = config("proxy . 10.0.0.10:53 10.0.0.11:1053 10.0.0.12")
    assert c.upstreams == (Upstream("10.0.0.10", 53), Upstream("10.0.0.11", 1053), Upstream("10.0.0.12", 53))
    assert c.from_zone == "." and c.failfast_all_unhealthy
    message = caplog.records[0].getMessage()
    assert message.startswith("Corefile:2: proxy is CoreDNS's forwarder before 1.5")
    assert spelling(caplog) == "forward . 10.0.0.10:53 10.0.0.11:1053 10.0.0.12 { failfast_all_unhealthy_upstreams }"
    # The spelling it names is the same configuration.
    assert forward(spelling(caplog)) == c


def test_every_option_mapped(caplog):
    c = config(
        "proxy example.org 10.0.0.10 10.0.0.11 {\n policy always_first\n fail_timeout 10s\n max_fails 3\n"
        " health_check /health:8080 5s\n except miek.nl Example.ORG\n spray\n protocol dns force_tcp\n}"
    )
    assert c.from_zone == "example.org." and c.policy == "sequential" and c.max_fails == 3
    assert c.health_check == 5.0  # health_check's interval wins over fail_timeout
    assert c.except_zones == ("miek.nl.", "example.org.")
    assert c.force_tcp and not c.failfast_all_unhealthy
    written = spelling(caplog)
    assert written == (
        "forward example.org 10.0.0.10 10.0.0.11 { policy sequential; max_fails 3; except miek.nl example.org; "
        "force_tcp; health_check 5s } (one option a line)"
    )
    body = written.split(" (one")[0].replace("{ ", "{\n ").replace("; ", "\n ").replace(" }", "\n}")
    assert forward(body) == c


@pytest.mark.parametrize(
    "options, health_check",
    [
        ("fail_timeout 3s", 3.0),
        ("health_check /health:8080", 4.0),  # proxy's default interval
        ("fail_timeout 250ms", 0.25),
        ("", 0.5),  # forward's default
    ],
)
def test_health_check_interval_from_fail_timeout_or_health_check(options, health_check):
    assert config(f"proxy . 10.0.0.10 {{\n spray\n {options}\n}}").health_check == health_check


@pytest.mark.parametrize("policy, mapped", [("random", "random"), ("round_robin", "round_robin"),
                                            ("first", "sequential"), ("sequential", "sequential")])
def test_policies(policy, mapped):
    assert config(f"proxy . 10.0.0.10 {{\n policy {policy}\n}}").policy == mapped


def test_resolv_conf_and_except_as_in_the_readme(tmp_path, caplog):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.96.0.10\n")
    c = config(f"proxy . {resolv} {{\n except miek.nl example.org\n}}")
    assert c.upstreams == (Upstream("10.96.0.10", 53),)
    assert c.except_zones == ("miek.nl.", "example.org.")
    assert spelling(caplog) == (
        f"forward . {resolv} {{ except miek.nl example.org; failfast_all_unhealthy_upstreams }} (one option a line)"
    )


@pytest.mark.parametrize(
    "body, message",
    [
        ("proxy . 10.0.0.10 {\n protocol https_google\n}", "protocol https_google sends every query to dns.google.com"),
        ("proxy . 10.0.0.10 {\n protocol https_google bootstrap 1.1.1.1\n}", "outside the cluster"),
        ("proxy . 10.0.0.10 {\n protocol grpc insecure\n}", "protocol grpc has no equivalent in forward"),
        ("proxy . 10.0.0.10 {\n protocol dns udp\n}", "only force_tcp allowed"),
        ("proxy . 10.0.0.10 {\n protocol carrier_pigeon\n}", "invalid protocol: carrier_pigeon"),
        ("proxy . 10.0.0.10 {\n policy least_conn\n}", "policy 'least_conn': forward has no least_conn"),
        ("proxy . 10.0.0.10 {\n policy fastest\n}", "policy 'fastest': unknown policy"),
        ("proxy . 10.0.0.10 {\n report_health\n}", "report_health has no equivalent in forward"),
        ("proxy . 10.0.0.10 {\n max_concurrent 10\n}", "unknown property 'max_concurrent'"),
        ("proxy . 10.0.0.10 {\n health_check 5s\n}", "health_check: '5s' is not PATH:PORT"),
        ("proxy . 10.0.0.10 {\n fail_timeout 0s\n}", "fail_timeout must be positive"),
        ("proxy . 10.0.0.10 {\n max_fails -1\n}", "less than 0"),
        ("proxy . 10.0.0.10 {\n spray 1\n}", "'spray' takes exactly 0"),
        ("proxy . tls://9.9.9.9", "write forward with tls://"),
        ("proxy . example.com", "not an IP address or file"),
        ("proxy .", "wrong argument count"),
    ],
)
def test_errors_name_file_line_and_option(body, message):
    with pytest.raises(ConfigError, match=message) as e:
        config(body)
    assert e.value.file == "Corefile" and e.value.line >= 2 and e.value.directive == "proxy"


def test_several_proxy_lines_longest_zone_first():
    corefile = ". {\n proxy . 10.0.0.1\n proxy example.org 10.0.0.2\n}\n"
    uses = config_from_text(corefile).blocks[0].plugins
    assert [(u.name, u.config.from_zone) for u in uses] == [("proxy", "example.org."), ("proxy", ".")]


def test_proxy_lines_rank_with_forward_lines():
    # Written as the forward lines they run as, they would rank the same: nothing changes meaning.
    corefile = ". {\n proxy . 10.0.0.1\n forward . 10.0.0.2\n proxy example.org 10.0.0.3\n whoami\n}\n"
    uses = config_from_text(corefile).blocks[0].plugins
    assert [(u.name, getattr(u.config, "from_zone", None)) for u in uses] == [
        ("proxy", "example.org."), ("proxy", "."), ("forward", "."), ("whoami", None),
    ]
