"""A pod's view, end to end (issue 5): real resolvers in a network namespace, kdns as its DNS.

Topology. Two network namespaces made by this test and joined only to each other by a veth pair:

    kdns-srv-<pid>                                  kdns-pod-<pid>  ("the pod", 10.244.0.5)
      10.96.0.10 on the veth  <------ veth ------>    resolv.conf: nameserver 10.96.0.10
      kdns  (python -m kdns, bind 10.96.0.10:53)      hosts: kubelet's managed file
      fake kube-apiserver on 127.0.0.1:<port>         getent hosts/ahosts, dig +search,
      dnsmasq (the "node's resolver") 127.0.0.1:53    nslookup
      resolv.conf: nameserver 127.0.0.1

Why both ends live in namespaces we create: the addresses are Kubernetes ones (kube-dns is
10.96.0.10, as in deploy/base/service.yaml; pods are in 10.244.0.0/16), which are private ranges
that must never be a traffic target on this machine. Neither namespace has a default route or a
link to the host's namespace, so every packet of this test stays between the two namespaces and
their own loopbacks. The server's veth end holds the kube-dns ClusterIP itself (there is no
kube-proxy to DNAT a service address to a pod), so the PTR of the server's address is the kube-dns
Service's name, which is what nslookup shows as the server's name.

kdns runs exactly as in the cluster: `python -m kdns -conf FILE` with the Corefile of
deploy/base/configmap.yaml, changed only where a laptop differs from a cluster (see
`server_corefile`); `forward . /etc/resolv.conf` reads the server namespace's resolv.conf, the way a
kdns pod with `dnsPolicy: Default` reads its node's. The fake API (tests/fakeapi) runs as its own
process in the server namespace (tests/e2e/fakeapi_main.py), loaded from tests/e2e/cluster.yaml
plus the real kube-dns Service of deploy/base/service.yaml.

Skipped, with the reason, when the machine cannot make network namespaces (not root, no `ip`,
no netns or veth support) or lacks dnsmasq.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from e2e_corefile import DEPLOY, configmap_corefile, sub_once
from upstreams import stop_process

pytestmark = pytest.mark.netns

HERE = Path(__file__).resolve().parent

KUBE_DNS_IP = "10.96.0.10"  # deploy/base/service.yaml's clusterIP, kubelet's clusterDNS
KUBE_DNS_NAME = "kube-dns.kube-system.svc.cluster.local"
POD_IP = "10.244.0.5"
POD_NAME = "dnsutils"
CLUSTER_TTL = 30  # the ConfigMap's `ttl 30`

# What kubelet (through the container runtime) writes into a ClusterFirst pod in namespace default.
POD_RESOLV_CONF = f"""\
search default.svc.cluster.local svc.cluster.local cluster.local
nameserver {KUBE_DNS_IP}
options ndots:5
"""
# kubelet's managed /etc/hosts of that pod (pkg/kubelet/kubelet_pods.go managedHostsHeader).
POD_HOSTS = f"""\
# Kubernetes-managed hosts file.
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
fe00::0\tip6-mcastprefix
fe00::1\tip6-allnodes
fe00::2\tip6-allrouters
{POD_IP}\t{POD_NAME}
"""

# Outside names, answered by the upstream only (TEST-NET addresses, RFC 5737: data, never dialled).
UPSTREAM_HOSTS = {"www.example.org": "192.0.2.10", "db.example.org": "192.0.2.20"}


@dataclass(frozen=True)
class Lookup:
    """A name as a pod types it, and what the answer must be under the DNS spec's rules."""

    typed: str
    address: str
    canonical: str  # the name the address belongs to (after search-list expansion and CNAMEs)
    chain: tuple[str, ...] = ()  # the CNAME owners before `canonical`, as dig shows them
    in_cluster: bool = True


