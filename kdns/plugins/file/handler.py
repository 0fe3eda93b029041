"""Answer from the zones read from a master file; reload when its SOA serial changes.

Authoritative answers (AA=1) for names in our zones, referrals (AA=0) below a zone cut, NXDOMAIN
and NODATA with the SOA in the authority section (RFC 2308), CNAME chains followed inside the zone
and, when they leave it, through the server's own chain (CoreDNS asks its upstream the same way).
Queries outside our zones go to the next plugin.
"""

from __future__ import annotations

import contextvars
import logging

from dnslib import RCODE, DNSLabel

from kdns.errors import ConfigError
from kdns.plugins.file import metrics
from kdns.plugins.file.config import Config, as_config_error, load
from kdns.plugins.file.zone import MAX_CHAIN, Answer, Zone
from kdns.plugins.file.zonefile import ZoneFileError
from kdns.request import Request
from kdns.server.poller import Poller, file_stamp
from kdns.response import Response
from kdns.types import BlockInfo, Next

log = logging.getLogger(__name__)
# How many CNAME targets outside a zone this query is already resolving through the chain.
_chase_depth: contextvars.ContextVar[int] = contextvars.ContextVar("file_chase_depth", default=0)


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        # Longest origin first, so a query goes to the most specific zone.
        self.zones: list[Zone] = []
        self.stamp: tuple[int, int] | None = None
        self.poller = Poller(self.config.reload, self.refresh, self.config.path)
        if config.loaded:
            self._install(list(config.loaded))
            self.stamp = file_stamp(self.config.path)

    def attach(self, info: BlockInfo) -> None:
        """Read the file with the block's zones as origins when the directive named none."""
        if self.config.zones:
            return
        try:
            zones = [load(self.config.path, origin) for origin in info.zones]
        except ZoneFileError as e:
            raise as_config_error(e) from None
        except OSError as e:
            raise ConfigError(f"cannot read zone file '{self.config.path}': {e.strerror or e}") from None
        self.stamp = file_stamp(self.config.path)
        self._install(zones)

    def _install(self, zones: list[Zone]) -> None:
        self.zones = sorted(zones, key=lambda z: len(z.origin), reverse=True)
        for zone in zones:
            for name, count in zone.entries_by_name().items():
                metrics.entries.labels(name).set(count)

    def refresh(self) -> bool:
        """Re-read the file if it changed; install it when its SOA serial did (as CoreDNS)."""
        stamp = file_stamp(self.config.path)
        if stamp is None or stamp == self.stamp or not self.zones:
            return False
        self.stamp = stamp
        try:
            fresh = [load(self.config.path, str(zone.origin_name)) for zone in self.zones]
        except (ZoneFileError, OSError) as e:
            log.error("failed to reload %s, keeping the zone loaded: %s", self.config.path, e)
            return False
        if all(new.serial == old.serial for new, old in zip(fresh, self.zones)):
            log.info("%s changed but its SOA serial did not: not reloaded", self.config.path)
            return False
        self._install(fresh)
        for zone in fresh:
            log.info(
                "successfully reloaded zone %s in %s with %d SOA serial",
                zone.origin_name, self.config.path, zone.serial,
            )
        return True

    async def start(self) -> None:
        await self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()

    def zone_for(self, labels: tuple[bytes, ...]) -> Zone | None:
        for zone in self.zones:
            n = len(zone.origin)
            if len(labels) >= n and labels[len(labels) - n :] == zone.origin:
                return zone
        return None

    async def __call__(self, req: Request) -> Response:
        qlabels = tuple(label.lower() for label in req.labels)
        zone = self.zone_for(qlabels)
        if zone is None:
            return await self.next(req)
        result = zone.lookup(qlabels, req.qtype, DNSLabel(list(req.labels)))
        if result.external is not None and req.resolve is not None:
            await self._chase(req, result)
        resp = req.answer(result.rcode, plugin="file", aa=result.aa)
        resp.msg.rr = result.answer
        resp.msg.auth = result.authority
        resp.msg.ar = result.additional
        return resp

    @staticmethod
    async def _chase(req: Request, result: Answer) -> None:
        """Append the answer for a CNAME target outside the zone, resolved by this server's chain."""
        depth = _chase_depth.get()
        # Two zones whose CNAMEs point at each other would otherwise recurse without end.
        if depth >= MAX_CHAIN:
            return
        token = _chase_depth.set(depth + 1)
        try:
            sub = await req.resolve(str(result.external), req.qtype)
        except Exception as e:  # the CNAME itself is still a good answer
            log.debug("resolving CNAME target %s failed: %s", result.external, e)
            return
        finally:
            _chase_depth.reset(token)
        if sub.rcode == RCODE.NOERROR:
            result.answer.extend(sub.msg.rr)
