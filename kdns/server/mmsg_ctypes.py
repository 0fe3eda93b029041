"""Datagrams in batches: Linux recvmmsg(2) and sendmmsg(2) through ctypes (see mmsg.py).

A busy DNS server spends much of each query in the two system calls that receive and send it
(knot batches them the same way). Python's socket module has no
recvmmsg, so this module lays out the kernel's structures once with ctypes and fills and reads them
through memoryviews: one call receives up to `size` queries, one call sends their answers.
Where setup.py could compile it, kdns/server/_mmsg.c does the same loop and the fast-path lookup
without a Python frame per datagram; mmsg.new_batch() picks it, and this module is the fallback.

Layout: `size` slots of SLOT bytes each in one anonymous mapping (a slot holds a received datagram,
then the answer written over it); a receive array whose entries each point at their own slot and
their own source address, and a send array whose entries are pointed at (address, slot) pairs as
answers are queued. Only the pages a datagram touches become resident.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from kdns.server.sockets import Address

if TYPE_CHECKING:
    from kdns.server.fastpath import AnswerTable

# Larger than any UDP payload (65,507 bytes over IPv4, 65,527 over IPv6), so no datagram is ever
# cut short, and larger than any answer (the asker's EDNS size caps those).
SLOT = 65536
MSG_DONTWAIT = 0x40


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


_SOCKADDR = 28  # sizeof(struct sockaddr_in6); a sockaddr_in (16) fits too


def _calls() -> tuple[Callable[..., int], Callable[..., int]] | None:
    """libc's recvmmsg and sendmmsg, or None where there are none (not Linux)."""
    if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    try:
        # The process's own symbols, libc's among them. PyDLL keeps the GIL across the call: with
        # MSG_DONTWAIT neither call ever blocks, and dropping and taking the GIL costs more than it.
        libc = ctypes.PyDLL(None, use_errno=True)
        calls = libc.recvmmsg, libc.sendmmsg
    except (OSError, AttributeError):
        return None
    for fn in calls:
        fn.restype = ctypes.c_int
    return calls


_CALLS = _calls()
AVAILABLE = _CALLS is not None