LOOKUPS = [
    # ClusterIP service: the cluster IP, found through the first search domain.
    Lookup("web", "10.96.0.100", "web.default.svc.cluster.local"),
    # `web.default` and `web.default.svc` have fewer than 5 dots: the search list is tried first,
    # `web.default.default.svc.cluster.local` is NXDOMAIN, `web.default.svc.cluster.local` hits.
    Lookup("web.default", "10.96.0.100", "web.default.svc.cluster.local"),
    Lookup("web.default.svc", "10.96.0.100", "web.default.svc.cluster.local"),
    # A pod with hostname busybox-1 and subdomain busybox-subdomain behind that headless service.
    Lookup(
        "busybox-1.busybox-subdomain", "10.244.1.11", "busybox-1.busybox-subdomain.default.svc.cluster.local"
    ),
    # ExternalName: CNAME to db.example.org., whose address kdns chases through forward.
    Lookup(
        "my-database", "192.0.2.20", "db.example.org", chain=("my-database.default.svc.cluster.local",)
    ),
    # An outside name: every search expansion is NXDOMAIN in cluster.local, then forward answers.
    Lookup("www.example.org", "192.0.2.10", "www.example.org", in_cluster=False),
]
IDS = [lookup.typed for lookup in LOOKUPS]


# ------------------------------------------------------------------------------------------
# The namespaces


@dataclass
class Netns:
    server: str
    pod: str
    veth_server: str
    veth_pod: str
    made_etc_netns: bool = False
    logs: dict[str, Path] = field(default_factory=dict)
    api_input: Any = None  # the fake API's stdin: a JSON line per object to create

    def create(self, obj: dict[str, Any]) -> None:
        self.api_input.write(json.dumps(obj) + "\n")
        self.api_input.flush()

    def run(self, ns: str, *argv: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout
        )

    def in_pod(self, *argv: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        return self.run(self.pod, *argv, timeout=timeout)

    def log_tail(self) -> str:
        parts = []
        for name, path in self.logs.items():
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {name} ---\n{text[-3000:]}")
        return "\n".join(parts)


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def _cannot_make_namespaces() -> str | None:
    """Why this machine cannot run the test, or None."""
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (ip netns add)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.path.exists("/var/run/nscd/socket"):
        return "nscd is running: glibc lookups would be answered outside the pod namespace"
    return None


def _make_namespaces(stack: contextlib.ExitStack, tag: str = "") -> Netns:
    """A server and a pod namespace named by our pid (and tag), so concurrent runs never share one."""
    pid = os.getpid()
    ns = Netns(f"kdns-srv{tag}-{pid}", f"kdns-pod{tag}-{pid}", f"kdns{pid}{tag}s", f"kdns{pid}{tag}p")

    if not os.path.isdir("/etc/netns"):
        os.makedirs("/etc/netns")
        ns.made_etc_netns = True

    def remove_etc_netns() -> None:
        if ns.made_etc_netns:
            with contextlib.suppress(OSError):
                os.rmdir("/etc/netns")  # only when empty: another run may use it meanwhile

    stack.callback(remove_etc_netns)
    for name in (ns.server, ns.pod):
        try:
            _ip("netns", "add", name)
        except OSError as e:
            pytest.skip(f"cannot create a network namespace on this machine: {e}")
        stack.callback(subprocess.run, ["ip", "netns", "del", name], capture_output=True, timeout=10)
        etc = Path("/etc/netns") / name
        etc.mkdir(exist_ok=True)
        stack.callback(shutil.rmtree, etc, True)
    # The veth is born with its ends already in the two namespaces: it never exists in the host's.
    try:
        _ip("link", "add", ns.veth_server, "netns", ns.server, "type", "veth",
            "peer", "name", ns.veth_pod, "netns", ns.pod)
    except OSError as e:
        pytest.skip(f"cannot create a veth pair between network namespaces: {e}")
    # Host routes only: nothing but the other end is reachable from either namespace.
    for name, dev, mine, theirs in (
        (ns.server, ns.veth_server, KUBE_DNS_IP, POD_IP),
        (ns.pod, ns.veth_pod, POD_IP, KUBE_DNS_IP),
    ):
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "addr", "add", f"{mine}/32", "dev", dev)
        _ip("-n", name, "link", "set", dev, "up")
        _ip("-n", name, "route", "add", f"{theirs}/32", "dev", dev)
    # `ip netns exec NAME` bind-mounts /etc/netns/NAME/* over /etc/*.
    (Path("/etc/netns") / ns.pod / "resolv.conf").write_text(POD_RESOLV_CONF)
    (Path("/etc/netns") / ns.pod / "hosts").write_text(POD_HOSTS)
    (Path("/etc/netns") / ns.server / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    return ns


# ------------------------------------------------------------------------------------------
# The processes in the server namespace


def server_corefile(api_url: str, autopath: bool = False) -> str:
    """The ConfigMap's Corefile with the three differences between this test and a cluster (and
    `autopath @kubernetes` when asked, as the kops Corefile has it)."""
    text = configmap_corefile()
    if autopath:
        text = sub_once(text, "    kubernetes cluster.local", "    autopath @kubernetes\n    kubernetes cluster.local")
    # In a cluster kdns listens on its pod IP and kube-proxy sends 10.96.0.10 there; here the
    # address itself is on the veth. `bind` also leaves 127.0.0.1:53 to the upstream.
    text = sub_once(text, ".:53 {", f".:53 {{\n    bind {KUBE_DNS_IP}")
    # The in-cluster service account is replaced by the fake API's URL.
    text = sub_once(
        text,
        "kubernetes cluster.local in-addr.arpa ip6.arpa {",
        f"kubernetes cluster.local in-addr.arpa ip6.arpa {{\n       endpoint {api_url}",
    )
    # Only for a quick teardown: a stopping kdns would otherwise keep serving for 5 s.
    return sub_once(text, "lameduck 5s", "lameduck 100ms")


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            return proc.stdout.readline()
        if proc.poll() is not None:
            return ""
    return ""


def _stop(proc: subprocess.Popen[str]) -> None:
    stop_process(proc)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def _start(
    stack: contextlib.ExitStack, ns: Netns, name: str, argv: list[str], log_dir: Path, piped: bool = False
) -> subprocess.Popen[str]:
    """Start argv in the server namespace; stderr (and stdout unless piped) go to a log file."""
    log = log_dir / f"{name}.log"
    ns.logs[name] = log
    out = stack.enter_context(open(log, "w"))
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns.server, *argv],
        stdin=subprocess.PIPE if piped else subprocess.DEVNULL,
        stdout=subprocess.PIPE if piped else out,
        stderr=out,
        text=True,
    )
    stack.callback(_stop, proc)  # `ip netns exec` execs the command: this pid is the server
    return proc


