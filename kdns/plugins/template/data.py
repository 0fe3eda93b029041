"""The data a template sees (CoreDNS's templateData), made from one query."""

from __future__ import annotations

from collections.abc import Sequence

from kdns.metrics import RCODE_NAMES
from kdns.message import CLASSES
from kdns.plugins.template.gotemplate import DATA_FIELDS, GoStruct
from kdns.request import Request

# miekg/dns ClassToString and OpcodeToString; unknown values print as "" (a missing map key).
CLASS_NAMES = {value: name for name, value in CLASSES.items()}
OPCODE_NAMES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE"}
FLAG_NAMES = (
    ("Response", "qr"), ("Authoritative", "aa"), ("Truncated", "tc"), ("RecursionDesired", "rd"),
    ("RecursionAvailable", "ra"), ("Zero", "z"), ("AuthenticatedData", "ad"), ("CheckingDisabled", "cd"),
)
MSG_FIELDS = (
    "Id", "Response", "Opcode", "Authoritative", "Truncated", "RecursionDesired", "RecursionAvailable",
    "Zero", "AuthenticatedData", "CheckingDisabled", "Rcode", "Question",
)


class QuestionData(GoStruct):
    """*dns.Question: the name as the client wrote it, and the numeric type and class."""

    go_type = "*dns.Question"
    __slots__ = ("Name", "Qtype", "Qclass", "_type_name")

    def __init__(self, req: Request) -> None:
        self.Name = req.qname
        self.Qtype = req.qtype
        self.Qclass = req.qclass
        self._type_name = req.type_name

    def fields(self) -> Sequence[str]:
        return ("Name", "Qtype", "Qclass")

    def go_string(self) -> str:
        # miekg/dns Question.String().
        return f";{self.Name}\t{CLASS_NAMES.get(self.Qclass, f'CLASS{self.Qclass}')}\t {self._type_name}"


class MessageData(GoStruct):
    """*dns.Msg of the query: its header fields and question (no records: kdns keeps none)."""

    go_type = "*dns.Msg"

    def __init__(self, req: Request) -> None:
        flags = req.flags
        self.Id = req.id
        self.Response = bool(flags & 0x8000)
        self.Opcode = req.opcode
        self.Authoritative = bool(flags & 0x0400)
        self.Truncated = bool(flags & 0x0200)
        self.RecursionDesired = req.rd
        self.RecursionAvailable = bool(flags & 0x0080)
        self.Zero = bool(flags & 0x0040)
        self.AuthenticatedData = bool(flags & 0x0020)
        self.CheckingDisabled = req.cd
        self.Rcode = flags & 0xF
        self.Question = [QuestionData(req)]
        self._edns = req.edns

    def fields(self) -> Sequence[str]:
        return MSG_FIELDS

    def go_string(self) -> str:
        # miekg/dns Msg.String() for a query: header, OPT pseudosection, question.
        flags = "".join(f" {short}" for attr, short in FLAG_NAMES if getattr(self, attr))
        opcode, status = OPCODE_NAMES.get(self.Opcode, ""), RCODE_NAMES.get(self.Rcode, "")
        text = (
            f";; opcode: {opcode}, status: {status}, id: {self.Id}\n"
            f";; flags:{flags}; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0\n"
        )
        if self._edns is not None:
            do = "flags: do; " if self._edns.do else "flags:; "
            text += f"\n;; OPT PSEUDOSECTION:\n; EDNS: version {self._edns.version}; {do}udp: {self._edns.payload}\n"
        return text + "\n;; QUESTION SECTION:\n" + self.Question[0].go_string() + "\n"


class TemplateData(GoStruct):
    go_type = "*template.templateData"
    __slots__ = ("Zone", "Name", "Regex", "Match", "Group", "Class", "Type", "_req")

    def __init__(
        self, req: Request, zone: str, regex: str, match: list[str], group: dict[str, str], qclass: str,
        qtype: str,
    ) -> None:
        self.Zone = zone
        self.Name = req.qname_lower
        self.Regex = regex
        self.Match = match
        self.Group = group
        self.Class = qclass
        self.Type = qtype
        self._req = req

    def fields(self) -> Sequence[str]:
        return tuple(DATA_FIELDS)

    # Made only when a template reads them: most never do.
    @property
    def Message(self) -> MessageData:  # noqa: N802 - Go's field name
        return MessageData(self._req)

    @property
    def Question(self) -> QuestionData:  # noqa: N802
        return QuestionData(self._req)

    @property
    def Remote(self) -> str:  # noqa: N802
        return self._req.client[0]

    def meta(self, key: str) -> str:
        # kdns has no metadata plugin: CoreDNS's .Meta is "" without one.
        return ""
