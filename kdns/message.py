"""The parts of the answers kdns writes itself: dnslib classes without dnslib's per-field costs.

dnslib checks every field of a DNSHeader, DNSQuestion and RR through properties (a range check on
set, a getattr of a formatted attribute name on get), and holds rdata as objects (DNSLabel, SRV...)
that server/packer.py takes apart again. On a first query for a cluster name that was a third of
the time, for values kdns computed itself and knows to be in range. These subclasses keep their
fields as plain slots; to every reader they are still the dnslib classes (every dnslib method works,
and they compare equal to the dnslib objects with the same content).

A Record keeps what the packer writes:
- owner: the owner name as a tuple of labels;
- parts: the rdata: bytes, written as they are (an address, shared by every record of it); or pieces
  in wire order, where bytes are written as they are and a tuple of labels is a domain name,
  compressed where RFC 1035 section 4.1.4 allows it (CNAME, PTR, NS, MX and SOA, as dnslib does)
  and written in full otherwise (SRV targets: RFC 2782).
`rname` and `rdata` are made from them for the readers that want dnslib objects (the cache, tests).
Like any record in an answer, a Record is never changed in place (a plugin copies a Response first).
"""

from __future__ import annotations

from collections.abc import Sequence

from dnslib import QTYPE, RD, RDMAP, RR, DNSHeader, DNSLabel, DNSQuestion, DNSRecord
from dnslib.label import DNSBuffer

Labels = tuple[bytes, ...]
Pieces = Sequence[bytes | Labels]
Parts = bytes | Pieces
CLASS_IN = 1
# The class names CoreDNS reads in a Corefile or zone text (miekg/dns StringToClass).
CLASSES = {"IN": 1, "CS": 2, "CH": 3, "HS": 4, "NONE": 254, "ANY": 255}


class Header(DNSHeader):
    __slots__ = ("id", "bitmap", "q", "a", "auth", "ar")

    def __init__(self, id: int, bitmap: int, q: int = 0, a: int = 0, auth: int = 0, ar: int = 0) -> None:
        self.id = id
        self.bitmap = bitmap
        self.q = q
        self.a = a
        self.auth = auth
        self.ar = ar

    def _get_rcode(self) -> int:
        return self.bitmap & 0xF

    # Read for every answer (loadbalance, the server's metrics): straight from the bitmap, not
    # through dnslib's get_bits.
    rcode = property(_get_rcode, DNSHeader.set_rcode)

    def __eq__(self, other: object) -> bool:
        # dnslib compares every flag and the RCODE but not the ID: the whole bitmap.
        return isinstance(other, DNSHeader) and self.bitmap == other.bitmap


class Message(DNSRecord):
    """A DNSRecord made of its parts as given: the packer counts the sections itself (and dnslib's
    pack sets the header's counts again), so there are no defaults to fill nor counts to set here."""

    def __init__(
        self, header: DNSHeader, questions: list[DNSQuestion], rr: list[RR], auth: list[RR], ar: list[RR]
    ) -> None:
        self.header = header
        self.questions = questions
        self.rr = rr
        self.auth = auth
        self.ar = ar

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DNSRecord) and self.diff(other) == []


class Question(DNSQuestion):
    """wire: this question in wire form (name uncompressed, type, class) when it is known already, as
    for the asker's own question (Request.reply): the packer writes it as it is."""

    __slots__ = ("qname", "qtype", "qclass", "wire")

    def __init__(self, qname: DNSLabel, qtype: int, qclass: int = CLASS_IN, wire: bytes | None = None) -> None:
        self.qname = qname
        self.qtype = qtype
        self.qclass = qclass
        self.wire = wire

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DNSQuestion)
            and self.qname == other.qname and self.qtype == other.qtype and self.qclass == other.qclass
        )


class Record(RR):
    __slots__ = ("owner", "rtype", "rclass", "ttl", "parts", "_rdata")

    def __init__(self, owner: Labels, rtype: int, ttl: int, parts: Parts, rclass: int = CLASS_IN) -> None:
        self.owner = owner
        self.rtype = rtype
        self.rclass = rclass
        self.ttl = ttl
        self.parts = parts
        self._rdata: RD | None = None

    @property
    def rname(self) -> DNSLabel:
        return DNSLabel(self.owner)

    @property
    def rdata(self) -> RD:
        if self._rdata is None:
            self._rdata = parse_rdata(self.rtype, self.parts)
        return self._rdata

    def __eq__(self, other: object) -> bool:
        # As dnslib compares records (TTL left out), with any RR.
        return (
            isinstance(other, RR)
            and self.rtype == other.rtype and self.rclass == other.rclass
            and self.rname == other.rname and self.rdata == other.rdata
        )


def owner_labels(rr: RR) -> Labels:
    """The labels of any RR's owner name, without making a DNSLabel for a Record."""
    return rr.owner if type(rr) is Record else rr.rname.label


def parse_rdata(rtype: int, parts: Parts) -> RD:
    """The dnslib rdata object for parts, read back by dnslib's own parser for rtype."""
    if isinstance(parts, bytes):
        data = parts
    else:
        buffer = DNSBuffer()
        for part in parts:
            if isinstance(part, bytes):
                buffer.append(part)
            else:
                buffer.encode_name_nocompress(DNSLabel(part))
        data = bytes(buffer.data)
    return RDMAP.get(QTYPE.get(rtype), RD).parse(DNSBuffer(data), len(data))


def labels_of(name: str) -> Labels:
    """DNSLabel(name).label, without dnslib's escape regex and IDNA codec for plain ASCII names.

    A name Kubernetes allows (RFC 1123 labels) is plain: ASCII, no backslash escape, every label
    1 to 63 bytes; the IDNA codec leaves such a name as it is. Anything else goes through dnslib.
    """
    if name.isascii() and "\\" not in name:
        text = name.encode()
        labels = tuple((text[:-1] if text.endswith(b".") else text).split(b"."))
        if b"" not in labels and max(map(len, labels)) < 64:
            return labels
    return DNSLabel(name).label