def _wait_for(
    ns: Netns, what: str, check: Callable[[], bool], procs: list[subprocess.Popen[str]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        dead = [p.args for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            pytest.fail(f"{what} did not come up (exited: {dead})\n{ns.log_tail()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Netns]:
    yield from _serve(tmp_path_factory, autopath=False)


@pytest.fixture(scope="module")
def autopath_pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Netns]:
    """The same pod and cluster, kdns with `autopath @kubernetes`, in namespaces of their own."""
    yield from _serve(tmp_path_factory, autopath=True)


def _serve(tmp_path_factory: pytest.TempPathFactory, autopath: bool) -> Iterator[Netns]:
    reason = _cannot_make_namespaces()
    if reason:
        pytest.skip(reason)
    dnsmasq = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None)
    if dnsmasq is None:
        pytest.skip("dnsmasq is not installed (Debian package dnsmasq; scripts/test.sh installs it)")
    if shutil.which("dig") is None:
        pytest.fail("dig is not installed (apt-get install bind9-dnsutils)")
    work = tmp_path_factory.mktemp("pod-view-autopath" if autopath else "pod-view")

    with contextlib.ExitStack() as stack:
        ns = _make_namespaces(stack, "a" if autopath else "")

        # The node's resolver, as a kdns pod with dnsPolicy Default sees it: nameserver 127.0.0.1.
        # --local=/#/: it knows only its host records and says NXDOMAIN for everything else.
        upstream = _start(stack, ns, "dnsmasq", [
            dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--port=53", "--listen-address=127.0.0.1", "--bind-interfaces", "--pid-file=",
            "--local=/#/", "--local-ttl=60", "--log-facility=-", "--user=root",
            *(f"--host-record={name},{ip}" for name, ip in UPSTREAM_HOSTS.items()),
        ], work)

        api = _start(stack, ns, "fakeapi", [
            sys.executable, str(HERE / "fakeapi_main.py"),
            "--objects", str(HERE / "cluster.yaml"), "--objects", str(HERE / "autopath.yaml"),
            "--objects", str(DEPLOY / "service.yaml"),
        ], work, piped=True)
        line = _readline(api, timeout=15)
        if not line:
            pytest.fail(f"the fake API did not start\n{ns.log_tail()}")
        api_url = json.loads(line)["api"]
        ns.api_input = api.stdin

        _wait_for(ns, "dnsmasq", lambda: UPSTREAM_HOSTS["www.example.org"] == ns.run(
            ns.server, "dig", "@127.0.0.1", "+time=1", "+tries=1", "+short", "www.example.org",
        ).stdout.strip(), [upstream], timeout=10)

        corefile = work / "Corefile"
        corefile.write_text(server_corefile(api_url, autopath))
        kdns = _start(stack, ns, "kdns", [sys.executable, "-m", "kdns", "-conf", str(corefile)], work)

        # Asked from the pod, over the veth: kdns listens only once it has listed the API.
        _wait_for(ns, "kdns", lambda: KUBE_DNS_IP == ns.in_pod(
            "dig", f"@{KUBE_DNS_IP}", "+time=1", "+tries=1", "+short", f"{KUBE_DNS_NAME}.",
        ).stdout.strip(), [kdns, api, upstream], timeout=20)
        yield ns


# ------------------------------------------------------------------------------------------
# glibc


@pytest.mark.parametrize("lookup", LOOKUPS, ids=IDS)
def test_getent_hosts(pod: Netns, lookup: Lookup) -> None:
    proc = pod.in_pod("getent", "hosts", lookup.typed)
    assert proc.returncode == 0, f"getent hosts {lookup.typed}: rc {proc.returncode}\n{pod.log_tail()}"
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    assert {row[0] for row in rows} == {lookup.address}, proc.stdout
    # gethostbyname: h_name is the canonical name, the CNAME owners are its aliases.
    assert rows[0][1] == lookup.canonical, proc.stdout
    assert set(rows[0][2:]) == set(lookup.chain), proc.stdout


@pytest.mark.parametrize("lookup", LOOKUPS, ids=IDS)
def test_getent_ahosts(pod: Netns, lookup: Lookup) -> None:
    """getaddrinfo(AF_UNSPEC, AI_CANONNAME): A and AAAA asked together; AAAA is NODATA."""
    proc = pod.in_pod("getent", "ahosts", lookup.typed)
    assert proc.returncode == 0, f"getent ahosts {lookup.typed}: rc {proc.returncode}\n{pod.log_tail()}"
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    assert {row[0] for row in rows} == {lookup.address}, proc.stdout
    assert {row[1] for row in rows} == {"STREAM", "DGRAM", "RAW"}, proc.stdout
    assert rows[0][1:] == ["STREAM", lookup.canonical], proc.stdout


def test_getent_unknown_name_fails(pod: Netns) -> None:
    """Every expansion of a name nobody has is NXDOMAIN: getent exits 2 (key not found)."""
    assert pod.in_pod("getent", "hosts", "nosuch").returncode == 2
    assert pod.in_pod("getent", "hosts", "nosuch.default").returncode == 2
    assert pod.in_pod("getent", "hosts", "nosuch.example.org").returncode == 2


def test_getent_reverse_of_the_server(pod: Netns) -> None:
    """getnameinfo on the nameserver's address: the PTR names the kube-dns Service."""
    proc = pod.in_pod("getent", "hosts", KUBE_DNS_IP)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [KUBE_DNS_IP, KUBE_DNS_NAME]


# ------------------------------------------------------------------------------------------
# dig +search (reads the pod's resolv.conf: search list and ndots)


def _dig(pod: Netns, *args: str) -> tuple[str, list[list[str]]]:
    proc = pod.in_pod("dig", "+search", "+time=2", "+tries=1", "+noall", "+comments", "+answer", *args)
    assert proc.returncode == 0, f"dig {' '.join(args)}: {proc.stdout} {proc.stderr}"
    header = next(line for line in proc.stdout.splitlines() if line.startswith(";; ->>HEADER<<-"))
    flags = next(line for line in proc.stdout.splitlines() if line.startswith(";; flags:"))
    answer = [line.split() for line in proc.stdout.splitlines() if line and not line.startswith(";")]
    return header + "\n" + flags, answer


@pytest.mark.parametrize("lookup", LOOKUPS, ids=IDS)
def test_dig_search(pod: Netns, lookup: Lookup) -> None:
    header, answer = _dig(pod, lookup.typed, "A")
    assert "status: NOERROR" in header, header
    owners = [*lookup.chain, lookup.canonical]
    expected = [[f"{owner}.", "IN", "CNAME", f"{target}."] for owner, target in zip(owners, owners[1:])]
    expected.append([f"{lookup.canonical}.", "IN", "A", lookup.address])
    assert [[row[0], *row[2:]] for row in answer] == expected, answer
    if lookup.in_cluster:
        # Kubernetes DNS spec: answers for cluster names are authoritative, TTL from `ttl 30`.
        assert " aa" in header.split("flags:")[1].split(";")[0], header
        assert answer[0][1] == str(CLUSTER_TTL), answer


def test_dig_search_unknown_name(pod: Netns) -> None:
    header, answer = _dig(pod, "nosuch")
    assert "status: NXDOMAIN" in header and answer == []


# ------------------------------------------------------------------------------------------
# nslookup


def test_nslookup_busybox_style_names_the_server(pod: Netns) -> None:
    """The Kubernetes docs' `kubectl exec busybox -- nslookup kubernetes.default` output shape.

    busybox <= 1.28 prints the server's own name from the PTR of its address, and each address's
    reverse name; see nslookup_busybox128.py for why this is a port and not the binary.
    """
    proc = pod.in_pod(sys.executable, str(HERE / "nslookup_busybox128.py"), "web")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        f"Server:    {KUBE_DNS_IP}\n"
        f"Address 1: {KUBE_DNS_IP} {KUBE_DNS_NAME}\n"
        "\n"
        "Name:      web\n"
        "Address 1: 10.96.0.100 web.default.svc.cluster.local\n"
    )


def test_nslookup_busybox_style_unknown_name(pod: Netns) -> None:
    proc = pod.in_pod(sys.executable, str(HERE / "nslookup_busybox128.py"), "nosuch")
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"Server:    {KUBE_DNS_IP}\nAddress 1: {KUBE_DNS_IP} {KUBE_DNS_NAME}\n")
    assert "can't resolve 'nosuch'" in proc.stderr