class Batch:
    """Receive and send buffers for one socket, `size` datagrams at a time."""

    def __init__(self, sock: socket.socket, size: int = 64) -> None:
        assert _CALLS is not None, "recvmmsg needs Linux"
        self._recvmmsg, self._sendmmsg = _CALLS
        self.fd = sock.fileno()
        self.size = size
        self.family = sock.family
        self.serving = self.closed = False
        self.memory = mmap.mmap(-1, size * SLOT)
        self.view = memoryview(self.memory)
        self._anchor = ctypes.c_char.from_buffer(self.memory)  # holds the mapping's address
        base = ctypes.addressof(self._anchor)
        # Python ints, so queueing an answer is list lookups and memoryview stores only.
        self.slot_addresses = [base + i * SLOT for i in range(size)]
        self.slots = [self.view[i * SLOT : (i + 1) * SLOT] for i in range(size)]
        self.names = (ctypes.c_char * (_SOCKADDR * size))()
        names_base = ctypes.addressof(self.names)
        self.name_addresses = [names_base + i * _SOCKADDR for i in range(size)]
        names_view = memoryview(self.names).cast("B")
        self.name_views = [names_view[i * _SOCKADDR : (i + 1) * _SOCKADDR] for i in range(size)]
        namelen = 16 if self.family == socket.AF_INET else _SOCKADDR

        self._recv_iov = (_IoVec * size)()
        self._recv = (_MMsgHdr * size)()
        self._send_iov = (_IoVec * size)()
        self._send = (_MMsgHdr * size)()
        for i in range(size):
            self._recv_iov[i].iov_base = self.slot_addresses[i]
            self._recv_iov[i].iov_len = SLOT
            hdr = self._recv[i].msg_hdr
            hdr.msg_name = self.name_addresses[i]
            hdr.msg_namelen = namelen
            hdr.msg_iov = ctypes.addressof(self._recv_iov[i])
            hdr.msg_iovlen = 1
            out = self._send[i].msg_hdr
            out.msg_namelen = namelen
            out.msg_iov = ctypes.addressof(self._send_iov[i])
            out.msg_iovlen = 1
        # No argtypes: the pointers are ready-made C values and the rest plain ints (passed as C
        # ints), so a call converts next to nothing (~0.4 µs less than with argtypes).
        self._recv_ptr = ctypes.c_void_p(ctypes.addressof(self._recv))
        self._send_ptr = ctypes.c_void_p(ctypes.addressof(self._send))

        # Word views of the arrays: entry i's field f is view[i * stride + offset_of_f // word].
        entry = ctypes.sizeof(_MMsgHdr)
        lens = memoryview(self._recv).cast("B").cast("I")
        self.lengths = lens[_MMsgHdr.msg_len.offset // 4 :: entry // 4]
        words = memoryview(self._send).cast("B").cast("P")
        self.send_names = words[_MsgHdr.msg_name.offset // 8 :: entry // 8]
        iov_words = memoryview(self._send_iov).cast("B").cast("P")
        stride = ctypes.sizeof(_IoVec) // 8
        self.send_bases = iov_words[_IoVec.iov_base.offset // 8 :: stride]
        self.send_lengths = iov_words[_IoVec.iov_len.offset // 8 :: stride]

    def receive(self) -> int:
        """Datagrams now waiting, up to `size`, read into slots 0..n-1 (0 when none is waiting)."""
        n = self._recvmmsg(self.fd, self._recv_ptr, self.size, MSG_DONTWAIT, None)
        if n < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EINTR):
                return 0
            raise OSError(err, os.strerror(err))
        return n

    def serve(self, table: AnswerTable, family: str, miss: Callable[[bytes, Address], bytes | None]) -> None:
        """Answer what is waiting (up to `size` datagrams) and send the answers in one call.

        table.answer(query, "udp", family) is the packed reply, or None: then miss(query, source)
        gets it and returns the reply, or None when it answers later (or never). A reply is written
        over its query in the slot; the send array is pointed at the slot and the source address
        the kernel filled in, so a hit's address is never turned into Python objects.
        """
        if self.closed:
            # Its arrays still point into the unmapped slots: the kernel must never write there.
            raise ValueError("serve() on a closed Batch")
        n = self.receive()
        answer = table.answer
        slots, lengths = self.slots, self.lengths
        send_names, send_bases, send_lengths = self.send_names, self.send_bases, self.send_lengths
        queued = 0
        # A miss runs Python (the slow path), which may raise, or close this batch under the loop.
        self.serving = True
        try:
            for i in range(n):
                if self.closed:
                    break
                slot = slots[i]
                query = slot[: lengths[i]].tobytes()
                out = answer(query, "udp", family)
                if out is None:
                    out = miss(query, self.source(i))
                    if out is None:
                        continue
                size = len(out)
                slot[:size] = out
                send_names[queued] = self.name_addresses[i]
                send_bases[queued] = self.slot_addresses[i]
                send_lengths[queued] = size
                queued += 1
        finally:
            self.serving = False
            if self.closed:
                self._release()
            elif queued:
                self.send(queued)  # what was answered goes, even when a later query raised

    def source(self, i: int) -> Address:
        """Slot i's sender as the socket module writes addresses."""
        raw = self.name_views[i]
        port = raw[2] << 8 | raw[3]
        if self.family == socket.AF_INET:
            return socket.inet_ntop(socket.AF_INET, raw[4:8]), port
        flowinfo = int.from_bytes(raw[4:8], "big")
        scope = int.from_bytes(raw[24:28], sys.byteorder)
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port, flowinfo, scope

    def send(self, count: int) -> None:
        """Send the first `count` entries of the send array."""
        done = 0
        while done < count:
            start = ctypes.byref(self._send, done * ctypes.sizeof(_MMsgHdr)) if done else self._send_ptr
            sent = self._sendmmsg(self.fd, start, count - done, MSG_DONTWAIT)
            if sent > 0:
                done += sent
                continue
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.ENOBUFS):
                # The send buffer is full: like a datagram lost on the way, the client retries.
                return
            # This one answer cannot go (say, a source address no reply can reach): skip it only.
            done += 1

    def close(self) -> None:
        self.closed = True
        if not self.serving:
            self._release()  # else serve() does, once it is out of the buffers

    def _release(self) -> None:
        if self.memory.closed:
            return
        for view in (self.lengths, self.send_names, self.send_bases, self.send_lengths):
            view.release()
        for view in self.slots + self.name_views:
            view.release()
        self.view.release()
        del self._anchor
        self.memory.close()
