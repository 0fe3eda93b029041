"""`kdns -validate -conf FILE` as a process: a Corefile checked before it is rolled out.

It parses the Corefile and builds every plugin through the server's own code (regexes compiled,
files read, upstream addresses checked), prints each warning and error with file and line, and exits
0 or 1, without binding a socket or contacting the Kubernetes API.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from plugins.kubernetes.k8s_cases import FIXTURES
from test_cli import kdns

from conftest import KUBEADM_COREFILE


def validate(corefile: Path):  # type: ignore[no-untyped-def]
    return kdns("-validate", "-conf", str(corefile))


@contextmanager
def held_port() -> Iterator[tuple[int, socket.socket]]:
    """A port this test holds for UDP and TCP (listening, never accepting) on 127.0.0.1."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        udp.bind(("127.0.0.1", port))
        tcp.listen(8)
        yield port, tcp
    finally:
        tcp.close()
        udp.close()


def contacted(listener: socket.socket) -> bool:
    """Whether anyone connected to listener (a finished handshake waits in its accept queue)."""
    listener.setblocking(False)
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def test_the_kubeadm_corefile_is_valid_outside_a_cluster(tmp_path: Path) -> None:
    # No service account, no API server here: the in-cluster credentials are not needed to check it.
    # The upstream file is one of the test's own, so the verdict does not hang on this host's.
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\n")
    assert "forward . /etc/resolv.conf " in KUBEADM_COREFILE
    corefile = tmp_path / "Corefile"
    corefile.write_text(KUBEADM_COREFILE.replace("forward . /etc/resolv.conf ", f"forward . {resolv} "))
    out = validate(corefile)
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout == f"{corefile}: valid (0 warnings, 0 errors)\n"


