"""Zone membership of names (lowercase, fully qualified), as CoreDNS's plugin.Zones.Matches."""

from __future__ import annotations

from collections.abc import Iterable


def in_zones(name: str, zones: Iterable[str]) -> bool:
    """name is one of zones or below one ("." holds every name)."""
    return matching_zone(name, zones) is not None


def matching_zone(name: str, zones: Iterable[str]) -> str | None:
    """The longest of zones that name is in or equal to, or None."""
    best: str | None = None
    for zone in zones:
        if zone == "." or name == zone or name.endswith("." + zone):
            if best is None or len(zone) > len(best):
                best = zone
    return best