def test_busybox_nslookup(pod: Netns) -> None:
    """Today's busybox (Debian's 1.35): the server's name comes from a reverse lookup of it."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed (apt-get install busybox)")
    proc = pod.in_pod(busybox, "nslookup", "web")
    assert f"Server:\t\t{KUBE_DNS_IP}\n" in proc.stdout, proc.stdout
    assert "Name:\tweb.default.svc.cluster.local\nAddress: 10.96.0.100\n" in proc.stdout, proc.stdout
    proc = pod.in_pod(busybox, "nslookup", KUBE_DNS_IP)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"10.0.96.10.in-addr.arpa\tname = {KUBE_DNS_NAME}\n" in proc.stdout, proc.stdout


def test_bind9_nslookup_reverse_of_the_server(pod: Netns) -> None:
    if shutil.which("nslookup") is None:
        pytest.fail("nslookup is not installed (apt-get install bind9-dnsutils)")
    proc = pod.in_pod("nslookup", KUBE_DNS_IP)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"10.0.96.10.in-addr.arpa\tname = {KUBE_DNS_NAME}.\n" in proc.stdout, proc.stdout
    proc = pod.in_pod("nslookup", "web")
    assert f"Server:\t\t{KUBE_DNS_IP}\nAddress:\t{KUBE_DNS_IP}#53\n" in proc.stdout, proc.stdout
    assert "Name:\tweb.default.svc.cluster.local\nAddress: 10.96.0.100\n" in proc.stdout, proc.stdout


# ------------------------------------------------------------------------------------------
# Freshness through the ConfigMap's `cache 30` (issue 15)

# The watch delivers in milliseconds and bench/ measures it (under 1 s); this only bounds a failing
# test, well below the 30 s a cached NXDOMAIN would otherwise hide the new PTR for.
FRESH_DEADLINE = 10.0


def test_ptr_of_a_new_service_is_not_hidden_by_a_cached_nxdomain(pod: Netns) -> None:
    ip, name = "10.96.0.123", "fresh.default.svc.cluster.local."
    before = pod.in_pod("dig", "+time=2", "+tries=1", "+noall", "+comments", "-x", ip)
    # Not a cluster address yet: kubernetes falls through and the node's resolver says NXDOMAIN.
    # (This dnsmasq sends no SOA with it, so `cache 30` cannot keep it here; with an upstream that
    # does, tests/plugins/cache/test_cache_index_changes.py checks the cached NXDOMAIN is dropped.)
    assert "status: NXDOMAIN" in before.stdout, before.stdout
    pod.create({
        "kind": "Service", "apiVersion": "v1", "metadata": {"name": "fresh", "namespace": "default"},
        "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"],
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
    })
    deadline = time.monotonic() + FRESH_DEADLINE
    while True:
        got = pod.in_pod("dig", "+time=1", "+tries=1", "+short", "-x", ip).stdout.strip()
        if got == name:
            break
        assert time.monotonic() < deadline, f"PTR of {ip} still {got!r}\n{pod.log_tail()}"
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------
# autopath: the same lookups with the search path completed by kdns


def _queries_received(ns: Netns) -> int:
    """kdns's coredns_dns_requests_total, all labels summed (fast-path answers included)."""
    proc = ns.run(ns.server, sys.executable, "-c", (
        "import urllib.request;"
        "print(urllib.request.urlopen('http://127.0.0.1:9153/metrics', timeout=5).read().decode())"
    ))
    assert proc.returncode == 0, proc.stderr
    return round(sum(
        float(line.rsplit(" ", 1)[1]) for line in proc.stdout.splitlines()
        if line.startswith("coredns_dns_requests_total{")
    ))


