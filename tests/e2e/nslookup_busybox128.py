"""`nslookup HOST` as busybox 1.28 printed it: the output the Kubernetes DNS-debugging docs show.

    Server:    10.96.0.10
    Address 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local

    Name:      web
    Address 1: 10.96.0.100 web.default.svc.cluster.local

Why a port and not the binary: busybox up to 1.28 (the `busybox:1.28` image the Kubernetes docs
tell people to debug DNS with) had a small nslookup built on the libc resolver, and it printed each
address together with its reverse name, the server's own address included. Busybox 1.29 replaced it
with its own resolver (FEATURE_NSLOOKUP_BIG), which prints `Address: 10.96.0.10:53` and no name;
that is what Debian ships (busybox and busybox-static 1.35), and bind9's nslookup prints no name for
the server either. No package this machine can install has the old applet, so this script makes
the same libc calls the old applet made, in the same order, and prints the same format:

- res_init() and the first `nameserver` of /etc/resolv.conf is the server (server_print);
- print_host(): getaddrinfo(host, NULL, {ai_socktype=SOCK_STREAM}) and, for each address,
  getnameinfo(NI_NAMEREQD) (xmalloc_sockaddr2hostonly_noport): a PTR query through the resolver,
  its name printed after the address when there is one;
- exit status 1 when the name does not resolve ("can't resolve 'HOST'" on stderr).

Python's socket.getaddrinfo/getnameinfo are thin wrappers over glibc's, so the packets kdns sees
are the ones the old busybox sent (through /etc/resolv.conf, search list and ndots included).
"""

from __future__ import annotations

import socket
import sys


def first_nameserver(path: str = "/etc/resolv.conf") -> str:
    """The server res_init() puts first (glibc's default is the local host when there is none)."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 2 and fields[0] == "nameserver":
                    return fields[1]
    except OSError:
        pass
    return "127.0.0.1"


def print_host(hostname: str, header: str) -> bool:
    try:
        infos = socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        print(f"nslookup: can't resolve '{hostname}'", file=sys.stderr)
        return False
    print(f"{header:<10} {hostname}")
    for count, (_family, _type, _proto, _canon, sockaddr) in enumerate(infos, start=1):
        dotted = sockaddr[0]
        try:
            revhost: str | None = socket.getnameinfo(sockaddr, socket.NI_NAMEREQD)[0]
        except (socket.gaierror, OSError):
            revhost = None
        print(f"Address {count}: {dotted} {revhost}" if revhost else f"Address {count}: {dotted}")
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1].startswith("-"):
        print("usage: nslookup_busybox128.py HOST", file=sys.stderr)
        return 1
    print_host(first_nameserver(), "Server:")
    print()
    return 0 if print_host(argv[1], "Name:") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
