"""Cached answers a cluster index change makes wrong, found without scanning the stores.

A plugin that answers from watched state (kubernetes) reports every change as a set of fast-path
tags through its `invalidators` list (kubernetes/index.py). The server's fast-path table drops
what it keeps by those tags; the cache subscribes to the same reports and drops the answers the
change gives a new meaning, which it may hold for 30 s or more (kubeadm's `cache 30`):

- every answer for the reverse name of an address in an ("ip", address) tag (a cluster or endpoint
  IP that joined or left the index): the NXDOMAIN a `fallthrough in-addr.arpa` got from upstream
  before the Service existed, or the PTR of one that is gone;
- every negative answer (NXDOMAIN, NODATA, SERVFAIL) under the source's forward zones
  (cluster.local.), on any change: a name that did not exist may exist now.

Only keys in those zones are noted, when stored (a miss, never a hit), so the query path pays
nothing; a change pops the noted keys. Notes of entries the stores evicted are pruned in bulk once
they outnumber twice the stores' capacity: the notes still present never exceed the capacity, so
each bulk prune is paid for by at least capacity notes since the last one (amortized O(1) a miss,
even with the stores full of noted answers).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Protocol

from kdns.plugins.cache.item import DENIAL
from kdns.zones import in_zones


class ChangeSource(Protocol):
    """A handler that reports index changes: kubernetes.Handler."""

    zones: tuple[str, ...]
    invalidators: list[Callable[[set[Hashable]], None]]


def reverse_name(ip: str) -> str:
    """The PTR owner of an address, lowercase with the trailing dot (as cache keys are)."""
    return ipaddress.ip_address(ip).reverse_pointer + "."


class Followed:
    def __init__(self, present: Callable[[Any], bool], capacity: int) -> None:
        """present(key): the key is still in a store; capacity: the stores' total size."""
        self._present = present
        self._capacity = capacity
        self.forward_zones: tuple[str, ...] = ()
        self.reverse_zones: tuple[str, ...] = ()
        self._reverse: dict[str, set[Any]] = {}  # reverse name -> its keys
        self._negative: set[Any] = set()

    def add_zones(self, zones: Iterable[str]) -> None:
        for zone in zones:
            if zone.endswith(".arpa.") or zone in (".", "arpa."):
                self.reverse_zones += (zone,)
            if not zone.endswith(".arpa."):
                self.forward_zones += (zone,)  # "." is both

    def note(self, key: Any, kind: str) -> None:
        """An answer was stored under key (key[0]: the lowercase name)."""
        name = key[0]
        if self.reverse_zones and name.endswith(".arpa.") and in_zones(name, self.reverse_zones):
            self._reverse.setdefault(name, set()).add(key)
            if len(self._reverse) > 2 * self._capacity:
                self._reverse = {n: keys for n, keys in self._reverse.items() if any(map(self._present, keys))}
        elif kind == DENIAL and self.forward_zones and in_zones(name, self.forward_zones):
            self._negative.add(key)
            if len(self._negative) > 2 * self._capacity:
                self._negative = set(filter(self._present, self._negative))

    def stale(self, tags: set[Hashable]) -> list[Any]:
        """The keys a change with these tags makes wrong; they are forgotten here."""
        keys = list(self._negative)
        self._negative.clear()
        if self._reverse:
            for tag in tags:
                # ("ip", address): kubernetes/index.py's tag for the PTR of an address.
                if type(tag) is tuple and len(tag) == 2 and tag[0] == "ip":
                    keys.extend(self._reverse.pop(reverse_name(tag[1]), ()))
        return keys
