"""Datagrams in batches (Linux recvmmsg/sendmmsg): the compiled loop, kdns/server/_mmsg.c, where
setup.py could build it, else mmsg_ctypes.py's. Chosen here, so that a server on the compiled loop
never imports ctypes (some 4 ms of a start-up that is over in 150).
"""

from __future__ import annotations

import socket
from typing import Any

try:
    from kdns.server._mmsg import Batch as CompiledBatch
except ImportError:  # not built: no compiler at install time, or not Linux
    CompiledBatch = None


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
