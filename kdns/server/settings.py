"""Every server-side limit and timeout in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSettings:
    # Several MiB: the kernel default (~208 KiB) queues only ~190 queries; a burst past that is lost
    # before kdns sees it (design.md section 3).
    udp_receive_buffer: int = 4 * 1024 * 1024
    udp_send_buffer: int = 1 * 1024 * 1024
    # Datagrams read (recvmmsg) and answered (sendmmsg) per system call; 0 reads one at a time
    # through an asyncio transport (the only way where recvmmsg is missing).
    udp_batch: int = 64
    # RFC 7766 section 6.2.3: idle connections are closed; miekg/dns (CoreDNS) uses 8-10 s.
    tcp_idle_timeout: float = 10.0
    # A started frame must complete this fast (miekg/dns's read timeout): stops one-byte-a-second peers.
    tcp_read_timeout: float = 2.0
    tcp_max_connections: int = 1000
    tcp_max_inflight_per_connection: int = 100
    # Slow-path UDP queries waiting (their chain suspended: forward) per listener before new ones are
    # answered REFUSED; a chain that answers without waiting is never in flight.
    max_inflight: int = 10000
    # How long a graceful stop waits for queries already being answered.
    drain_timeout: float = 2.0
    # Packed answers kept per listener (~400 bytes each): bounded so a flood of random names
    # cannot grow memory past the pod's limit; when full the table starts again empty.
    fast_path_capacity: int = 50_000


DEFAULT = ServerSettings()