def test_legacy_forms_are_warned_about_with_file_and_line_and_pass(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(
        ".:53 {\n"
        "    errors\n"
        "    kubernetes cluster.local .svc in-addr.arpa ip6.arpa {\n"
        "        pods insecure\n"
        "        upstream\n"
        "        fallthrough in-addr.arpa ip6.arpa\n"
        "    }\n"
        "    hosts {\n"
        "        192.0.2.1 gateway.example.org\n"
        "        local-cache on\n"
        "        fallthrough\n"
        "    }\n"
        "    forward . 192.0.2.53\n"
        "}\n"
    )
    out = validate(corefile)
    assert (out.returncode, out.stderr) == (0, "")
    lines = out.stdout.splitlines()
    assert [line.split(": ", 2)[:2] for line in lines[:3]] == [
        ["[WARN] plugin/kubernetes", f"{corefile}:3"],
        ["[WARN] plugin/kubernetes", f"{corefile}:5"],
        ["[WARN] plugin/hosts", f"{corefile}:10"],
    ]
    assert "zone '.svc' begins with a dot" in lines[0] and "'upstream' is obsolete" in lines[1]
    assert "'local-cache on' does not begin with an address" in lines[2]
    assert lines[3:] == [f"{corefile}: valid (3 warnings, 0 errors)"]


BROKEN = [
    # (Corefile body, line, directive, what the message says)
    (".:53 {\n    whoami\n    frobnicate\n}\n", 3, "", "unknown directive 'frobnicate'"),
    (".:53 {\n    forward . 192.0.2.1:99999\n}\n", 2, "forward", "192.0.2.1:99999"),
    (".:53 {\n    forward . not-an-address\n}\n", 2, "forward", "not-an-address"),
    (".:53 {\n    errors {\n        consolidate 5m ^(unclosed\n    }\n}\n", 3, "errors", "invalid regexp"),
    (".:53 {\n    kubernetes {\n        ttl 9000\n    }\n}\n", 3, "kubernetes", "ttl"),
    # Read only when the plugin is attached to its block (the zones are the block's keys).
    ("example.org {{\n    file {tmp}/missing.db\n}}\n", 2, "file", "cannot read zone file"),
    # Read only when the kubernetes plugin starts: -validate reads them the same way.
    (".:53 {\n    kubernetes {\n        manifests broken.yaml\n    }\n}\n", 2, "kubernetes", "broken.yaml"),
    (".:53 {\n    kubernetes {\n        manifests absent/\n    }\n}\n", 2, "kubernetes", "no such file"),
    ("example.org .:53 {\n    whoami\n}\nexample.org {\n    whoami\n}\n", 4, "", "already defined"),
]


@pytest.mark.parametrize(("body", "line", "directive", "needle"), BROKEN)
def test_a_broken_corefile_names_file_line_and_directive_and_fails(
    tmp_path: Path, body: str, line: int, directive: str, needle: str,
) -> None:
    (tmp_path / "broken.yaml").write_text("apiVersion: v1\nkind: [Service\n")
    corefile = tmp_path / "Corefile"
    corefile.write_text(body.format(tmp=tmp_path) if "{tmp}" in body else body)
    out = validate(corefile)
    assert out.returncode == 1
    assert out.stderr.startswith(f"kdns: {corefile}:{line}: {directive + ': ' if directive else ''}")
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.count("kdns: ") == 1
    assert out.stdout.endswith(f"{corefile}: not valid (0 warnings, 1 errors)\n")


def test_every_plugin_line_that_does_not_parse_is_printed(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(
        ".:53 {\n    cache 30 {\n        success -1\n    }\n    kubernetes cluster.local {\n        upstream\n"
        "        ttl 9000\n    }\n    forward . 192.0.2.1:99999\n    errors\n    errors\n}\n"
        "example.org:53 {\n    hosts {\n        ttl zero\n    }\n    whoami\n}\n"
    )
    out = validate(corefile)
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert [line.split(": ")[1:3] for line in lines] == [
        [f"{corefile}:3", "cache"],
        [f"{corefile}:7", "kubernetes"],
        [f"{corefile}:9", "forward"],
        [f"{corefile}:11", "errors"],
        [f"{corefile}:15", "hosts"],
    ]
    assert "'upstream' is obsolete" in out.stdout  # the lines that do parse still warn
    assert out.stdout.endswith(f"{corefile}: not valid (1 warnings, 5 errors)\n")


def test_nothing_is_bound_ports_already_taken_validate(tmp_path: Path) -> None:
    # Every port the Corefile names is held by this test: serving it would fail, checking it must not.
    with held_port() as (dns, _), held_port() as (health, _), held_port() as (metrics, _), held_port() as (ready, _):
        corefile = tmp_path / "Corefile"
        corefile.write_text(
            f".:{dns} {{\n    bind 127.0.0.1\n    health 127.0.0.1:{health}\n    ready 127.0.0.1:{ready}\n"
            f"    prometheus 127.0.0.1:{metrics}\n    kubernetes cluster.local {{\n        manifests {FIXTURES}\n"
            f"    }}\n    forward . 192.0.2.53\n    loop\n    reload\n}}\n"
        )
        out = validate(corefile)
        assert (out.returncode, out.stderr) == (0, ""), out.stdout
        # The same Corefile served: the taken port is what stops it, so the test above can fail.
        served = kdns("-conf", str(corefile))
        assert served.returncode == 1 and "cannot listen" in served.stdout + served.stderr


def test_the_kubernetes_api_is_not_contacted(tmp_path: Path) -> None:
    with held_port() as (port, api):
        corefile = tmp_path / "Corefile"
        corefile.write_text(
            ".:53 {\n    kubernetes cluster.local {\n"
            f"        endpoint http://127.0.0.1:{port}\n        startup_timeout 60s\n"
            "    }\n}\n"
        )
        out = validate(corefile)
        assert (out.returncode, out.stderr) == (0, "")
        assert not contacted(api)
        # The same listener does record a client that connects.
        with socket.create_connection(("127.0.0.1", port)):
            assert contacted(api)
