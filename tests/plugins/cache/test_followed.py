"""followed.py: which cached keys an index change makes wrong (the socket-level behaviour is in
test_cache_index_changes.py)."""

from __future__ import annotations

from typing import Any

import dns.reversename

from kdns.plugins.cache.followed import Followed, reverse_name
from kdns.plugins.cache.item import DENIAL, SUCCESS

ZONES = ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")


def key(name: str, qtype: int = 12) -> tuple[str, int, int, bool, bool]:
    return (name, qtype, 1, False, False)


def followed(zones: tuple[str, ...] = ZONES, present: set[Any] | None = None, capacity: int = 100) -> Followed:
    f = Followed((lambda k: k in present) if present is not None else (lambda k: True), capacity)
    f.add_zones(zones)
    return f


def test_reverse_names_match_dnspython() -> None:
    for ip in ("10.96.0.10", "fd00:96::77:7"):
        assert reverse_name(ip) == str(dns.reversename.from_address(ip))


def test_an_ip_tag_drops_every_answer_of_its_reverse_name_and_nothing_else() -> None:
    f = followed()
    mine, other = reverse_name("10.96.0.10"), reverse_name("10.96.0.11")
    f.note(key(mine), DENIAL)
    f.note(key(mine, 1), SUCCESS)  # any type, any kind
    f.note(key(other), DENIAL)
    stale = f.stale({("ip", "10.96.0.10"), ("svc", "demo", "web"), ("soa",)})
    assert sorted(stale) == sorted([key(mine), key(mine, 1)])
    assert f.stale({("ip", "10.96.0.10")}) == []  # forgotten once dropped
    assert f.stale({("ip", "10.96.0.11")}) == [key(other)]


def test_negatives_under_the_forward_zones_go_on_any_change() -> None:
    f = followed()
    f.note(key("new.demo.svc.cluster.local.", 1), DENIAL)
    f.note(key("web.demo.svc.cluster.local.", 1), SUCCESS)  # positive: left alone
    f.note(key("example.org.", 1), DENIAL)  # outside the source's zones
    assert f.stale({("soa",)}) == [key("new.demo.svc.cluster.local.", 1)]
    assert f.stale({("soa",)}) == []


def test_a_root_zone_covers_reverse_and_forward_names() -> None:
    f = followed(zones=(".",))
    f.note(key(reverse_name("10.0.0.1")), SUCCESS)
    f.note(key("x.example.", 1), DENIAL)
    assert sorted(f.stale({("ip", "10.0.0.1")})) == sorted([key(reverse_name("10.0.0.1")), key("x.example.", 1)])


def test_without_reverse_zones_reverse_names_are_not_noted() -> None:
    f = followed(zones=("cluster.local.",))
    f.note(key(reverse_name("10.0.0.1")), DENIAL)
    assert f.stale({("ip", "10.0.0.1")}) == []


def test_notes_of_evicted_entries_are_pruned() -> None:
    present: set[Any] = set()  # what the stores hold: the last 4 stored
    f = followed(present=present, capacity=4)
    keys = [key(reverse_name(f"10.0.0.{i}")) for i in range(10)]
    for i, k in enumerate(keys):
        present.add(k)  # stored, then noted, as the handler does
        if i >= 4:
            present.discard(keys[i - 4])  # the least recently used, evicted
        f.note(k, DENIAL)
        assert len(f._reverse) <= 2 * 4 + 1  # pruned once past twice the capacity
    assert f.stale({("ip", "10.0.0.9")}) == [keys[9]]
    assert f.stale({("ip", "10.0.0.0")}) == []  # evicted long ago, its note pruned


def test_pruning_is_paid_for_by_the_notes_since_the_last_one() -> None:
    """With the stores full (every noted key still present), a miss must not rescan every note."""
    present: set[Any] = set()
    checks = 0

    def is_present(k: Any) -> bool:
        nonlocal checks
        checks += 1
        return k in present

    f = Followed(is_present, 100)
    f.add_zones(["in-addr.arpa."])
    keys = [key(reverse_name(f"10.0.{i // 256}.{i % 256}")) for i in range(2000)]
    for i, k in enumerate(keys):
        present.add(k)
        if i >= 100:
            present.discard(keys[i - 100])  # the stores hold the last 100
        f.note(k, DENIAL)
    assert checks <= 3 * len(keys)  # about 2 a note; rescanning on every miss was ~100
