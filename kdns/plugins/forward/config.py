"""forward FROM TO... { options }: CoreDNS's syntax (plugin/forward/setup.go), read into a frozen Config."""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any

from dnslib import RCODE

from kdns.corefile.tree import Directive, Token, to_integer
from kdns.resolvconf import nameservers
from kdns.server.http import split_host_port

log = logging.getLogger(__name__)

# CoreDNS plugin/forward/setup.go: "more than 15 TOs configured".
MAX_UPSTREAMS = 15
POLICIES = ("random", "round_robin", "sequential")
# Options CoreDNS has that kdns deliberately lacks: a clear error beats silently ignoring them.
UNSUPPORTED = {
    "tls": "DNS-over-TLS upstreams are not supported by kdns",
    "tls_servername": "DNS-over-TLS upstreams are not supported by kdns",
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
    timeouts: Timeouts = field(default_factory=Timeouts)


def parse_upstream(text: str) -> Upstream:
    """IP, IP:port, [IPv6]:port or dns://..., port 53 by default; ValueError otherwise."""
    addr = text[6:] if text.lower().startswith("dns://") else text
    try:
        host, port = split_host_port(addr)
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"not an IP address or file: '{text}'") from None
    return Upstream(str(ip), 53 if port is None else _port(port, text))


def _port(text: str, whole: str) -> int:
    port = to_integer(text)
    if port is None or not 0 < port < 65536:
        raise ValueError(f"invalid port in '{whole}'")
    return port


def parse(d: Directive) -> Config:
    d.expect_args(2)
    from_zone = _from_zone(d)
    upstreams: list[Upstream] = []
    for token in d.args[1:]:
        upstreams.extend(_upstreams_of(d, token))
    if len(upstreams) > MAX_UPSTREAMS:
        raise d.error(f"more than {MAX_UPSTREAMS} upstreams configured: {len(upstreams)}")
    if not upstreams:
        raise d.error("no upstreams configured")

    opts: dict[str, Any] = {}
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
        else:
            raise opt.unknown_option()

    config = Config(from_zone=from_zone, upstreams=tuple(upstreams), **opts)
    if config.force_tcp and config.prefer_udp:
        # CoreDNS: force_tcp takes precedence when both are given.
        config = replace(config, prefer_udp=False)
    return config


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
    if lowered.startswith(("tls://", "https://")):
        raise d.error(f"'{text}': DNS-over-TLS/HTTPS upstreams are not supported by kdns", token)
    if "/" in text and not lowered.startswith("dns://") or os.path.isfile(text):
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
