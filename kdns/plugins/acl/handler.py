"""Check a query against the rules: the first policy matching its type and client address decides.

As CoreDNS's plugin/acl: the rules whose zones hold the name are checked in order; within one, the
first policy whose types and networks match acts. allow ends the checking and the query goes on;
block answers REFUSED; filter answers NOERROR with nothing in it; drop sends nothing at all.
No match anywhere is allow. A blocked or filtered answer carries an Extended DNS Error (RFC 8914:
Blocked, Filtered) as CoreDNS's does, when the query had an OPT record to answer with one.

The server never answers a block with acl from its fast-path table (server/app.py
SLOW_PATH_PLUGINS), so every query of the block comes here first.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import struct

from dnslib import RCODE

from kdns.metric_types import Counter
from kdns.plugins.acl.config import Config, Network, Policy, Rule
from kdns.request import Request
from kdns.response import Response
from kdns.types import BlockInfo, Next
from kdns.zones import matching_zone

log = logging.getLogger(__name__)

# RFC 8914 EDNS option 15 (Extended DNS Error) with INFO-CODE 15 (Blocked) or 17 (Filtered), no text.
_EDE = 15
BLOCKED_EDE = struct.pack("!HHH", _EDE, 2, 15)
FILTERED_EDE = struct.pack("!HHH", _EDE, 2, 17)

BLOCKED = Counter(
    "coredns_acl_blocked_requests", "Counter of DNS requests being blocked.", ["server", "zone", "view"]
)
FILTERED = Counter(
    "coredns_acl_filtered_requests", "Counter of DNS requests being filtered.", ["server", "zone", "view"]
)
ALLOWED = Counter("coredns_acl_allowed_requests", "Counter of DNS requests being allowed.", ["server", "view"])
DROPPED = Counter(
    "coredns_acl_dropped_requests", "Counter of DNS requests being dropped.", ["server", "zone", "view"]
)


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.config = config
        rules = config.rules
        # A block's `acl` lines are one list of rules, as CoreDNS reads them: an allow in the first
        # must end the checking, so the handler of the first line takes over the rules of the lines
        # after it (their handlers come next in the chain: one ORDER slot) and skips them.
        while isinstance(next, Handler):
            rules += next.rules
            next = next.next
        self.next: Next = next
        self.rules: tuple[Rule, ...] = rules

    def attach(self, info: BlockInfo) -> None:
        zones = tuple(info.zones)
        self.rules = tuple(rule if rule.zones else Rule(zones, rule.policies) for rule in self.rules)

    async def __call__(self, req: Request) -> Response:
        for rule in self.rules:
            zone = matching_zone(req.qname_lower, rule.zones)
            if zone is None:
                continue
            action = _decide(rule.policies, req)
            if action == "allow":
                break
            if action == "block":
                BLOCKED.labels(req.server, zone, "").inc()
                resp = req.answer(RCODE.REFUSED, plugin="acl")
                resp.edns_options = BLOCKED_EDE
                return resp
            if action == "filter":
                FILTERED.labels(req.server, zone, "").inc()
                resp = req.answer(RCODE.NOERROR, plugin="acl")
                resp.edns_options = FILTERED_EDE
                return resp
            if action == "drop":
                DROPPED.labels(req.server, zone, "").inc()
                resp = req.answer(RCODE.NOERROR, plugin="acl")
                resp.silent = True
                return resp
        ALLOWED.labels(req.server, "").inc()
        return await self.next(req)


def _decide(policies: tuple[Policy, ...], req: Request) -> str | None:
    host = req.client[0]
    if not host:
        # A query the server makes through the chain itself (ExternalName chasing): its client's
        # own query has already been checked.
        return None
    ip = _address(host)
    if ip is None:
        log.error("Blocking request. Unable to parse source address: %s", host)
        return "block"
    for policy in policies:
        if policy.qtypes is not None and req.qtype not in policy.qtypes:
            continue
        if _contains(policy.networks, ip):
            return policy.action
    return None


@functools.lru_cache(maxsize=4096)
def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client address (a zone index dropped); an IPv4-mapped IPv6 one as IPv4, as Go sees it."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _contains(networks: tuple[Network, ...], ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    version = ip.version
    return any(net.version == version and ip in net for net in networks)
