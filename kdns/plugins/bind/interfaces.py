"""The IP addresses of a network interface, read from the kernel (no extra dependency)."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

SIOCGIFADDR = 0x8915


def interface_addresses(name: str) -> list[str]:
    """IPv4 then IPv6 addresses of the interface called name; [] when there is no such interface."""
    if not name or len(name) >= 16 or name not in {n for _, n in socket.if_nameindex()}:
        return []
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            packed = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()))
            out.append(socket.inet_ntoa(packed[20:24]))
        except OSError:
            pass
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                fields = line.split()
                if len(fields) == 6 and fields[5] == name:
                    address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
                    if not address.is_link_local:
                        out.append(str(address))
    except OSError:
        pass
    return out
