"""One DNS query as the chain sees it.

The server fills a Request from the packet's header, question and OPT record read straight from the
bytes (server/wire.py); no dnslib message of the query is ever built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from dnslib import CLASS, QTYPE, RR, DNSLabel, DNSRecord, RCODE

from kdns.message import Header, Message, Question

if TYPE_CHECKING:
    from kdns.response import Response


class Edns(NamedTuple):
    """What the client's OPT record said (RFC 6891 section 6.1.3). Immutable; a NamedTuple because
    one is made per query with EDNS, at under half a frozen dataclass's cost."""

    payload: int
    version: int
    do: bool
    options: bytes = b""

    def has_option(self, code: int) -> bool:
        """True when the OPT record carries an option of this code (NSID asks for the server's id)."""
        return has_option(self.options, code)


def has_option(options: bytes, code: int) -> bool:
    """True when OPT rdata holds an option of this code (RFC 6891 section 6.1.2)."""
    offset, end = 0, len(options)
    while offset + 4 <= end:
        if (options[offset] << 8 | options[offset + 1]) == code:
            return True
        offset += 4 + (options[offset + 2] << 8 | options[offset + 3])
    return False


class Request:
    __slots__ = (
        "wire", "id", "flags", "labels", "qname", "qtype", "qclass", "question_end", "edns",
        "proto", "client", "local", "server", "zone", "resolve", "qname_lower",
    )

    def __init__(
        self,
        wire: bytes,
        id: int,
        flags: int,
        labels: tuple[bytes, ...],
        qtype: int,
        qclass: int,
        question_end: int,
        edns: Edns | None,
    ) -> None:
        self.wire = wire
        self.id = id
        self.flags = flags
        self.labels = labels
        self.qname = name_text(labels)
        # Made at once: routing reads it for every query, and the chain's plugins after it.
        self.qname_lower = self.qname.lower()
        self.qtype = qtype
        self.qclass = qclass
        self.question_end = question_end
        self.edns = edns
        self.proto = "udp"
        self.client: tuple[str, int] = ("", 0)
        self.local: tuple[str, int] = ("", 0)  # the listening address ("0.0.0.0" or "::" when bound to all)
        # Set by the server: the listener's "dns://addr:port" and the zone of the block that answers.
        self.server = ""
        self.zone = "."
        # Set by the server: runs a sub-query through this block's whole chain (ExternalName chasing).
        self.resolve: Any = None

    def context_from(self, other: Request) -> Request:
        """This request (another question asked for other's asker) with other's connection and
        server context: who asked, where, in which block; returned for chaining."""
        self.proto, self.client, self.local = other.proto, other.client, other.local
        self.server, self.zone, self.resolve = other.server, other.zone, other.resolve
        return self

    @property
    def rd(self) -> bool:
        return bool(self.flags & 0x0100)

    @property
    def cd(self) -> bool:
        return bool(self.flags & 0x0010)

    @property
    def do(self) -> bool:
        return self.edns is not None and self.edns.do

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def type_name(self) -> str:
        name = _TYPE_NAMES.get(self.qtype)
        return f"TYPE{self.qtype}" if name is None else name

    @property
    def class_name(self) -> str:
        return CLASS.get(self.qclass, f"CLASS{self.qclass}")

    @property
    def max_size(self) -> int:
        """The largest answer the client takes: 64 KiB on TCP, else its EDNS payload (at least 512)."""
        if self.proto == "tcp":
            return 65535
        if self.edns is None:
            return 512
        return max(512, self.edns.payload)

    def reply(
        self, rcode: int = RCODE.NOERROR, aa: bool = False,
        rr: list[RR] | None = None, auth: list[RR] | None = None, ar: list[RR] | None = None,
    ) -> DNSRecord:
        """An answer to this question with these sections (empty when not given): same ID, RD and
        CD copied, RA set, question echoed."""
        # The flags word built directly (QR, RA; opcode, RD and CD copied; AA; RCODE): DNSHeader's
        # per-flag keyword setters cost three times the rest of this method, on every answer.
        bitmap = 0x8080 | (self.flags & 0x7910) | (0x0400 if aa else 0) | (rcode & 0xF)
        question = Question(DNSLabel(self.labels), self.qtype, self.qclass, self.question_wire())
        return Message(
            Header(self.id, bitmap, 1), [question],
            [] if rr is None else rr, [] if auth is None else auth, [] if ar is None else ar,
        )

    def question_wire(self) -> bytes | None:
        """The question section as asked, when its name is written in full (no compression pointer):
        the same bytes the packer would write for it."""
        asked = self.wire[12 : self.question_end]
        # A pointer never takes the place of exactly two bytes of labels (a root is one, a label at
        # least two plus the root), so a name with one always differs in length from the plain form:
        # the labels, a length byte each and the root (two more than the dotted form), type and class.
        if self.labels and len(asked) == len(b".".join(self.labels)) + 6:
            return asked
        return None

    def answer(self, rcode: int = RCODE.NOERROR, plugin: str = "", aa: bool = False) -> Response:
        from kdns.response import Response

        return Response(self.reply(rcode, aa=aa), plugin=plugin)

    def __repr__(self) -> str:
        return f"<Request {self.qname} {self.type_name} {self.proto} from {self.client[0]}>"


