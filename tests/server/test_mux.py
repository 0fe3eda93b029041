"""Routing a name to the server block of its longest matching zone (no sockets)."""

from __future__ import annotations

from kdns.server.mux import Block, Listener


def block(*zones: str) -> Block:
    return Block(list(zones), head=None, handlers=[], fast_path=True, app=None)


def test_the_longest_matching_zone_wins_at_any_depth() -> None:
    listener = Listener("127.0.0.1", 0)
    root, org, deep = block("."), block("example.org."), block("a.b.example.org.")
    listener.set_routes([(".", root), ("example.org.", org), ("a.b.example.org.", deep)])
    assert listener.route("x.y.z.a.b.example.org.") == (deep, "a.b.example.org.")
    assert listener.route("a.b.example.org.") == (deep, "a.b.example.org.")
    assert listener.route("b.example.org.") == (org, "example.org.")
    assert listener.route("many.labels.below.www.example.org.") == (org, "example.org.")
    assert listener.route("example.net.") == (root, ".")
    assert listener.route(".") == (root, ".")


def test_only_the_root_block_takes_every_name() -> None:
    listener = Listener("127.0.0.1", 0)
    root = block(".")
    listener.set_routes([(".", root)])
    assert listener.route("svc-1.ns-01.svc.cluster.local.") == (root, ".")
    assert listener.route(".") == (root, ".")


def test_no_zone_matches() -> None:
    listener = Listener("127.0.0.1", 0)
    listener.set_routes([("example.org.", block("example.org."))])
    assert listener.route("example.net.") == (None, "")
    assert listener.route("org.") == (None, "")
    assert listener.route(".") == (None, "")
