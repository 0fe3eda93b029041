"""forward FROM TO... { options }: CoreDNS's syntax (plugin/forward/setup.go), read into a frozen Config."""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any

from dnslib import RCODE

from kdns.corefile.tree import Directive, Token, to_integer
from kdns.plugins.forward.tls import TLS_PORT, TlsClient
from kdns.resolvconf import nameservers
from kdns.server.http import split_host_port

log = logging.getLogger(__name__)

# CoreDNS plugin/forward/setup.go: "more than 15 TOs configured".
MAX_UPSTREAMS = 15
POLICIES = ("random", "round_robin", "sequential")
# Options CoreDNS has that kdns deliberately lacks: a clear error beats silently ignoring them.
UNSUPPORTED = {
    "doh_method": "DNS-over-HTTPS upstreams are not supported by kdns",
    "resolver": "hostname upstreams are not supported by kdns",
    "next": "'next' (chaining forward plugins) is not supported by kdns",
    "next_on_nodata": "'next_on_nodata' (chaining forward plugins) is not supported by kdns",
}


@dataclass(frozen=True)
class Timeouts:
    """Every upstream timeout in one place; CoreDNS's values (plugin/pkg/proxy, plugin/forward)."""

    # proxy.go: the read timeout of one exchange with one upstream.
    read: float = 2.0
    # forward.go defaultTimeout: the whole query, across upstreams.
    total: float = 5.0
    # Dialling a TCP connection (CoreDNS adapts 1-30 s; a fixed cap is enough on a cluster network).
    connect: float = 2.0
    # health.go: the health probe's read/write timeout.
    health: float = 1.0


