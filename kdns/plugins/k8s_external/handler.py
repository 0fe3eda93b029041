"""Answer names of the k8s_external zones from the kubernetes plugin's live index (answers.py).

As the kubernetes handler: computed synchronously from the index, tagged for the fast path (the
kubernetes plugin already drops tagged answers from the server's tables on every index change);
a load balancer hostname is chased through the block's own chain, and that answer is not tagged.
Until the index has synced, a name that would not exist is SERVFAIL, never NXDOMAIN.
"""

from __future__ import annotations

import logging

from dnslib import RCODE

from kdns.plugins.k8s_external.answers import Answer, Answers
from kdns.plugins.k8s_external.config import Config
from kdns.request import Request
from kdns.response import Response
from kdns.types import BlockInfo, Externaler, Next
from kdns.zones import in_zones, matching_zone

log = logging.getLogger(__name__)

PLUGIN = "k8s_external"
_NXDOMAIN, _SERVFAIL = int(RCODE.NXDOMAIN), int(RCODE.SERVFAIL)


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        self.zones: tuple[str, ...] = config.zones or (".",)
        self.answers: Answers | None = None
        self.info: BlockInfo | None = None

    def connect(self, provider: Externaler) -> None:
        """The kubernetes plugin of our block (the app calls this before start; PluginSpec.needs)."""
        self.answers = Answers(provider.external_index(), self.config)

    def attach(self, info: BlockInfo) -> None:
        self.info = info
        if not self.config.zones:
            self.zones = tuple(info.zones)

    async def __call__(self, req: Request) -> Response:
        answers = self.answers
        qname = req.qname_lower
        zone = matching_zone(qname, self.zones)
        if answers is None or zone is None or req.qclass not in (1, 255):  # IN, ANY
            return await self.next(req)
        labels = [label.decode("latin-1").lower() for label in req.labels]
        zone_len = 0 if zone == "." else zone.count(".")
        answer = answers.lookup(req.labels, labels, zone_len, req.qtype)
        synced = answers.index.synced
        if answer.rcode == _NXDOMAIN:
            fallthrough = self.config.fallthrough
            if fallthrough is not None and in_zones(qname, fallthrough):
                return await self.next(req)
            if not synced:
                return req.answer(_SERVFAIL, plugin=PLUGIN)
        cacheable = synced and not answer.chase
        if answer.chase:
            await self._chase(req, answer)
        msg = req.reply(answer.rcode, aa=True, rr=answer.rr, auth=answer.auth, ar=answer.ar)
        return Response(msg, plugin=PLUGIN, tags=answer.tags if cacheable else None)

    async def _chase(self, req: Request, answer: Answer) -> None:
        """Append the addresses of each load balancer hostname, asked through the block's chain."""
        resolve = self.info.resolve if self.info is not None else req.resolve
        if resolve is None:
            return
        for host in answer.chase:
            try:
                resp = await resolve(host + ".", req.qtype)
            except Exception as e:
                log.debug("resolving load balancer %s failed: %s", host, e)
                continue
            answer.rr.extend(resp.msg.rr)
