"""Route a query to the server block with the longest matching zone, run its chain, pack the answer."""

from __future__ import annotations

import logging
from time import perf_counter
from typing import Any

from dnslib import QTYPE, RCODE, DNSQuestion, DNSRecord

from kdns.metrics import DNS, RCODE_NAMES, BlockMetrics
from kdns.response import Response
from kdns.server import wire
from kdns.server.fastpath import AnswerTable

log = logging.getLogger(__name__)

ZONE_TRANSFERS = frozenset((QTYPE.AXFR, QTYPE.IXFR))
# What Listener.handle returns for a query a plugin chose not to answer (acl's drop): nothing is
# sent, and a TCP connection stays open for the client's next query (None: drop and close).
SILENT = b""


class Block:
    """One server block at run time: its zones, its chain, and a way to query itself."""

    def __init__(self, zones: list[str], head: Any, handlers: list[Any], fast_path: bool, app: Any) -> None:
        self.zones = zones
        self.head = head
        self.handlers = handlers
        # False when a plugin must see every query (log): repeats then take the slow path too.
        self.fast_path = fast_path
        self.addresses: list[tuple[str, int]] = []
        self.app = app
        self.plugin_names: list[str] = []
        # `debug`: a plugin's exception is logged with its traceback.
        self.debug = False
        # `bufsize`: the largest UDP answer this block sends an EDNS asker; a fast-path answer
        # larger than it (made for a TCP asker) must not be stored for UDP ones.
        self.udp_size_cap = 65535
        # The block has loadbalance: fast-path hits reorder their address records, as it would.
        # Set with plugin_names, once, rather than looked for among them on every stored answer.
        self.shuffle = False

    async def resolve(self, qname: str, qtype: int) -> Response:
        """Run (qname, qtype) through this block's whole chain, as a client's query would go."""
        req = wire.parse_query(bytes(DNSRecord(q=DNSQuestion(qname, qtype)).pack()))
        req.server = self.addresses and f"dns://{self.addresses[0][0]}:{self.addresses[0][1]}" or ""
        req.zone = self.zones[0]
        req.resolve = self.resolve
        return await self.head(req)


class Listener:
    """The blocks served on one address:port, and the fast-path table for it."""

    def __init__(self, host: str, port: int, fast_path_capacity: int = 50_000) -> None:
        self.host = host
        self.port = port
        self.server = f"dns://{host}:{port}"
        self.blocks_by_zone: dict[str, Block] = {}
        # Per listener, not per block: a block served on two addresses counts under each (server label).
        self.metrics_by_zone: dict[str, BlockMetrics] = {}
        # The most labels any routed zone has: longer suffixes of a name cannot match one.
        self.deepest = 0
        self.table = AnswerTable(fast_path_capacity)
        self.inflight = 0

    def set_routes(self, routes: list[tuple[str, Block]]) -> None:
        """Swap in a new routing table (at start and on reload); stored answers are dropped."""
        self.blocks_by_zone = {zone: block for zone, block in routes}
        self.metrics_by_zone = {zone: DNS.block(self.server, zone) for zone, _ in routes}
        self.deepest = max((_label_count(zone) for zone in self.blocks_by_zone), default=0)
        self.table.clear()

    def route(self, qname_lower: str) -> tuple[Block | None, str]:
        routes = self.blocks_by_zone
        name = qname_lower
        count = _label_count(name)
        skip = count - self.deepest
        if skip >= count:
            name = "."
        elif skip > 0:
            name = name.split(".", skip)[skip]
        while True:
            block = routes.get(name)
            if block is not None:
                return block, name
            if name == ".":
                return None, ""
            dot = name.find(".")
            # Escaped dots inside a label are rare enough to take the plain split.
            name = name[dot + 1 :] or "."

    async def handle(self, data: bytes, proto: str, client: tuple[str, int], family: str) -> bytes | None:
        """The slow path: parse, route, run the chain, pack; None means drop."""
        start = perf_counter()
        try:
            req = wire.parse_query(data)
        except wire.Drop:
            return None
        except wire.NotImp as e:
            return wire.error_reply(e.id, e.flags, RCODE.NOTIMP)
        except wire.FormErr as e:
            return wire.error_reply(e.id, e.flags, RCODE.FORMERR)
        req.proto = proto
        req.client = client
        req.local = (self.host or ("::" if family == "2" else "0.0.0.0"), self.port)
        req.server = self.server
        block, zone = self.route(req.qname_lower)
        if block is None:
            # No block serves this name (CoreDNS: REFUSED, plugin label empty).
            out, _ = wire.pack(req, req.reply(RCODE.REFUSED))
            return out
        if req.edns is not None and req.edns.version > 0:
            return wire.badvers(req)  # RFC 6891 section 6.1.3
        if req.qtype in ZONE_TRANSFERS:
            # kdns has no `transfer` plugin: zone transfers are refused, as CoreDNS does without it.
            out, _ = wire.pack(req, req.reply(RCODE.REFUSED))
            self.metrics_by_zone[zone].record(
                proto, family, req.type_name, "REFUSED", "", len(data), len(out), perf_counter() - start
            )
            return out
        req.zone = zone
        req.resolve = block.resolve
        try:
            resp = await block.head(req)
            out, truncated = (SILENT, False) if resp.silent else wire.pack(req, resp.msg, resp.edns_options)
        except Exception as e:
            # A plugin failed, or wrote an answer that cannot be packed (a name over 255 bytes):
            # SERVFAIL and one log line (with `debug`, its traceback); the server goes on
            # (dnspython's test server policy).
            DNS.panics += 1
            log.error(
                "%s %s: %s: %s", req.qname, req.type_name, type(e).__name__, e, exc_info=block.debug
            )
            resp = req.answer(RCODE.SERVFAIL)
            out, truncated = wire.pack(req, resp.msg)
        metrics = self.metrics_by_zone[zone]
        rcode_value = resp.rcode
        rcode = RCODE_NAMES.get(rcode_value) or str(rcode_value)
        type_name = req.type_name
        elapsed = perf_counter() - start
        if (
            resp.tags is not None and block.fast_path and not truncated and not resp.silent
            and (req.edns is None or len(out) <= block.udp_size_cap)
        ):
            entry = self.table.store(
                data, req.question_end, req.edns is not None, req.do, out, resp.tags, metrics,
                type_name, rcode, resp.plugin, block.shuffle,
                nsid=req.edns is not None and req.edns.has_option(wire.NSID),
            )
            if entry is not None and entry.lease is None:
                # Counted as the entry's first answer: folded into the metrics with its hits. (A
                # lease's entry counts only the fast path's answers: this one may be a cache miss.)
                entry.count(proto, family, len(data), elapsed)
                return out
        metrics.record(proto, family, type_name, rcode, resp.plugin, len(data), len(out), elapsed)
        return out


def _label_count(name: str) -> int:
    """Labels of a lowercase name with its trailing dot ("." has none); escaped dots count too."""
    return 0 if name == "." else name.count(".")
