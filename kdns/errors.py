"""The one exception root of kdns, and the errors that carry a place."""

from __future__ import annotations


class KdnsError(Exception):
    """Root of every error kdns raises on purpose."""


class ConfigError(KdnsError):
    """A Corefile problem, always named by file and line (and the directive when known)."""

    def __init__(self, message: str, file: str = "", line: int = 0, directive: str = "") -> None:
        self.message = message
        self.file = file
        self.line = line
        self.directive = directive
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file else ""
        what = f"{self.directive}: " if self.directive else ""
        return f"{where}: {what}{self.message}" if where else f"{what}{self.message}"


class WireError(KdnsError):
    """A packet that cannot be parsed; the server answers FORMERR or drops it."""
