"""A Corefile token: its text and where it was read (file and line), for every error message."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A decimal integer as Go's strconv.Atoi reads it: an optional sign, ASCII digits only (str.isdigit
# and int() also take '²' or '٣'). At most 18 digits, which always fit Go's int64; longer ones are
# no sane Corefile value, and int() refuses digit strings past a limit with its own ValueError.
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")


def to_integer(text: str) -> int | None:
    """text as a decimal integer, or None when it is not one."""
    return int(text) if _INTEGER.fullmatch(text) else None


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    file: str
    line: int
    quoted: bool = False
