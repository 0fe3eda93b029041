"""The kubernetes directive: every option with CoreDNS's syntax, and errors that name the problem."""

from __future__ import annotations

import pytest

from kdns.corefile.duration import parse_duration
from kdns.corefile.parser import parse as parse_corefile
from kdns.errors import ConfigError
from kdns.corefile.keys import normalize_zone
from kdns.plugins.kubernetes.config import Config, parse, parse_selector


def k8s(body: str, args: str = "cluster.local in-addr.arpa ip6.arpa") -> Config:
    text = f".:53 {{\n kubernetes {args} {{\n{body}\n }}\n}}\n"
    blocks = parse_corefile(text, "Corefile", known=lambda name: True)
    (directive,) = [d for d in blocks[0].directives if d.name.text == "kubernetes"]
    return parse(directive)


def test_kubeadm_block() -> None:
    c = k8s("pods insecure\nfallthrough in-addr.arpa ip6.arpa\nttl 30")
    assert c.zones == ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")
    assert c.pods == "insecure"
    assert c.fallthrough == ("in-addr.arpa.", "ip6.arpa.")
    assert c.ttl == 30
    assert c.startup_timeout == 5.0 and not c.noendpoints and c.endpoint == ""


def test_defaults_and_block_zones() -> None:
    blocks = parse_corefile("cluster.local {\n kubernetes\n}\n", "Corefile", known=lambda n: True)
    c = parse(blocks[0].directives[0])
    assert c == Config()
    assert c.zones == ()  # the server block's zones, filled in at attach time
    assert c.pods == "disabled" and c.ttl == 5 and c.fallthrough is None


def test_every_option() -> None:
    c = k8s(
        "endpoint https://10.0.0.1:6443\n"
        "tls cert.pem key.pem ca.pem\n"
        "kubeconfig /etc/kube.conf prod\n"
        "namespaces demo Demo-B\n"
        "namespace_labels team in (a, b),!legacy\n"
        "labels app=web\n"
        "pods verified\n"
        "endpoint_pod_names\n"
        "ttl 3600\n"
        "noendpoints\n"
        "fallthrough\n"
        "ignore empty_service\n"
        "startup_timeout 1m30s\n"
        "endpoints_legacy"
    )
    assert c.endpoint == "https://10.0.0.1:6443"
    assert c.tls == ("cert.pem", "key.pem", "ca.pem")
    assert (c.kubeconfig, c.kubeconfig_context) == ("/etc/kube.conf", "prod")
    assert c.namespaces == frozenset({"demo", "demo-b"})
    assert c.namespace_labels is not None and c.namespace_labels.matches({"team": "a"})
    assert not c.namespace_labels.matches({"team": "a", "legacy": "yes"})
    assert c.labels is not None and c.labels.matches({"app": "web"}) and not c.labels.matches({})
    assert c.pods == "verified" and c.endpoint_pod_names and c.noendpoints
    assert c.ttl == 3600 and c.fallthrough == () and c.ignore_empty_service
    assert c.startup_timeout == 90.0 and c.endpoints_legacy


def test_manifests_relative_to_corefile(tmp_path) -> None:  # type: ignore[no-untyped-def]
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:53 {\n kubernetes cluster.local {\n  manifests demo /abs/x.yaml\n }\n}\n")
    from kdns.corefile.parser import load

    blocks = load(str(corefile), known=lambda n: True)
    c = parse(blocks[0].directives[0])
    assert c.manifests == (str(tmp_path / "demo"), "/abs/x.yaml")


