"""Complete a client's search path on the server (CoreDNS plugin/autopath/autopath.go).

A query in our zones whose name is the first element of the client's search path or below it
(`NAME.<ns>.svc.cluster.local` from a pod of `<ns>`) is asked again, through the rest of the
chain, as NAME + each element of the search path in turn, ending with NAME itself. The first
answer that is not NXDOMAIN (nor SERVFAIL, REFUSED, FORMERR, NOTIMP: answers CoreDNS's plugins
leave unwritten) is returned for the asked name, with a CNAME from it to the name that answered
put first. When none answers, the first reply goes back unchanged and the client walks its search
path itself.

The fast path keeps only answers that are the same for every client: with `@kubernetes` the
search path is the asking pod's, so a completed answer, or a negative one for a name that could
start some pod's search path, is never stored (tags None). A file's search path is everyone's:
a completed answer is stored when every reply it was made from was (the union of their tags).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable

from dnslib import QTYPE, RCODE, DNSLabel

from kdns.message import Header, Message, Question, Record, owner_labels
from kdns.plugins.autopath import metrics
from kdns.plugins.autopath.config import Config
from kdns.request import Request
from kdns.response import Response
from kdns.server import wire
from kdns.types import AutoPather, BlockInfo, Next
from kdns.zones import in_zones

_CNAME = int(QTYPE.CNAME)
_NXDOMAIN = int(RCODE.NXDOMAIN)
# CoreDNS plugin.ClientWrite: a plugin returning these rcodes has written nothing; autopath tries on.
_UNWRITTEN = frozenset(int(r) for r in (RCODE.SERVFAIL, RCODE.REFUSED, RCODE.FORMERR, RCODE.NOTIMP))

Tags = Collection[Hashable] | None


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        self.zones: tuple[str, ...] = config.zones or (".",)
        self.provider: AutoPather | None = None

    def connect(self, provider: AutoPather) -> None:
        """The `@PLUGIN` of our block (the app calls this before start; PluginSpec.needs)."""
        self.provider = provider
        provider.enable_autopath()

    def attach(self, info: BlockInfo) -> None:
        if not self.config.zones:
            self.zones = tuple(info.zones)

    async def __call__(self, req: Request) -> Response:
        qname = req.qname_lower
        if not in_zones(qname, self.zones):
            return await self.next(req)
        provider = self.provider
        if provider is not None:
            search = provider.autopath(req)
        elif self.config.plugin:
            return await self.next(req)  # the plugin named is not in this block (a load warning)
        else:
            search = self.config.search
        if search and _first_in_search_path(qname, search[0]):
            base = req.labels[: len(req.labels) - _label_count(search[0])]
            if base:
                return await self._complete(req, base, search, shared=provider is None)
        resp = await self.next(req)
        if resp.tags is not None and provider is not None and not _found(resp) and provider.could_autopath(qname):
            # A pod of that namespace would have had this name completed: not an answer for all.
            return Response(resp.msg, plugin=resp.plugin, error=resp.error)
        return resp

    async def _complete(
        self, req: Request, base: tuple[bytes, ...], search: tuple[str, ...], shared: bool
    ) -> Response:
        """Ask base + each search path element until one is found (CoreDNS AutoPath.ServeDNS).

        base keeps the client's spelling of the name; shared: the search path is every client's.
        """
        first: Response | None = None
        tags: Tags = set() if shared else None
        for i, suffix in enumerate(search):
            # The first candidate is the question itself, as the client spelled it.
            sub = req if i == 0 else _sub_request(req, base + _labels(suffix))
            if sub is None:
                continue
            resp = await self.next(sub)
            tags = _union(tags, resp.tags)
            if i == 0:
                first = resp
            if not _found(resp):
                continue
            if i == 0:
                # The name asked is the name found: the answer is the plain one (CoreDNS's cnamer
                # would repeat a CNAME the answer already starts with, for an ExternalName).
                return resp
            metrics.success.labels(req.server).inc()
            return Response(_cnamed(req, resp.msg), plugin=resp.plugin, tags=tags, error=resp.error)
        assert first is not None
        return Response(first.msg, plugin=first.plugin, tags=tags, error=first.error)


def _first_in_search_path(qname: str, first: str) -> bool:
    """CoreDNS firstInSearchPath: qname is the first element or below it."""
    return first == "." or qname == first or qname.endswith("." + first)


def _found(resp: Response) -> bool:
    rcode = resp.rcode
    return rcode != _NXDOMAIN and rcode not in _UNWRITTEN


def _label_count(zone: str) -> int:
    return 0 if zone == "." else zone.count(".")


def _labels(suffix: str) -> tuple[bytes, ...]:
    """The labels of a search path element ("" and "." have none)."""
    text = suffix.rstrip(".")
    return tuple(text.encode().split(b".")) if text else ()


def _union(tags: Tags, more: Tags) -> Tags:
    if tags is None or more is None:
        return None
    return {*tags, *more}


def _sub_request(req: Request, labels: tuple[bytes, ...]) -> Request | None:
    """req asked for another name: same header, type, class and OPT record; None when the name
    cannot be asked (over 255 octets: parse_query refuses it, RFC 1035 section 2.3.4)."""
    data = req.wire[:12] + wire.wire_name(labels) + req.wire[req.question_end - 4 :]
    try:
        return wire.parse_query(data).context_from(req)
    except wire.WireError:
        return None


def _cnamed(req: Request, found: Message) -> Message:
    """found as the answer to req's own question, a CNAME to the first other owner put first
    (CoreDNS cnamer: TTL of that record)."""
    asked = tuple(label.lower() for label in req.labels)
    answers = list(found.rr)
    for rr in answers:
        owner = owner_labels(rr)
        if tuple(label.lower() for label in owner) == asked:
            continue
        answers.insert(0, Record(tuple(req.labels), _CNAME, rr.ttl, (tuple(owner),)))
        break
    h = found.header
    question = Question(DNSLabel(req.labels), req.qtype, req.qclass)
    return Message(Header(h.id, h.bitmap, 1), [question], answers, list(found.auth), list(found.ar))