@dataclass(frozen=True)
class Upstream:
    host: str  # normalised IP text, as the kernel reports a peer address
    port: int
    tls: bool = False  # DNS-over-TLS (RFC 7858), `tls://`

    @property
    def label(self) -> str:
        """The `to` metric label: host:port, IPv6 in brackets (CoreDNS's proxy address)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Config:
    from_zone: str
    upstreams: tuple[Upstream, ...]
    except_zones: tuple[str, ...] = ()
    force_tcp: bool = False
    prefer_udp: bool = False
    expire: float = 10.0
    # Parsed for CoreDNS's Corefiles; no effect: one pipelined connection per upstream, no idle pool.
    max_idle_conns: int = 0
    max_fails: int = 2
    health_check: float = 0.5
    health_check_rd: bool = True
    health_check_domain: str = "."
    policy: str = "random"
    max_concurrent: int = 0
    max_connect_attempts: int = 0
    failfast_all_unhealthy: bool = False
    failover_rcodes: frozenset[int] = frozenset()
    tls: TlsClient = field(default_factory=TlsClient)
    timeouts: Timeouts = field(default_factory=Timeouts)


def parse_upstream(text: str) -> Upstream:
    """IP, IP:port, [IPv6]:port, dns://... (port 53 by default) or tls://... (port 853 by default);
    ValueError otherwise."""
    lowered = text.lower()
    over_tls = lowered.startswith("tls://")
    addr = text[6:] if over_tls or lowered.startswith("dns://") else text
    try:
        host, port = split_host_port(addr)
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"not an IP address or file: '{text}'") from None
    default = TLS_PORT if over_tls else 53
    return Upstream(str(ip), default if port is None else _port(port, text), over_tls)


def _port(text: str, whole: str) -> int:
    port = to_integer(text)
    if port is None or not 0 < port < 65536:
        raise ValueError(f"invalid port in '{whole}'")
    return port


def from_and_to(d: Directive) -> tuple[str, list[Upstream]]:
    """The FROM zone and the TO... upstreams of `forward FROM TO...` (and of `proxy`)."""
    d.expect_args(2)
    from_zone = _from_zone(d)
    upstreams: list[Upstream] = []
    for token in d.args[1:]:
        upstreams.extend(_upstreams_of(d, token))
    if len(upstreams) > MAX_UPSTREAMS:
        raise d.error(f"more than {MAX_UPSTREAMS} upstreams configured: {len(upstreams)}")
    if not upstreams:
        raise d.error("no upstreams configured")
    return from_zone, upstreams


def parse(d: Directive) -> Config:
    from_zone, upstreams = from_and_to(d)
    opts: dict[str, Any] = {}
    tls_args: list[str] = []
    server_name: str | None = None
    tls_lines: list[Directive] = []
    for opt in d.options():
        name = opt.name.text
        if name in UNSUPPORTED:
            raise opt.error(UNSUPPORTED[name])
        opt.no_block()
        if name == "except":
            opt.expect_args(1)
            opts["except_zones"] = opt.zones()
        elif name in ("force_tcp", "prefer_udp"):
            opt.expect_args(0, 0)
            opts[name] = True
        elif name == "failfast_all_unhealthy_upstreams":
            opt.expect_args(0, 0)
            opts["failfast_all_unhealthy"] = True
        elif name == "expire":
            value = _duration(opt)
            if value < 0:
                raise opt.error(f"expire can't be negative: {opt.values[0]}", opt.args[0])
            opts["expire"] = value
        elif name in ("max_fails", "max_idle_conns", "max_connect_attempts"):
            opt.expect_args(1, 1)
            opts[name] = opt.integer(0, minimum=0)
        elif name == "max_concurrent":
            opt.expect_args(1, 1)
            opts["max_concurrent"] = opt.integer(0, minimum=1)
        elif name == "policy":
            policy = opt.expect_args(1, 1)[0]
            if policy not in POLICIES:
                raise opt.error(f"unknown policy '{policy}'", opt.args[0])
            opts["policy"] = policy
        elif name == "health_check":
            _health_check(opt, opts)
        elif name == "failover":
            opts["failover_rcodes"] = _rcodes(opt)
        elif name == "tls":
            tls_args = opt.expect_args(0, 3)
            tls_lines.append(opt)
        elif name == "tls_servername":
            server_name = opt.expect_args(1, 1)[0]
            tls_lines.append(opt)
        else:
            raise opt.unknown_option()

    if tls_lines:
        opts["tls"] = _tls_client(d, tls_lines, tls_args, server_name, upstreams)
    config = Config(from_zone=from_zone, upstreams=tuple(upstreams), **opts)
    if config.force_tcp and config.prefer_udp:
        # CoreDNS: force_tcp takes precedence when both are given.
        config = replace(config, prefer_udp=False)
    return config


def precedence(config: Config) -> int:
    """Several forward in a block: the longest FROM zone is tried first (PluginSpec.precedence)."""
    return -len([label for label in config.from_zone.split(".") if label])


def _tls_client(
    d: Directive, lines: list[Directive], args: list[str], server_name: str | None,
    upstreams: list[Upstream],
) -> TlsClient:
    client = TlsClient.from_args(args, server_name)
    if not any(u.tls for u in upstreams):
        # As CoreDNS, accepted; but a reader may believe the traffic is encrypted when it is not.
        lines[0].warn("tls options apply only to tls:// upstreams, and this forward has none")
        return client
    try:
        client.context()
    except OSError as e:  # ssl.SSLError included
        opt = next((line for line in lines if line.name.text == "tls"), lines[0])
        files = ", ".join(f for f in (client.cert, client.key, client.ca) if f) or "system CAs"
        raise opt.error(f"cannot load TLS certificates ({files}): {e.strerror or e}") from None
    return client


def _from_zone(d: Directive) -> str:
    zones = d.zones(0, 1)
    if len(zones) > 1:
        # As CoreDNS (plugin/forward/setup.go): a CIDR spanning several reverse zones keeps the first.
        log.warning(
            "unsupported CIDR notation: '%s' expands to multiple zones. Using only '%s'.",
            d.args[0].text, zones[0],
        )
    return zones[0]


def _upstreams_of(d: Directive, token: Token) -> list[Upstream]:
    text = token.text
    lowered = text.lower()
    if lowered.startswith("https://"):
        raise d.error(f"'{text}': DNS-over-HTTPS upstreams are not supported by kdns", token)
    if "/" in text and not lowered.startswith(("dns://", "tls://")) or os.path.isfile(text):
        try:
            servers = nameservers(text)
        except OSError as e:
            raise d.error(f"cannot read '{text}': {e.strerror or e}", token) from None
        if not servers:
            raise d.error(f"no nameservers found in '{text}'", token)
        return [Upstream(host, 53) for host in servers]
    try:
        return [parse_upstream(text)]
    except ValueError as e:
        raise d.error(str(e), token) from None


def _duration(opt: Directive) -> float:
    opt.expect_args(1, 1)
    return opt.duration(0)


def _health_check(opt: Directive, opts: dict[str, Any]) -> None:
    values = opt.expect_args(1, 4)
    interval = opt.duration(0)
    if interval < 0:
        raise opt.error(f"health_check can't be negative: {values[0]}", opt.args[0])
    opts["health_check"] = interval
    rest = list(range(1, len(values)))
    while rest:
        i = rest.pop(0)
        if values[i] == "no_rec":
            opts["health_check_rd"] = False
        elif values[i] == "domain" and rest:
            opts["health_check_domain"] = _domain(opt, rest.pop(0))
        else:
            raise opt.error(f"health_check: unknown argument '{values[i]}'", opt.args[i])


def _domain(opt: Directive, index: int) -> str:
    zones = opt.zones(index, index + 1)
    if len(zones) != 1:  # a CIDR spanning several reverse zones names no one domain
        raise opt.error(f"health_check: invalid domain name {opt.values[index]}", opt.args[index])
    return zones[0]


def _rcodes(opt: Directive) -> frozenset[int]:
    out = set()
    for value, token in zip(opt.expect_args(1), opt.args):
        # dnslib's RCODE.reverse: name -> code (attribute access raises DNSError on unknown names).
        code = RCODE.reverse.get(value.upper())
        if code is None:
            raise opt.error(f"'{value}' is not a valid rcode", token)
        if code == RCODE.NOERROR:
            raise opt.error("NOERROR cannot be a failover rcode", token)
        out.add(code)
    return frozenset(out)