def _counted(ns: Netns, *argv: str) -> tuple[subprocess.CompletedProcess[str], int]:
    before = _queries_received(ns)
    proc = ns.in_pod(*argv)
    return proc, _queries_received(ns) - before


# (name as typed, queries of getaddrinfo's A+AAAA search without autopath, with it)
AUTOPATH_LOOKUPS = [
    # An outside name, ndots:5: three search domains then the name, A and AAAA each: 8 become 2.
    ("www.example.org", 8, 2),
    # A service of another namespace: `api.shop.default...` fails, `api.shop.svc...` is found.
    ("api.shop", 4, 2),
    # The pod's own namespace: found by the first query either way.
    ("web", 2, 2),
]


@pytest.mark.parametrize("typed, plain_count, autopath_count", AUTOPATH_LOOKUPS, ids=[t[0] for t in AUTOPATH_LOOKUPS])
def test_autopath_getaddrinfo(pod: Netns, autopath_pod: Netns, typed: str, plain_count: int, autopath_count: int) -> None:
    """getent ahosts (getaddrinfo, AI_CANONNAME) answers the same with autopath, in fewer queries."""
    plain, plain_queries = _counted(pod, "getent", "ahosts", typed)
    completed, completed_queries = _counted(autopath_pod, "getent", "ahosts", typed)
    assert plain.returncode == 0 and completed.returncode == 0, plain.stdout + completed.stdout
    assert completed.stdout == plain.stdout
    assert (plain_queries, completed_queries) == (plain_count, autopath_count)


@pytest.mark.parametrize("typed", ["www.example.org", "api.shop", "my-database"])
def test_autopath_gethostbyname(pod: Netns, autopath_pod: Netns, typed: str) -> None:
    """getent hosts: the same address and canonical name (the CNAME autopath adds is an alias)."""
    plain = pod.in_pod("getent", "hosts", typed)
    completed = autopath_pod.in_pod("getent", "hosts", typed)
    assert plain.returncode == 0 and completed.returncode == 0, plain.stdout + completed.stdout
    assert completed.stdout.split()[:2] == plain.stdout.split()[:2]


def test_autopath_unknown_name(autopath_pod: Netns) -> None:
    """Nothing found by kdns: the first NXDOMAIN, and the resolver walks its search list itself."""
    proc, queries = _counted(autopath_pod, "getent", "ahosts", "nosuch.example.org")
    assert proc.returncode == 2
    assert queries == 8
