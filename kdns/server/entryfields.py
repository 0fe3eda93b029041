"""What the batched UDP loop reads of a fast-path entry: fastpath.Entry's base class. Where setup.py
built kdns/server/_mmsg.c, its EntryFields, a C struct the compiled loop reads directly and counts
the entry's UDP answers on; else PlainEntryFields, the same attributes in slots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING


class PlainEntryFields:
    """The fields of a fast-path entry that the batched loop reads (fastpath.Entry says what they hold)."""

    __slots__ = ("size", "heads", "tail", "runs", "countdown", "quick_below")
    size: int
    heads: tuple[bytes, ...]
    tail: bytes
    runs: tuple[tuple[int, int, int], ...]
    countdown: tuple[float, int, tuple[int, ...]] | None
    quick_below: float

    def take_udp(self) -> tuple[str, int, int, float] | None:
        """(family, request size, answers, summed seconds) of the UDP answers the compiled loop
        counted on the entry since the last call: none here, where every answer goes to Entry.count."""
        return None


if TYPE_CHECKING:
    EntryFields = PlainEntryFields
else:
    try:
        from kdns.server._mmsg import EntryFields
    except ImportError:  # not built: no compiler at install time, or not Linux
        EntryFields = PlainEntryFields
