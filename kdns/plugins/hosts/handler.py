"""Answer A, AAAA and PTR from the hosts file and the inline entries (CoreDNS plugin/hosts/hosts.go).

- A name of our zones with addresses: NOERROR, AA, one record per address, TTL `ttl`.
- A known name without addresses of the asked type (or another type): NOERROR, AA, empty (NODATA).
- An unknown name: the next plugin with `fallthrough`, else SERVFAIL. A hosts file has no SOA to
  prove a name does not exist, so CoreDNS answers SERVFAIL rather than NXDOMAIN; kdns does the same.
- A PTR query is answered for any reverse name (whatever our zones) when an entry has that address;
  otherwise it goes to the next plugin.
"""

from __future__ import annotations

import logging
import time

from dnslib import AAAA, PTR, QTYPE, RCODE, RR, A, DNSLabel

from kdns.plugins.hosts import metrics
from kdns.plugins.hosts.config import Config
from kdns.plugins.hosts.hostsfile import HostsMap, address_of_reverse, parse_hosts
from kdns.request import Request
from kdns.server.poller import Poller, file_stamp
from kdns.response import Response
from kdns.types import BlockInfo, Next
from kdns.zones import in_zones

log = logging.getLogger(__name__)
# dnslib's QTYPE.X is a lookup through its Bimap's __getattr__ (~0.4 us): too slow for every query.
_A, _AAAA, _PTR = int(QTYPE.A), int(QTYPE.AAAA), int(QTYPE.PTR)
_SERVFAIL = int(RCODE.SERVFAIL)


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        self.zones: tuple[str, ...] = config.zones or (".",)
        self.fallthrough = config.fallthrough
        self.file = HostsMap()
        self.inline = HostsMap()
        # file_stamp() of the file we last read.
        self.stamp: tuple[int, int] | None = None
        self.poller = Poller(self.config.reload, self.refresh, self.config.path)
        self._load()

    def attach(self, info: BlockInfo) -> None:
        if not self.config.zones and tuple(info.zones) != self.zones:
            self.zones = tuple(info.zones)
            self._load()

    def _load(self) -> None:
        self.inline = parse_hosts("\n".join(self.config.inline), self.zones, self.config.reverse)
        self.stamp = None
        self.refresh()

    def refresh(self) -> bool:
        """Re-read the file if it changed since the last read; True when the entries changed."""
        stamp = file_stamp(self.config.path)
        if stamp is not None and stamp == self.stamp:
            return False
        try:
            # Without a stamp the file is gone or unreadable: open() says why.
            with open(self.config.path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as e:
            if self.stamp is not None or self.file:
                # CoreDNS README: should the file be deleted, the inline entries are still served.
                log.warning("cannot read %s: %s", self.config.path, e)
                self.file, self.stamp = HostsMap(), None
                self._update_metrics(time.time())
                return True
            return False
        self.file = parse_hosts(text, self.zones, self.config.reverse)
        self.stamp = stamp
        self._update_metrics(stamp[0] / 1e9 if stamp is not None else time.time())
        log.debug("parsed %s into %d entries", self.config.path, len(self.file))
        return True

    def _update_metrics(self, when: float) -> None:
        metrics.entries.set(len(self.file) + len(self.inline))
        metrics.reload_timestamp.set(when)

    async def start(self) -> None:
        await self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()

    def _lookup(self, table: str, name: str) -> list[str]:
        return getattr(self.file, table).get(name, []) + getattr(self.inline, table).get(name, [])

    async def __call__(self, req: Request) -> Response:
        qname = req.qname_lower
        qtype = req.qtype
        if qtype != _PTR and not in_zones(qname, self.zones):
            return await self.next(req)
        owner = DNSLabel(list(req.labels))
        ttl = self.config.ttl
        answers: list[RR] = []
        if qtype == _PTR:
            addr = address_of_reverse(qname)
            names = self._lookup("names", addr) if addr is not None else []
            if not names:
                return await self.next(req)
            answers = [RR(owner, _PTR, req.qclass, ttl, PTR(name)) for name in names]
        elif qtype == _A:
            answers = [RR(owner, _A, req.qclass, ttl, A(ip)) for ip in self._lookup("v4", qname)]
        elif qtype == _AAAA:
            answers = [RR(owner, _AAAA, req.qclass, ttl, AAAA(ip)) for ip in self._lookup("v6", qname)]
        if not answers and not self._lookup("v4", qname) and not self._lookup("v6", qname):
            if self.fallthrough is not None and in_zones(qname, self.fallthrough):
                return await self.next(req)
            return req.answer(_SERVFAIL, plugin="hosts")
        resp = req.answer(plugin="hosts", aa=True)
        resp.msg.rr = answers
        metrics.hits.inc()
        return resp