def name_text(labels: tuple[bytes, ...]) -> str:
    """A name in presentation form with a trailing dot, escaping as RFC 4343 section 2.1 says."""
    if not labels:
        return "."
    # Nearly every name is plain ASCII with no dot inside a label: one C-level check instead of a
    # Python loop over its bytes.
    text = b".".join(labels)
    if not text.translate(None, _PLAIN_OR_DOT) and text.count(b".") == len(labels) - 1:
        return text.decode("ascii") + "."
    out = []
    for label in labels:
        if label.isalnum() or _plain(label):
            out.append(label.decode("ascii"))
        else:
            out.append("".join(_escape_byte(b) for b in label))
    return ".".join(out) + "."


def text_labels(text: str) -> tuple[tuple[bytes, ...], bool]:
    """The labels of a name in presentation form (name_text's inverse): RFC 1035 section 5.1
    escapes read (\\X is X, \\DDD the byte DDD); and whether it ends in an unescaped dot (fully
    qualified). ValueError for an empty label, a label over 63 octets or a bad escape."""
    if text == ".":
        return (), True
    labels: list[bytes] = []
    label = bytearray()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            digits = text[i + 1 : i + 4]
            if len(digits) == 3 and digits.isdigit() and digits.isascii():
                if int(digits) > 255:
                    raise ValueError(f"escape '\\{digits}' in '{text}' is not a byte")
                label.append(int(digits))
                i += 4
                continue
            if i + 1 >= n:
                raise ValueError(f"'{text}' ends in a lone backslash")
            label.extend(text[i + 1].encode())
            i += 2
            continue
        if c == ".":
            if not label:
                raise ValueError(f"empty label in '{text}'")
            labels.append(bytes(label))
            label = bytearray()
        else:
            label.extend(c.encode())
        i += 1
    if label:
        labels.append(bytes(label))
    if any(len(part) > 63 for part in labels):
        raise ValueError(f"a label of '{text}' is longer than 63 octets")
    return tuple(labels), text.endswith(".") and not label


# QTYPE.get, without its exception for unknown types and its eagerly formatted default.
_TYPE_NAMES: dict[int, str] = dict(QTYPE.forward)
_SPECIAL = (0x2E, 0x5C, 0x22, 0x28, 0x29, 0x3B, 0x40, 0x24)
_PLAIN_OR_DOT = bytes(b for b in range(33, 127) if b not in _SPECIAL) + b"."


def _plain(label: bytes) -> bool:
    return all(33 <= b < 127 and b not in _SPECIAL for b in label)


def _escape_byte(b: int) -> str:
    if b in _SPECIAL:
        return "\\" + chr(b)
    if 33 <= b < 127:
        return chr(b)
    return f"\\{b:03d}"

