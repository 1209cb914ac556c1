"""Neutral motion presets: one name per camera move, mapped to each provider's own id.

The same preset has a different id at each provider ("Dolly In" is one id at Higgsfield,
another at a relay), so a request may name the move instead (``--motion dolly-in``). Each
provider finds its id in this order:

1. its configuration: ``[providers.NAME] motions = {"dolly-in" = "<id>"}``;
2. its own catalogue endpoint, by the preset's display name (Higgsfield ``GET /v1/motions``,
   the relays' ``GET /higgsfield/tpl/motions``), once per process;
3. otherwise it cannot take the request, and says why (the router skips it).

An id that is not one of these names is sent as given, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CATALOGUE", "find_id", "neutral_name"]

#: neutral name -> the preset's display name in the providers' catalogues (Higgsfield's
#: DoP presets; the relays list the same names)
CATALOGUE: Mapping[str, str] = {
    "dolly-in": "Dolly In",
    "dolly-out": "Dolly Out",
    "crash-zoom-in": "Crash Zoom In",
    "crane-up": "Crane Up",
    "whip-pan": "Whip Pan",
    "360-orbit": "360 Orbit",
    "bullet-time": "Bullet Time",
    "fpv-drone": "FPV Drone",
    "head-tracking": "Head Tracking",
    "eyes-in": "Eyes In",
    "disintegration": "Disintegration",
}


def neutral_name(motion_id: str) -> str | None:
    """`motion_id` as a neutral name (``dolly-in``, ``Dolly In``), or None."""
    key = motion_id.strip().lower().replace(" ", "-").replace("_", "-")
    return key if key in CATALOGUE else None


def find_id(items: Iterable[Mapping[str, Any]], name: str) -> str | None:
    """The id of the catalogue item whose ``name`` is the preset `name` (neutral)."""
    wanted = CATALOGUE[name].casefold()
    for item in items:
        if str(item.get("name", "")).casefold() == wanted and item.get("id"):
            return str(item["id"])
    return None
