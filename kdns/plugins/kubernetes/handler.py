"""The kubernetes plugin's handler: names in its zones answered from the ClusterIndex.

Everything computed from the index alone is synchronous and carries fast-path tags; only an
ExternalName whose target lies outside our zones awaits (the block's own chain, normally forward),
and that answer carries no tags.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from typing import Any

from dnslib import QTYPE, RCODE

from kdns.corefile.keys import normalize_zone
from kdns.plugins.kubernetes.config import Config
from kdns.plugins.kubernetes.index import ClusterIndex
from kdns.plugins.kubernetes.multicluster import ServiceImports
from kdns.plugins.kubernetes.records import Answer, Records
from kdns.request import Request
from kdns.resolvconf import search_domains
from kdns.response import Response
from kdns.types import BlockInfo, Next
from kdns.zones import matching_zone

log = logging.getLogger(__name__)

PLUGIN = "kubernetes"
# RCODE.X is a Bimap lookup through __getattr__: read once, not per query.
_NXDOMAIN, _SERVFAIL = int(RCODE.NXDOMAIN), int(RCODE.SERVFAIL)
# ExternalName services may point at each other; give up after this many hops (CoreDNS's
# upstream lookup stops at 8 CNAMEs too).
MAX_CHASE = 8
# The host's search list ends every autopath search path (CoreDNS searchFromResolvConf).
RESOLV_CONF = "/etc/resolv.conf"


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        self.index = ClusterIndex(config)
        if config.multicluster is not None:
            self.index.serve_imports(ServiceImports(config.endpoint_pod_names))
        self.info: BlockInfo | None = None
        self.source: Any = None
        self.explain_endpoint: Any = None  # HttpEndpoint of the `explain` option, once started
        self.snapshots: Any = None  # snapshot.Snapshots of the `snapshot` option, once started
        # Answering from a snapshot at start (the API not listed yet): as if synced.
        self.from_snapshot = False
        # Called with the tags of every index change; the server registers its fast-path table here.
        self.invalidators: list[Callable[[set[Hashable]], None]] = []
        self.index.subscribe(self._changed)
        self.host_search: tuple[str, ...] = ()
        self._set_zones(config.zones)

    def _set_zones(self, zones: tuple[str, ...]) -> None:
        self.zones = zones
        # Longest first: the most specific zone of ours decides (CoreDNS plugin.Zones.Matches).
        self._zones = sorted(
            ((z, tuple(z.rstrip(".").split(".")) if z != "." else ()) for z in zones),
            key=lambda z: -len(z[1]),
        )
        self.records = Records(self.index, self.config, zones)

    # -- what other plugins of the block use (kdns/types.py AutoPather, Externaler) -------------

    def enable_autopath(self) -> None:
        """autopath @kubernetes: watch pods' addresses and namespaces, whatever the `pods` mode."""
        self.index.track_pod_namespaces()
        try:
            self.host_search = search_domains(RESOLV_CONF)
        except OSError as e:
            log.warning("no search list for autopath from %s: %s", RESOLV_CONF, e.strerror)

    def autopath(self, req: Request) -> tuple[str, ...] | None:
        """The search path of the pod asking (CoreDNS Kubernetes.AutoPath), None when the name is
        outside our zones or the address is no running pod's."""
        zone = matching_zone(req.qname_lower, self.zones)
        if zone is None:
            return None
        namespace = self.index.client_namespace(_client_ip(req.client[0]))
        if namespace is None:
            return None
        if zone == ".":
            first: tuple[str, ...] = (f"{namespace}.svc.", "svc.", ".")
        else:
            first = (f"{namespace}.svc.{zone}", f"svc.{zone}", zone)
        return first + self.host_search + ("",)

    def could_autopath(self, qname: str) -> bool:
        """qname is `<ns>.svc.<zone>` or below it for a zone of ours: the first search path element
        of the pods of some namespace."""
        zone = matching_zone(qname, self.zones)
        if zone is None:
            return False
        rest = qname[: len(qname) - len(zone)] if zone != "." else qname
        labels = rest.rstrip(".").split(".")
        return len(labels) >= 2 and labels[-1] == "svc"

    def external_index(self) -> ClusterIndex:
        return self.index

    def _changed(self, tags: set[Hashable]) -> None:
        for invalidate in list(self.invalidators):
            try:
                invalidate(tags)
            except Exception:
                log.exception("fast-path invalidation failed")

    def attach(self, info: BlockInfo) -> None:
        self.info = info
        if not self.config.zones:
            zones = [zone for z in info.zones for zone in normalize_zone(z)]
            self._set_zones(tuple(dict.fromkeys(zones)))

    def check(self) -> None:
        """kdns -validate: read the manifests files as start() reads them (ManifestError naming a
        broken one). The API is not contacted: its credentials often exist only in the cluster."""
        if self.config.manifests:
            from kdns.plugins.kubernetes.manifests import load_slim

            load_slim(self.config.manifests, self.index.kinds)

    async def start(self) -> None:
        if self.config.manifests:
            from kdns.plugins.kubernetes.manifests import ManifestSource

            self.source = ManifestSource(self.config.manifests, self.index)
        else:
            from kdns.plugins.kubernetes.apisource import ApiSource  # type: ignore[import-not-found,unused-ignore]

            self.source = ApiSource(self.config, self.index)
        await self.source.start()
        if self.config.explain is not None:
            await self._start_explain(*self.config.explain)
        synced = await self.wait_synced(self.config.startup_timeout)
        if self.config.snapshot:
            from kdns.plugins.kubernetes.snapshot import Snapshots, identity

            self.snapshots = Snapshots(
                self.config.snapshot, self.config.snapshot_max_age, self.index, identity(self.config),
                self.source.settings.snapshot_interval,
            )
            self.from_snapshot = not synced and self.snapshots.restore()
            self.snapshots.start()

    async def _start_explain(self, host: str, port: int) -> None:
        from kdns.plugins.kubernetes.explain import http_explain
        from kdns.server.http import HttpEndpoint

        async def route(request: Any) -> Any:
            return await http_explain(self, request)

        self.explain_endpoint = HttpEndpoint(host, port, routes=[("/explain", route)])
        await self.explain_endpoint.start()
        log.info("explain endpoint on %s:%d (it shows cluster names and addresses)", host, self.explain_endpoint.port)

    async def wait_synced(self, timeout: float) -> bool:
        """Wait up to timeout for the first sync (CoreDNS startup_timeout); then serve anyway."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.index.synced:
            if loop.time() >= deadline:
                log.warning("kubernetes API not synced after %.1fs; starting anyway", timeout)
                return False
            await asyncio.sleep(0.05)
        return True

    async def stop(self) -> None:
        if self.explain_endpoint is not None:
            await self.explain_endpoint.stop()
        if self.snapshots is not None:
            await self.snapshots.stop()
        if self.source is not None:
            await self.source.stop()

    def ready(self) -> bool:
        # Serving a snapshot counts as ready: the replica answers as it would through an API
        # outage after a sync, and a cluster whose every DNS pod restarted during an outage still
        # has endpoints behind kube-dns (snapshot.py).
        return self.index.synced or self.from_snapshot

    def _zone_of(self, labels: list[str]) -> int | None:
        n = len(labels)
        for _, zl in self._zones:
            k = len(zl)
            if k <= n and tuple(labels[n - k :]) == zl:
                return k
        return None

    async def __call__(self, req: Request) -> Response:
        if req.qclass not in (1, 255):  # IN, ANY
            return await self.next(req)
        labels = _lower_labels(req)
        zone_len = self._zone_of(labels)
        if zone_len is None:
            return await self.next(req)
        answer = self.records.lookup(req.labels, labels, zone_len, req.qtype)
        synced = self.index.synced or self.from_snapshot
        if answer.rcode == _NXDOMAIN:
            if self.config.falls_through(req.qname_lower):
                return await self.next(req)
            if not synced:
                # Until the first list we cannot tell "does not exist" from "not seen yet".
                return req.answer(_SERVFAIL, plugin=PLUGIN)
        cacheable = synced
        if answer.chase:
            cacheable = await self._chase(req, answer) and cacheable
            if answer.rcode == _NXDOMAIN and not synced:
                return req.answer(_SERVFAIL, plugin=PLUGIN)
        msg = req.reply(answer.rcode, aa=True, rr=answer.rr, auth=answer.auth, ar=answer.ar)
        return Response(msg, plugin=PLUGIN, tags=answer.tags if cacheable else None)

    async def _chase(self, req: Request, answer: Answer) -> bool:
        """Append the ExternalName target's records; True when the result came from the index only."""
        qtype = req.qtype
        seen = {req.qname_lower}
        target = answer.chase
        for _ in range(MAX_CHASE):
            name = target + "."
            if name in seen:
                return True
            seen.add(name)
            labels = target.split(".")
            zone_len = self._zone_of(labels)
            if zone_len is None:
                return await self._resolve_outside(req, answer, name)
            sub = self.records.lookup([label.encode() for label in labels], labels, zone_len, qtype)
            answer.rr.extend(sub.rr)
            answer.tags |= sub.tags
            if not sub.chase:
                # RFC 6604 section 3: the rcode and the SOA are those of the last name of the chain
                # (NXDOMAIN when the target does not exist, NODATA when it lacks the type).
                answer.rcode = sub.rcode
                answer.auth = sub.auth
                answer.why = sub.why
                return True
            target = sub.chase
        return True

    async def _resolve_outside(self, req: Request, answer: Answer, name: str) -> bool:
        qtype = req.qtype
        resolve = self.info.resolve if self.info is not None else req.resolve
        if resolve is None:
            return False
        try:
            resp = await resolve(name, qtype)
        except Exception as e:
            log.debug("resolving ExternalName target %s %s failed: %s", name, QTYPE.get(qtype), e)
            return False
        if resp is not None:
            answer.rr.extend(resp.msg.rr)
        return False


def _client_ip(host: str) -> str:
    """A client address as the index keeps pod IPs: no IPv6 zone, an IPv4-mapped one as IPv4."""
    host = host.split("%", 1)[0]
    if host.startswith("::ffff:") and "." in host:
        return host[7:]
    return host


def _lower_labels(req: Request) -> list[str]:
    """The question's labels as lowercase text (latin-1: one character per byte)."""
    name = req.qname_lower
    # The presentation form escapes every dot, backslash and unprintable byte inside a label
    # (request.name_text): with no backslash in it, its dots are exactly the label boundaries.
    if "\\" not in name and name != ".":
        return name[:-1].split(".")
    return [label.decode("latin-1").lower() for label in req.labels]
