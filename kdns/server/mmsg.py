"""Datagrams in batches (Linux recvmmsg/sendmmsg): the compiled loop, kdns/server/_mmsg.c, where
setup.py could build it, else mmsg_ctypes.py's. Chosen here, so that a server on the compiled loop
never imports ctypes (some 4 ms of a start-up that is over in 150).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any


class PlainEntryFields:
    """What the batched loop reads of a fast-path entry (fastpath.Entry's base class): in slots
    here, in a C struct where _mmsg is built (its EntryFields), which also counts UDP answers on it."""

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
    CompiledBatch: Any = None
else:
    try:
        from kdns.server._mmsg import Batch as CompiledBatch, EntryFields
    except ImportError:  # not built: no compiler at install time, or not Linux
        CompiledBatch = None
        EntryFields = PlainEntryFields


def available() -> bool:
    """Whether batches work here: the compiled loop, or libc's calls through ctypes (Linux)."""
    if CompiledBatch is not None:
        return True
    from kdns.server import mmsg_ctypes

    return mmsg_ctypes.AVAILABLE


def new_batch(sock: socket.socket, size: int) -> Any:
    """The compiled Batch where it was built, else mmsg_ctypes's."""
    if CompiledBatch is not None:
        return CompiledBatch(sock, size)
    from kdns.server.mmsg_ctypes import Batch

    return Batch(sock, size)
