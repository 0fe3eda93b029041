"""Zone membership of names (lowercase, fully qualified), as CoreDNS's plugin.Zones.Matches."""

from __future__ import annotations

from collections.abc import Iterable


def in_zone(name: str, zone: str) -> bool:
    """name is zone or below it ("." holds every name)."""
    return zone == "." or name == zone or name.endswith("." + zone)


def in_zones(name: str, zones: Iterable[str]) -> bool:
    """name is one of zones or below one."""
    # A loop rather than any(generator): hosts and forward ask this of every query they see.
    for zone in zones:
        if zone == "." or name == zone or name.endswith("." + zone):
            return True
    return False


def matching_zone(name: str, zones: Iterable[str]) -> str | None:
    """The longest of zones that name is in or equal to, or None."""
    best: str | None = None
    for zone in zones:
        if in_zone(name, zone) and (best is None or len(zone) > len(best)):
            best = zone
    return best
