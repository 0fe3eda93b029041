"""`chaos [VERSION] [AUTHORS...]`, as CoreDNS's setup.go.

No arguments: version `kdns-<version>` and the default authors. One: that version. More: the first
is the version, the rest the authors, each once, sorted. Every string is cut to 255 bytes, the
most a TXT character-string holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from kdns import __version__
from kdns.corefile.tree import Directive

DEFAULT_VERSION = f"kdns-{__version__}"
# CoreDNS answers with the GitHub handles of its OWNERS files; kdns has none, and names itself.
DEFAULT_AUTHORS = ("kdns",)


@dataclass(frozen=True)
class Config:
    version: str = DEFAULT_VERSION
    authors: tuple[str, ...] = DEFAULT_AUTHORS


def parse(d: Directive) -> Config:
    if d.block:
        raise d.block[0].unknown_option()
    args = d.values
    if not args:
        return Config()
    if len(args) == 1:
        return Config(trim(args[0]))
    return Config(trim(args[0]), tuple(sorted({trim(a) for a in args[1:]})))


def trim(text: str) -> str:
    """At most 255 bytes of text (RFC 1035 section 3.3: a character-string's length is one octet)."""
    data = text.encode()
    return text if len(data) < 256 else data[:255].decode(errors="ignore")
