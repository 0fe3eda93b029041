"""RFC 1035 section 5 master files -> dnslib RRs, every error naming the file and line.

dnslib's own ZoneParser keeps no line numbers, takes TTLs only before the class and leaves `@` and
relative names in MX/SRV data unexpanded, so the file is split into entries here (comments,
quotes, parentheses, blank owners, $ORIGIN, $TTL, $INCLUDE) and each RDATA is handed to dnslib's
per-type fromZone() once its domain names are made absolute.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass

from dnslib import QTYPE, RDMAP, RR, DNSLabel, RD

from kdns.errors import KdnsError
from kdns.message import CLASSES
from kdns.request import text_labels

# RFC 1035 section 5.1 leaves the default TTL open; miekg/dns (CoreDNS) uses one hour.
DEFAULT_TTL = 3600
MAX_INCLUDE_DEPTH = 8
TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Which RDATA fields are domain names: dnslib's fromZone() leaves `@` (and, for SRV, relative
# names) as written.
NAME_FIELDS = {
    "CNAME": (0,), "NS": (0,), "PTR": (0,), "DNAME": (0,), "MX": (1,), "SRV": (3,), "SOA": (0, 1),
}
# The rdata attributes dnslib keeps those names in, in the same order.
NAME_ATTRS = {
    "CNAME": ("label",), "NS": ("label",), "PTR": ("label",), "DNAME": ("label",), "MX": ("label",),
    "SRV": ("target",), "SOA": ("mname", "rname"),
}
# Exact RDATA field counts of the common types, so a short line is an error, not an IndexError.
FIELD_COUNTS = {
    "A": 1, "AAAA": 1, "CNAME": 1, "NS": 1, "PTR": 1, "DNAME": 1, "MX": 2, "SRV": 4, "SOA": 7,
    "CAA": 3,
}


class ZoneFileError(KdnsError):
    def __init__(self, message: str, file: str, line: int) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.message = message
        self.file = file
        self.line = line


@dataclass(frozen=True)
class Word:
    text: str
    line: int
    quoted: bool = False


@dataclass(frozen=True)
class Located:
    """A record and where it was written, so later checks (out of zone, CNAME and other data) can
    name the line."""

    rr: RR
    file: str
    line: int


@dataclass
class Entry:
    """One logical line: its words, where it starts, and whether its owner field was left blank."""

    words: list[Word]
    line: int
    blank_owner: bool


def entries(text: str) -> Iterator[Entry]:
    """Logical lines of a master file: comments dropped, parenthesised continuations joined."""
    words: list[Word] = []
    start = 1
    blank_owner = False
    depth = 0
    line = 1
    i = 0
    n = len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and depth == 0:
            start = line
            blank_owner = c in " \t"
            at_line_start = False
        if c == "\n":
            if depth == 0:
                if words:
                    yield Entry(words, start, blank_owner)
                words = []
                at_line_start = True
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == ";":
            while i < n and text[i] != "\n":
                i += 1
        elif c == "(":
            depth += 1
            i += 1
        elif c == ")":
            if depth == 0:
                raise ValueError(f"line {line}: ')' without '('")
            depth -= 1
            i += 1
        elif c == '"':
            j = i + 1
            buf = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j : j + 2])
                    j += 2
                    continue
                if text[j] == "\n":
                    raise ValueError(f"line {line}: unterminated quoted string")
                buf.append(text[j])
                j += 1
            if j >= n:
                raise ValueError(f"line {line}: unterminated quoted string")
            words.append(Word(_unescape("".join(buf)), line, True))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in ' \t\r\n;()"':
                j += 1 if text[j] != "\\" else 2
            words.append(Word(text[i:j], line))
            i = j
    if depth:
        raise ValueError(f"line {start}: '(' without ')'")
    if words:
        yield Entry(words, start, blank_owner)


def _unescape(s: str) -> str:
    """RFC 1035 section 5.1 escapes in a character-string: \\X is X, \\DDD is the byte DDD."""
    if "\\" not in s:
        return s
    out = []
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            if s[i + 1 : i + 4].isdigit() and len(s[i + 1 : i + 4]) == 3:
                out.append(chr(int(s[i + 1 : i + 4])))
                i += 4
            else:
                out.append(s[i + 1])
                i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_ttl(text: str) -> int:
    """A TTL in seconds, or with BIND's units (1h30m, 2d, 1w)."""
    if text.isdigit():
        value = int(text)
    else:
        value = 0
        number = ""
        for ch in text.lower():
            if ch.isdigit():
                number += ch
            elif ch in TIME_UNITS and number:
                value += int(number) * TIME_UNITS[ch]
                number = ""
            else:
                raise ValueError(f"invalid TTL '{text}'")
        if number:
            raise ValueError(f"invalid TTL '{text}'")
    if value > 0x7FFFFFFF:
        raise ValueError(f"TTL '{text}' above 2147483647")  # RFC 2181 section 8
    return value


def _is_ttl(text: str) -> bool:
    if not text or not text[0].isdigit():
        return False
    try:
        parse_ttl(text)
    except ValueError:
        return False
    return True


def absolute(name: str, origin: DNSLabel) -> DNSLabel:
    if name == "@":
        return origin
    if "\\" in name:
        # dnslib's DNSLabel(str) splits at escaped dots and IDNA-encodes \DDD bytes: read them here.
        labels, qualified = text_labels(name)
        return DNSLabel(labels) if qualified else origin.add(labels)
    if name.endswith("."):
        return DNSLabel(name)
    return origin.add(name)


