"""Listening sockets made by hand, so options can be set before bind (reuse, buffers, v6-only)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

Address = Any  # (host, port) for IPv4, (host, port, flowinfo, scope_id) for IPv6


def bound_socket(
    host: str, port: int, kind: int, reuse_port: bool, before_bind: Callable[[socket.socket], None] | None = None
) -> socket.socket:
    """A non-blocking socket bound to (host, port); closed again if any step fails."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            # `workers`: every process binds the same address; the kernel spreads the load.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # IPv4 has its own socket: a dual-stack one would report v4 clients as mapped v6.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if before_bind is not None:
            before_bind(sock)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