@pytest.mark.parametrize(
    "body,message",
    [
        ("resyncperiod 5m", "resyncperiod"),
        ("ttl 3601", "ttl"),
        ("ttl -1", "ttl"),
        ("ttl five", "ttl"),
        ("ttl ²", "ttl"),  # a digit to str.isdigit(), not to int()
        ("ttl ٣", "ttl"),  # an Arabic-Indic 3, which int() would read
        ("ttl", "ttl"),
        ("pods maybe", "maybe"),
        ("pods", "pods"),
        ("ignore emptyservice", "emptyservice"),
        ("startup_timeout 5", "5"),
        ("startup_timeout soon", "soon"),
        ("tls a b", "tls"),
        ("kubeconfig", "kubeconfig"),
        ("kubeconfig a b c", "kubeconfig"),
        ("endpoint", "endpoint"),
        ("endpoint a b", "endpoint"),
        ("namespaces", "namespaces"),
        ("labels app=(", "label selector"),
        ("namespace_labels ==x", "label selector"),
        ("noendpoints yes", "noendpoints"),
        ("endpoint_pod_names x", "endpoint_pod_names"),
        ("manifests", "manifests"),
        ("manifests x.yaml\nendpoint https://a", "manifests"),
        ("ttl 5\nttl 6", "twice"),
        ("fallthrough 10.0.0.0/33", "not a valid CIDR"),
    ],
)
def test_errors(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        k8s(body)
    assert message in str(e.value)
    assert "Corefile:" in str(e.value)
    assert "kubernetes" in str(e.value)


def test_cidr_zones() -> None:
    assert normalize_zone("10.0.0.0/8") == ["10.in-addr.arpa."]
    assert normalize_zone("10.96.0.0/16") == ["96.10.in-addr.arpa."]
    zones = normalize_zone("10.0.0.0/17")
    assert len(zones) == 128 and zones[0] == "0.0.10.in-addr.arpa." and zones[-1] == "127.0.10.in-addr.arpa."
    # fd00::/108 is 27 nibbles: f, d, then 25 zeros
    assert normalize_zone("fd00::/108") == [".".join(["0"] * 25 + ["d", "f"]) + ".ip6.arpa."]
    assert normalize_zone("Cluster.Local") == ["cluster.local."]
    c = k8s("", args="cluster.local 10.96.0.0/16")
    assert c.zones == ("cluster.local.", "96.10.in-addr.arpa.")


def test_falls_through() -> None:
    c = Config(fallthrough=("in-addr.arpa.",))
    assert c.falls_through("1.0.0.10.in-addr.arpa.")
    assert not c.falls_through("x.cluster.local.")
    assert Config(fallthrough=()).falls_through("x.cluster.local.")
    assert not Config().falls_through("x.cluster.local.")


@pytest.mark.parametrize(
    "text,labels,expected",
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("environment in (staging, qa),application=nginx", {"environment": "qa", "application": "nginx"}, True),
        ("environment in (staging, qa),application=nginx", {"environment": "prod", "application": "nginx"}, False),
        ("tier notin (front)", {}, True),
        ("tier notin (front)", {"tier": "front"}, False),
        ("app", {"app": ""}, True),
        ("!app", {"app": "x"}, False),
        ("example.com/owner=me", {"example.com/owner": "me"}, True),
    ],
)
def test_selector(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


@pytest.mark.parametrize(
    "text,seconds",
    [("5s", 5.0), ("500ms", 0.5), ("1m", 60.0), ("1m30s", 90.0), ("1.5h", 5400.0), ("0", 0.0),
     ("250us", 0.00025), ("10µs", 0.00001), ("-2s", -2.0), ("1h2m3s4ms", 3723.004), (".5s", 0.5)],
)
def test_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "5x", "1.2.3s", "5 s", "--5s", "1d"])
def test_duration_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_readme_examples_parse() -> None:
    import re
    from pathlib import Path

    import kdns.plugins.kubernetes as pkg

    readme = (Path(pkg.__file__).parent / "README.md").read_text()
    examples = re.findall(r"~~~ corefile\n(.*?)~~~", readme, re.S)
    assert len(examples) == 6
    for text in examples:
        blocks = parse_corefile(text, "README.md", known=lambda name: True)
        (directive,) = [d for b in blocks for d in b.directives if d.name.text == "kubernetes"]
        parse(directive)
