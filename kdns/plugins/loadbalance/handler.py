"""loadbalance: round-robin DNS by shuffling address records (CoreDNS plugin/loadbalance).

A and AAAA records (and MX) are shuffled uniformly; CNAMEs go first, because some stub resolvers
(glibc) expect the chain before the addresses. The shuffle is done on a copy: the Response from
next() may be shared (the cache's item, the fast path's stored answer). A response with fast-path
tags keeps them: the server's fast path shuffles the stored answer's address runs itself on every hit
when a block has loadbalance (server/fastpath.py).
"""

from __future__ import annotations

import random

from dnslib import QTYPE, RCODE, RR

from kdns.plugins.loadbalance.config import Config
from kdns.request import Request
from kdns.response import Response
from kdns.types import Next

_A, _AAAA, _MX, _CNAME = int(QTYPE.A), int(QTYPE.AAAA), int(QTYPE.MX), int(QTYPE.CNAME)
_ADDRESS = (_A, _AAAA)
_XFR = (int(QTYPE.AXFR), int(QTYPE.IXFR))
_NOERROR = int(RCODE.NOERROR)


def shuffled(records: list[RR]) -> list[RR] | None:
    """records reordered (CNAMEs, others, shuffled addresses, shuffled MX); None when nothing moves."""
    if len(records) < 2:
        return None
    first = records[0].rtype
    if first in _ADDRESS and all(rr.rtype == first for rr in records):
        out = list(records)
        random.shuffle(out)
        return out
    cname: list[RR] = []
    address: list[RR] = []
    mx: list[RR] = []
    rest: list[RR] = []
    for rr in records:
        t = rr.rtype
        if t == _CNAME:
            cname.append(rr)
        elif t in _ADDRESS:
            address.append(rr)
        elif t == _MX:
            mx.append(rr)
        else:
            rest.append(rr)
    random.shuffle(address)
    random.shuffle(mx)
    out = cname + rest + address + mx
    if all(a is b for a, b in zip(out, records)):
        return None
    return out


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.limit = config.limit_answers

    async def __call__(self, req: Request) -> Response:
        resp = await self.next(req)
        msg = resp.msg
        if msg.header.rcode != _NOERROR or req.qtype in _XFR:
            return resp
        rr, auth, ar = msg.rr, msg.auth, msg.ar
        if len(rr) < 2 and len(auth) < 2 and len(ar) < 2:
            # Nothing to reorder nor cut (most answers: one address, or a SOA alone): no calls.
            return resp
        answer = shuffled(rr)
        authority = shuffled(auth)
        additional = shuffled(ar)
        limit = self.limit
        cut = bool(limit) and len(rr) > limit
        if answer is None and authority is None and additional is None and not cut:
            return resp
        out = resp.copy()
        if answer is not None:
            out.msg.rr = answer
        if authority is not None:
            out.msg.auth = authority
        if additional is not None:
            out.msg.ar = additional
        if cut:
            out.msg.rr = out.msg.rr[:limit]
        return out
