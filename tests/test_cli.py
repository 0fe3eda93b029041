"""kdns as a process, the way a container runs it: flags, exit codes, signals, reload."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from upstreams import FakeUpstream, free_port


def kdns(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kdns", *args], capture_output=True, text=True, timeout=timeout)


def ask(port: int, name: str, rdtype: str = "A", timeout: float = 1.0) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=port, timeout=timeout)


def wait_answering(port: int, proc: subprocess.Popen[str], name: str = "example.org") -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            ask(port, name, timeout=0.2)
            return
        except dns.exception.Timeout:
            continue
    raise AssertionError("kdns did not start answering")


def test_version_and_plugins() -> None:
    out = kdns("-version")
    assert out.returncode == 0 and out.stdout.startswith("kdns-")
    out = kdns("-plugins")
    assert out.returncode == 0
    for name in ("dns.kubernetes", "dns.forward", "dns.cache", "dns.file", "dns.health"):
        assert name in out.stdout


def test_missing_corefile_is_one_line_and_exit_1(tmp_path: Path) -> None:
    out = kdns("-conf", str(tmp_path / "nope"))
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "nope" in out.stderr and "Traceback" not in out.stderr


def test_bad_corefile_names_file_line_and_directive(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:1053 {\n    whoami\n    frobnicate on\n}\n")
    out = kdns("-conf", str(corefile))
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert f"{corefile}:3" in out.stderr and "frobnicate" in out.stderr


def test_kubernetes_outside_a_pod_without_endpoint_is_one_line_and_exit_1(tmp_path: Path) -> None:
    # A plugin's start() failing as expected (here: no service account to read) is a message, not
    # a traceback.
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:{free_port()} {{\n    kubernetes cluster.local\n}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
    out = subprocess.run([sys.executable, "-m", "kdns", "-conf", str(corefile)], capture_output=True, text=True,
                         timeout=30, env=env)
    assert out.returncode == 1
    assert "Traceback" not in out.stdout + out.stderr
    assert out.stdout.startswith("[ERROR] kubernetes: cannot configure the API client: KUBERNETES_SERVICE_HOST")
    assert out.stdout.count("\n") == 1


@contextmanager
def running(corefile: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kdns", "-conf", str(corefile), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_sigterm_with_lameduck_keeps_answering_then_exits_0(tmp_path: Path) -> None:
    port, health = free_port(), free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:{port} {{\n bind 127.0.0.1\n whoami\n health 127.0.0.1:{health} {{\n  lameduck 1.5s\n }}\n}}\n")
    with running(corefile) as proc:
        wait_answering(port, proc)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None
        assert ask(port, "still.here").rcode() == dns.rcode.NOERROR  # lameduck: still serving
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{health}/health", timeout=2) as resp:
            assert resp.status == 200
        assert proc.wait(timeout=10) == 0


def test_sigusr1_reloads_and_a_broken_corefile_keeps_the_old_config(tmp_path: Path) -> None:
    port = free_port()
    zone = tmp_path / "db.test"
    zone.write_text(
        "$ORIGIN test.\n@ 3600 IN SOA ns.test. admin.test. 1 7200 3600 1209600 3600\n"
        "@ 3600 IN NS ns.test.\nns 3600 IN A 10.0.0.53\nwww 3600 IN A 10.0.0.1\n"
    )
    corefile = tmp_path / "Corefile"
    corefile.write_text(f"test:{port} {{\n bind 127.0.0.1\n file {zone}\n}}\n")
    with running(corefile) as proc:
        wait_answering(port, proc, "www.test")
        assert ask(port, "www.test").answer[0][0].address == "10.0.0.1"
        # A broken Corefile: logged with file and line, and the old config keeps serving.
        corefile.write_text(f"test:{port} {{\n bind 127.0.0.1\n file {zone}\n nonsense\n}}\n")
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        assert ask(port, "www.test").answer[0][0].address == "10.0.0.1"
        # A good new Corefile: swapped in on the same socket.
        other = tmp_path / "db.other"
        other.write_text(zone.read_text().replace("10.0.0.1", "10.0.0.2"))
        corefile.write_text(f"test:{port} {{\n bind 127.0.0.1\n file {other}\n}}\n")
        proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while ask(port, "www.test").answer[0][0].address != "10.0.0.2":
            assert time.monotonic() < deadline, "reload did not take effect"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert f"{corefile}:4" in out and "nonsense" in out and "keeping the running config" in out
        assert "Traceback" not in out


def test_plugin_log_lines_are_named_after_their_plugin(tmp_path: Path) -> None:
    # CoreDNS's shape, "[LEVEL] plugin/NAME: message", for a line logged while the Corefile is read
    # as for one logged while serving.
    port = free_port()
    missing = tmp_path / "no-hosts"
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:{port} {{\n bind 127.0.0.1\n errors\n hosts {missing} {{\n  fallthrough\n }}\n}}\n")
    with running(corefile) as proc:
        wait_answering(port, proc)  # example.org falls through hosts to the end of the chain
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    lines = out.splitlines()
    assert f"[WARN] plugin/hosts: file does not exist: {missing}" in lines
    assert "[ERROR] plugin/errors: 2 example.org. A: no next plugin found" in lines


def test_workers_share_the_port_reload_together_and_stop_together(tmp_path: Path) -> None:
    port = free_port()
    zone = tmp_path / "db.test"
    soa = "$ORIGIN test.\n@ 3600 IN SOA ns.test. admin.test. 1 7200 3600 1209600 3600\n@ 3600 IN NS ns.test.\n"
    zone.write_text(soa + "www 3600 IN A 10.0.0.1\n")
    corefile = tmp_path / "Corefile"
    corefile.write_text(f"test:{port} {{\n bind 127.0.0.1\n workers 2\n file {zone}\n}}\n")
    with running(corefile) as proc:
        wait_answering(port, proc, "www.test")
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 1  # the first process and one more worker
        other = tmp_path / "db.other"
        other.write_text(soa + "www 3600 IN A 10.0.0.2\n")
        corefile.write_text(f"test:{port} {{\n bind 127.0.0.1\n workers 2\n file {other}\n}}\n")
        proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while True:
            # Fresh source ports spread over both sockets: every worker must have reloaded.
            seen = {ask(port, "www.test").answer[0][0].address for _ in range(40)}
            if seen == {"10.0.0.2"}:
                break
            assert time.monotonic() < deadline, f"not every worker reloaded: {seen}"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not Path(f"/proc/{children[0]}").exists() or "Z" in Path(f"/proc/{children[0]}/stat").read_text().split()[2]


@pytest.mark.parametrize("keys", [".", ".svc ."], ids=["root", "leading-dot-zone-first"])
def test_forwarding_loop_is_detected_and_kdns_exits_1(tmp_path: Path, keys: str) -> None:
    port = free_port()
    corefile = tmp_path / "Corefile"
    # forward points back at this very server: every forwarded query comes round again. A first
    # key written `.svc` gets no queries, so the probe goes in the next zone.
    keys = " ".join(f"{key}:{port}" for key in keys.split())
    corefile.write_text(f"{keys} {{\n bind 127.0.0.1\n loop\n forward . 127.0.0.1:{port}\n}}\n")
    with running(corefile) as proc:
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "Loop (127.0.0.1:" in out and "HINFO" in out and "detected for zone \".\"" in out
    assert "127.0.0.53" in out  # the likely cause is named
    assert "Traceback" not in out


def test_no_loop_with_a_real_upstream(tmp_path: Path) -> None:
    import asyncio

    async def scenario() -> None:
        async with FakeUpstream() as upstream:
            port = free_port()
            corefile = tmp_path / "Corefile"
            corefile.write_text(f".:{port} {{\n bind 127.0.0.1\n loop\n forward . {upstream.address}\n}}\n")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kdns", "-conf", str(corefile),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )
            await asyncio.sleep(3)
            assert proc.returncode is None  # still serving: the probe got an answer
            assert any(q.qtype == "HINFO" for q in upstream.client_queries())
            proc.send_signal(signal.SIGTERM)
            out, _ = await proc.communicate()
            assert proc.returncode == 0, out.decode()

    asyncio.run(scenario())


def test_a_dead_upstream_is_not_a_loop(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    corefile = tmp_path / "Corefile"
    # Nothing listens on `dead`: every probe times out, which must not count as seeing it loop.
    corefile.write_text(f".:{port} {{\n bind 127.0.0.1\n loop\n forward . 127.0.0.1:{dead}\n}}\n")
    with running(corefile) as proc:
        time.sleep(6)
        assert proc.poll() is None, "kdns stopped although nothing loops"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


# Modules the kubeadm Corefile's plugins do not need, each once a share of start-up: aiohttp
# (~90 ms to import), kubernetes_asyncio and urllib3 (only for `kubeconfig`), PyYAML (only for
# YAML manifests), prometheus_client's exposition (only at the first scrape), and ctypes where
# the compiled UDP loop was built.
NOT_AT_START = ("aiohttp", "yarl", "kubernetes_asyncio", "urllib3", "yaml", "prometheus_client.exposition", "http.server")


async def _lines_so_far(stream: asyncio.StreamReader) -> list[str]:
    lines = []
    while True:
        try:
            line = await asyncio.wait_for(stream.readline(), 0.5)
        except TimeoutError:
            return lines
        if not line:
            return lines
        lines.append(line.decode())


def _imported(lines: list[str]) -> set[str]:
    return {line.rpartition("|")[2].strip() for line in lines if line.startswith("import time:")}


async def test_kubeadm_corefile_on_the_api_imports_only_what_it_uses(tmp_path: Path) -> None:
    from kdns.server import mmsg
    from tests.fakeapi import FakeApi

    dns_port, metrics_port, upstream = free_port(), free_port(), free_port()
    text = (Path(__file__).parent / "fixtures" / "kubeadm.Corefile").read_text()
    async with FakeApi(recorded=True) as api:
        corefile = tmp_path / "Corefile"
        corefile.write_text(
            text.replace(".:53", f".:{dns_port}")
            .replace("health {", f"health 127.0.0.1:{free_port()} {{")
            .replace("ready\n", f"ready 127.0.0.1:{free_port()}\n")
            .replace("prometheus :9153", f"prometheus 127.0.0.1:{metrics_port}")
            .replace("pods insecure", f"pods insecure\n       endpoint {api.url}")
            .replace("/etc/resolv.conf", f"127.0.0.1:{upstream}")
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-X", "importtime", "-m", "kdns", "-conf", str(corefile),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        try:
            query = dns.message.make_query("kubernetes.default.svc.cluster.local", "A")
            async with asyncio.timeout(20):
                while True:
                    try:
                        answer = await dns.asyncquery.udp(query, "127.0.0.1", port=dns_port, timeout=0.2)
                        break
                    except dns.exception.Timeout:
                        assert proc.returncode is None
            assert answer.answer, "answered from the API's recorded objects"
            at_start = _imported(await _lines_so_far(proc.stderr))
            # The first scrape imports the exposition, and with it the process collector.
            reader, writer = await asyncio.open_connection("127.0.0.1", metrics_port)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: kdns\r\nConnection: close\r\n\r\n")
            scraped = (await reader.read()).decode()
            writer.close()
        finally:
            proc.terminate()
            _, rest = await proc.communicate()
    assert "kdns.plugins.kubernetes.apisource" in at_start
    unwanted = NOT_AT_START + (("ctypes",) if mmsg.CompiledBatch is not None else ())
    assert sorted(m for m in at_start if m.startswith(unwanted)) == []
    assert scraped.startswith("HTTP/1.1 200 ")
    for family in ("coredns_build_info{", "coredns_dns_requests_total{", "process_resident_memory_bytes "):
        assert f"\n{family}" in scraped, family
    assert "prometheus_client.exposition" in _imported(rest.decode().splitlines())
