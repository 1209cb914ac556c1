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
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from .models import GenerationRequest
    from .provider import Flow, Prepared, Provider

__all__ = ["CATALOGUE", "by_name", "find_id", "neutral_name", "resolve_flow"]

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


def by_name(provider: Provider, request: GenerationRequest) -> GenerationRequest:
    """A neutral motion name becomes the configured id; it is kept for `resolve_flow` when
    the provider has a motions catalogue; refused (naming why) when it has neither."""
    name = neutral_name(request.motion.id) if request.motion is not None else None
    if name is None or request.motion is None:
        return request
    configured = provider.settings.motions.get(name)
    if configured is not None:
        motion = request.motion.model_copy(update={"id": configured})
        return request.model_copy(update={"motion": motion})
    if "motions" not in provider.catalog_kinds:
        raise errors.UnsupportedRequestError(
            f"{provider.instance} has no motions catalogue to find {name!r} in; set its id "
            f'in [providers.{provider.instance}] motions = {{"{name}" = "<id>"}}',
            field="motion",
            provider=provider.instance,
        )
    return request


def resolve_flow(provider: Provider, prepared: Prepared) -> Flow[Prepared]:
    """The neutral name's id from the provider's catalogue (cached on the provider). A
    catalogue that cannot be read is a `RequestNotSentError`: nothing was sent, so the
    router fails over rather than treating it like an unknown submit."""
    motion = prepared.request.motion
    name = neutral_name(motion.id) if motion is not None else None
    if motion is None or name is None:
        return prepared
    found = provider._motion_ids.get(name)
    if found is None:
        try:
            items = yield from provider.motion_catalog_flow(name)
        except errors.VideoGWError as exc:
            raise errors.RequestNotSentError(
                f"could not read the motions catalogue to find {name!r}: {exc}",
                provider=provider.instance,
            ) from exc
        found = find_id(items, name)
        if found is None:
            raise errors.UnsupportedRequestError(
                f"the motions catalogue of {provider.instance} has no {CATALOGUE[name]!r}",
                field="motion",
                provider=provider.instance,
            )
        provider._motion_ids[name] = found
    request = prepared.request.model_copy(
        update={"motion": motion.model_copy(update={"id": found})}
    )
    return replace(prepared, request=request)
