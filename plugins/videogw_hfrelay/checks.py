"""What each relay endpoint takes, checked before anything is sent (the fields and hints
are the tables in `tables`); the field is named in every refusal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, NoReturn

from videogw import Media, Prepared, errors

from .config import HfRelayOptions
from .tables import (
    ADS,
    ENDPOINT,
    GENERATE,
    IMAGE_SLOTS,
    NO_FIELD,
    NO_FIELD_BY_ENDPOINT,
    OPTION_ENDPOINTS,
    SPEECH,
)

if TYPE_CHECKING:
    from .provider import HfRelayProvider

__all__ = ["check", "images"]


def check(p: HfRelayProvider, prepared: Prepared) -> Prepared:
    request, endpoint = prepared.request, ENDPOINT[prepared.spec.task]
    options = prepared.options
    assert isinstance(options, HfRelayOptions)
    path = p.path(endpoint)
    no_field = {**NO_FIELD, **NO_FIELD_BY_ENDPOINT[endpoint]}
    for name, hint in no_field.items():
        if getattr(request, name) not in (None, ""):
            _unsupported(p, f"{path} has no field for {name}: {hint}", name)
    motion = request.motion
    if motion is not None and "strength" in motion.model_fields_set and motion.strength != 0.5:
        _unsupported(p, f"{path} takes a motion id only, no strength", "motion.strength")
    for name, used_by in OPTION_ENDPOINTS.items():
        if getattr(options, name) is not None and endpoint not in used_by:
            raise errors.InvalidRequestError(
                f"applies to {' and '.join(p.path(e) for e in used_by)} only, not {path}",
                field=f"options.{name}",
                provider=p.instance,
            )
    if endpoint in (GENERATE, SPEECH) and not request.prompt.strip():
        _unsupported(p, f"{path} requires a prompt", "prompt")
    if (options.width is None) != (options.height is None):
        missing = "height" if options.height is None else "width"
        raise errors.InvalidRequestError(
            "give both options.width and options.height (pixels), or neither",
            field=f"options.{missing}",
            provider=p.instance,
        )
    _check_images(p, prepared, endpoint, path)
    if endpoint == SPEECH:
        _check_speech(p, request.audio, options, path)
    if endpoint == ADS and options.product_placement_sample_id is None:
        _unsupported(
            p,
            f"{path} requires options.product_placement_sample_id (an ad template id "
            "from the relay's official site)",
            "options.product_placement_sample_id",
        )
    relay = p.settings.relay
    return replace(
        prepared, provider_data={"endpoint": path, **({"relay": relay} if relay else {})}
    )


def _check_images(p: HfRelayProvider, prepared: Prepared, endpoint: str, path: str) -> None:
    options = prepared.options
    assert isinstance(options, HfRelayOptions)
    given = [name for name, _ in images(prepared)]
    slots = IMAGE_SLOTS[endpoint]
    if len(given) > len(slots):
        raise errors.InvalidRequestError(
            f"{path} takes at most {len(slots)} image{'s' if len(slots) > 1 else ''} "
            f"({', then '.join(slots)}); this request gives {len(given)}: "
            f"{', '.join(given)}",
            field="options.images" if options.images else "end_image",
            provider=p.instance,
        )


def _check_speech(
    p: HfRelayProvider, audio: Media | None, options: HfRelayOptions, path: str
) -> None:
    if options.avatar_preset_id is None:
        _unsupported(
            p,
            f"{path} requires options.avatar_preset_id (from the 'avatar-presets' catalog)",
            "options.avatar_preset_id",
        )
    if options.width is None:
        _unsupported(
            p,
            f"{path} requires the video size: options.width and options.height (pixels)",
            "options.width",
        )
    tts = [n for n in ("voice_id", "speech_text", "sound_id") if getattr(options, n)]
    if audio is not None and tts:
        raise errors.InvalidRequestError(
            "give the voice either as audio or as text-to-speech "
            "(options.speech_text, options.voice_id), not both",
            field=f"options.{tts[0]}",
            provider=p.instance,
        )
    if audio is None and not tts:
        raise errors.InvalidRequestError(
            f"{path} needs a voice: audio (a public https URL of a wav/mp3 recording) "
            "or text-to-speech (options.speech_text and options.voice_id, a 'voices' "
            "catalog id)",
            field="audio",
            provider=p.instance,
        )
    for name in ("speech_text", "voice_id"):
        if audio is None and getattr(options, name) is None:
            raise errors.InvalidRequestError(
                "text-to-speech needs both options.speech_text and options.voice_id",
                field=f"options.{name}",
                provider=p.instance,
            )


def _unsupported(p: HfRelayProvider, message: str, field: str) -> NoReturn:
    raise errors.UnsupportedRequestError(message, field=field, provider=p.instance)


def images(prepared: Prepared) -> Iterator[tuple[str, Media]]:
    request, options = prepared.request, prepared.options
    assert isinstance(options, HfRelayOptions)
    for name in ("image", "end_image"):
        media = getattr(request, name)
        if media is not None:
            yield name, media
    for index, media in enumerate(options.images):
        yield f"options.images[{index}]", media