def parse_zone(text: str, origin: str, file: str, _depth: int = 0) -> list[Located]:
    """The records of a master file read with origin; ZoneFileError(message, file, line) if bad."""
    records: list[Located] = []
    state = _State(DNSLabel(origin), None, None, None)
    try:
        all_entries = list(entries(text))
    except ValueError as e:
        line_text, _, message = str(e).partition(": ")
        raise ZoneFileError(message, file, int(line_text.split()[1])) from None
    for entry in all_entries:
        try:
            _entry(entry, state, records, file, _depth)
        except ZoneFileError:
            raise
        except Exception as e:  # dnslib raises a mix of ValueError, DNSError, IndexError, ...
            raise ZoneFileError(str(e) or type(e).__name__, file, entry.line) from None
    return records


@dataclass
class _State:
    origin: DNSLabel
    owner: DNSLabel | None
    default_ttl: int | None
    last_ttl: int | None


def _entry(entry: Entry, state: _State, records: list[Located], file: str, depth: int) -> None:
    words = [w.text for w in entry.words]
    head = entry.words[0]
    if not entry.blank_owner and not head.quoted and head.text.startswith("$"):
        directive = head.text.upper()
        if directive == "$ORIGIN" and len(words) == 2:
            state.origin = absolute(words[1], state.origin)
        elif directive == "$TTL" and len(words) == 2:
            state.default_ttl = parse_ttl(words[1])
        elif directive == "$INCLUDE" and len(words) in (2, 3):
            _include(words, state, records, file, depth)
        else:
            raise ValueError(f"bad control entry '{' '.join(words)}'")
        return
    if entry.blank_owner:
        if state.owner is None:
            raise ValueError("no owner name before a record that omits it")
        owner = state.owner
    else:
        owner = absolute(words.pop(0), state.origin)
    ttl: int | None = None
    rclass = "IN"
    # RFC 1035 section 5.1: [TTL] [CLASS] TYPE or [CLASS] [TTL] TYPE.
    for _ in range(2):
        if words and ttl is None and _is_ttl(words[0]):
            ttl = parse_ttl(words.pop(0))
        elif words and words[0].upper() in CLASSES:
            rclass = words.pop(0).upper()
    if not words:
        raise ValueError("record without a type")
    rtype = words.pop(0).upper()
    if rtype not in QTYPE.reverse or rtype in ("ANY", "AXFR", "IXFR", "OPT"):
        raise ValueError(f"unknown or unsupported record type '{rtype}'")
    if ttl is None:
        ttl = state.default_ttl if state.default_ttl is not None else state.last_ttl
        if ttl is None:
            ttl = DEFAULT_TTL
    state.last_ttl = ttl
    state.owner = owner
    rdata = _rdata(rtype, words, state.origin)
    rr = RR(owner, getattr(QTYPE, rtype), CLASSES[rclass], ttl, rdata)
    records.append(Located(rr, file, entry.line))


def _rdata(rtype: str, fields: list[str], origin: DNSLabel) -> RD:
    want = FIELD_COUNTS.get(rtype)
    if want is not None and len(fields) != want:
        raise ValueError(f"{rtype} record needs {want} RDATA fields, got {len(fields)}")
    if not fields:
        raise ValueError(f"{rtype} record without RDATA")
    try:
        if rtype == "A":
            ipaddress.IPv4Address(fields[0])
        elif rtype == "AAAA":
            ipaddress.IPv6Address(fields[0])
    except ValueError:
        raise ValueError(f"invalid {'IPv4' if rtype == 'A' else 'IPv6'} address '{fields[0]}'") from None
    names = {index: absolute(fields[index], origin) for index in NAME_FIELDS.get(rtype, ())}
    for index in names:
        # fromZone would read the name from text again (losing escaped dots and \\DDD bytes, or
        # failing on them): it gets the root, and the name read here replaces it below.
        fields[index] = "."
    if rtype == "SRV" and not all(f.isdigit() and int(f) < 65536 for f in fields[:3]):
        raise ValueError("SRV priority, weight and port must be numbers from 0 to 65535")
    if rtype == "MX" and not (fields[0].isdigit() and int(fields[0]) < 65536):
        raise ValueError(f"MX preference must be a number from 0 to 65535, got '{fields[0]}'")
    if rtype == "SOA":
        fields[2:] = [str(parse_ttl(f)) for f in fields[2:]]
    cls = RDMAP.get(rtype)
    if cls is None:
        raise ValueError(f"record type '{rtype}' cannot be read from a zone file")
    rdata = cls.fromZone(fields, origin)
    for index, attr in zip(NAME_FIELDS.get(rtype, ()), NAME_ATTRS.get(rtype, ())):
        setattr(rdata, attr, names[index])
    return rdata


def _include(words: list[str], state: _State, records: list[Located], file: str, depth: int) -> None:
    if depth >= MAX_INCLUDE_DEPTH:
        raise ValueError("$INCLUDE nested too deeply")
    path = words[1]
    if not os.path.isabs(path):
        path = os.path.join(os.path.dirname(file), path)
    origin = absolute(words[2], state.origin) if len(words) == 3 else state.origin
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # RFC 1035 section 5.1: $INCLUDE does not change the including file's origin.
    records.extend(parse_zone(text, str(origin), path, depth + 1))
