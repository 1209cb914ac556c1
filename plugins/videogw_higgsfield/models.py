"""Higgsfield models: neutral id -> model path, the fields each takes, and the request body.

Wire facts: docs/providers/higgsfield.md (v2 schemas from the platform OpenAPI snapshot)
and §1.15 (legacy v1 surface, used only for Speak v2). Every combination a model does not
take is refused here, before anything is sent, naming the field and what is allowed.

End frames on DoP: sent as ``end_image_url`` on the plain model path. The platform OpenAPI
declares that field on ``higgsfield-ai/dop/{lite,standard,turbo}``, whereas the
``/first-last-frame`` paths are only observed in community code and the marketplace listing;
one path per neutral model also keeps estimates, prices and idempotency fingerprints simple.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field

from videogw import (
    GenerationRequest,
    Media,
    ModelSpec,
    Motion,
    Prepared,
    ProviderOptions,
    Task,
)
from videogw.errors import UnsupportedRequestError
from videogw.wire import sniff

__all__ = [
    "ALLOWED_UPLOAD_TYPES",
    "BODY_FIELDS",
    "MARKETPLACE_MODELS",
    "MODELS",
    "HiggsfieldOptions",
    "build_body",
    "check_request",
    "content_type_of",
    "family",
    "normal_resolution",
    "path_spec",
]

# POST /files/generate-upload-url accepts exactly these (HF-DOCS file-uploads; no mp3).
ALLOWED_UPLOAD_TYPES = (
    "image/jpeg",
    "image/jpg",
    "image/png",
    "image/webp",
    "image/gif",
    "audio/wav",
    "audio/x-wav",
    "video/mp4",
)
SPEAK_PATH = "v1/speak/higgsfield"

SEEDANCE_RESOLUTIONS = ("480", "720", "1080")
SEEDANCE_RATIOS = ("16:9", "9:16", "4:3", "3:4", "1:1", "21:9")
SOUL_RATIOS = ("1:1", "4:3", "3:4", "3:2", "2:3", "5:4", "4:5", "16:9", "9:16", "21:9")


@dataclass(frozen=True)
class SoulShape:
    """How a Soul body names its image count and which resolutions and fields it takes."""

    count_field: str
    resolutions: tuple[str, ...]
    seed: bool


# The platform docs' examples send ``resolution: "720p"`` and the live API validates
# batch_size, resolution, seed, style_id, custom_reference_id (docs/providers/higgsfield.md).
# A third-party copy of the OpenAPI file says num_images and 2K/4K: kept as the other shape,
# one constant away (``SOUL_SHAPE = SOUL_SHAPES["openapi"]``).
SOUL_SHAPES = {
    "docs": SoulShape("batch_size", ("720p", "1080p"), seed=True),
    "openapi": SoulShape("num_images", ("2K", "4K"), seed=False),
}
SOUL_SHAPE = SOUL_SHAPES["docs"]

# The body fields each family's model path takes (docs/providers/higgsfield.md); the API
# ignores anything else silently, so the emulator records what it would have ignored.
BODY_FIELDS: dict[str, frozenset[str]] = {
    "dop": frozenset({"prompt", "image_url", "end_image_url", "motions", "seed", "enhance_prompt"}),
    "kling": frozenset({"prompt", "image_url", "duration", "cfg_scale", "negative_prompt"}),
    "seedance": frozenset(
        {"prompt", "image_url", "duration", "resolution", "aspect_ratio", "camera_fixed"}
    ),
    "soul": frozenset(
        {
            "prompt",
            "aspect_ratio",
            "resolution",
            SOUL_SHAPE.count_field,
            "seed",
            "style_id",
            "custom_reference_id",
            "style_strength",
            "enhance_prompt",
        }
    ),
}


def _i2v(path: str, seconds: float, **extra: Any) -> ModelSpec:
    return ModelSpec(
        provider_model=path, task=Task.image_to_video, typical_seconds=seconds, **extra
    )


MODELS: dict[str, ModelSpec] = {
    # DoP takes no duration (the API ignores it and bills its default length): refused.
    "dop-lite": _i2v("higgsfield-ai/dop/lite", 150, end_image=True),
    "dop-turbo": _i2v("higgsfield-ai/dop/turbo", 90, end_image=True),
    "dop-standard": _i2v("higgsfield-ai/dop/standard", 180, end_image=True),
    "kling-2.1-pro": _i2v(
        "kling-video/v2.1/pro/image-to-video", 180, durations=(5, 10), default_duration=5
    ),
    "kling-2.1-standard": _i2v(
        "kling-video/v2.1/standard/image-to-video", 150, durations=(5, 10), default_duration=5
    ),
    "kling-2.1-master": _i2v(
        "kling-video/v2.1/master/image-to-video", 240, durations=(5, 10), default_duration=5
    ),
    "seedance-1-pro": _i2v(
        "bytedance/seedance/v1/pro/image-to-video",
        120,
        durations=tuple(range(2, 13)),
        default_duration=5,
    ),
    "seedance-1-lite": _i2v(
        "bytedance/seedance/v1/lite/image-to-video",
        90,
        durations=tuple(range(2, 13)),
        default_duration=5,
    ),
    "soul": ModelSpec(
        provider_model="higgsfield-ai/soul/standard", task=Task.text_to_image, typical_seconds=30
    ),
    "speak-v2": ModelSpec(
        provider_model=SPEAK_PATH,
        task=Task.speech_to_video,
        durations=(5, 10, 15),
        default_duration=10,
        qualities=("mid", "high"),
        typical_seconds=300,
    ),
}

# What the marketplace listing (seed 004) mirrors: DoP, Kling 2.1 pro and Soul standard.
MARKETPLACE_MODELS = ("dop-lite", "dop-turbo", "dop-standard", "kling-2.1-pro", "soul")

Family = Literal["dop", "kling", "seedance", "soul", "speak", "path"]

# Any other model Higgsfield serves, called by its path (``higgsfield:<model path>``):
# segments of letters, digits, ".", "_" and "-", and none of the API's own paths.
_MODEL_PATH = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)+")
_NOT_MODELS = ("requests/", "files/", "estimate/", "v1/", "models")


def family(neutral: str) -> Family:
    prefixes: tuple[Family, ...] = ("dop", "kling", "seedance", "soul", "speak")
    for prefix in prefixes:
        if neutral.startswith(prefix):
            return prefix
    if "/" in neutral:
        return "path"
    raise KeyError(neutral)  # pragma: no cover - MODELS holds only these families


def path_spec(path: str, request: GenerationRequest) -> ModelSpec | None:
    """A spec for a model path called as is (arguments passed through), or None when `path`
    cannot be one. The task follows the path's own words, else the inputs given."""
    if not _MODEL_PATH.fullmatch(path) or path.startswith(_NOT_MODELS) or ".." in path:
        return None
    lowered = path.lower()
    if request.task is not None:
        task = request.task
    elif "text-to-video" in lowered:
        task = Task.text_to_video
    elif "speak" in lowered or request.audio is not None:
        task = Task.speech_to_video
    elif request.image is not None or "video" in lowered or "dop" in lowered:
        task = Task.image_to_video
    else:
        task = Task.text_to_image
    return ModelSpec(provider_model=path, task=task, end_image=True, typical_seconds=120)


class HiggsfieldOptions(ProviderOptions):
    """Higgsfield-only fields, in ``GenerationRequest.options``."""

    cfg_scale: Annotated[float, Field(ge=0.0, le=1.0)] | None = None  # Kling
    negative_prompt: Annotated[str, Field(max_length=2500)] | None = None  # Kling
    camera_fixed: bool | None = None  # Seedance
    batch_size: int | None = Field(  # Soul: images per request (num_images still understood)
        default=None, ge=1, le=4, validation_alias=AliasChoices("batch_size", "num_images")
    )
    style_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None  # Soul
    custom_reference_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    second_motion: Motion | None = None  # DoP takes up to two motions
    # a model called by its path: these fields go into the body as given (over any field
    # the neutral request fills in), unchecked here; the API's own 422 names what is wrong
    arguments: dict[str, Any] | None = None
    hf_expires_after: Annotated[int, Field(ge=3600, le=604_800)] | None = None  # any v2 model


# Which family takes which option or neutral field (anything else is refused).
_OPTIONS: dict[str, tuple[Family, ...]] = {
    "cfg_scale": ("kling",),
    "negative_prompt": ("kling",),
    "camera_fixed": ("seedance",),
    "batch_size": ("soul",),
    "style_id": ("soul",),
    "custom_reference_id": ("soul",),
    "second_motion": ("dop",),
    "hf_expires_after": ("dop", "kling", "seedance", "soul", "path"),
    "arguments": ("path",),
}
_FIELDS: dict[str, tuple[Family, ...]] = {
    "motion": ("dop",),
    "seed": ("dop", "speak", "soul"),
    "duration_s": ("kling", "seedance", "speak"),
    "enhance_prompt": ("dop", "speak"),
    "aspect_ratio": ("seedance", "soul"),
    "resolution": ("seedance", "soul"),
    "audio": ("speak",),
    "image": ("dop", "kling", "seedance", "speak"),
}


_WHY = {
    ("dop", "duration_s"): " (DoP has no duration field: the API would ignore it and make and "
    "bill its default length)",
}


def _takers(families: tuple[Family, ...]) -> str:
    named = [n for n in MODELS if family(n) in families]
    if "path" in families:
        named.append("a model called by its path (higgsfield:<model path>)")
    return ", ".join(named)


def check_request(prepared: Prepared, provider: str) -> None:
    """Refuse what this model does not take, naming the field and what is allowed."""
    request, fam = prepared.request, family(prepared.model)
    options = prepared.options
    assert isinstance(options, HiggsfieldOptions)
    if fam == "path":  # passed through: the API validates, its 422 names the field
        _check_uploads(request, provider)
        return

    def refuse(field: str, message: str) -> UnsupportedRequestError:
        return UnsupportedRequestError(message, field=field, provider=provider)

    for name, families in _FIELDS.items():
        if getattr(request, name) is not None and fam not in families:
            raise refuse(
                name,
                f"{prepared.model} takes no {name}{_WHY.get((fam, name), '')}; "
                f"models that do: {_takers(families)}",
            )
    for name, families in _OPTIONS.items():
        if getattr(options, name) is not None and fam not in families:
            raise refuse(
                f"options.{name}",
                f"{prepared.model} takes no {name}; models that do: {_takers(families)}",
            )
    if not request.prompt.strip():
        raise refuse("prompt", f"{prepared.model} needs a prompt")
    if options.second_motion is not None and request.motion is None:
        raise refuse("options.second_motion", "give motion first; second_motion is the 2nd")
    if fam == "speak" and request.audio is None:
        raise refuse("audio", "speak-v2 needs an audio track (WAV)")
    if (
        request.resolution is not None
        and normal_resolution(prepared.model, request.resolution) is None
    ):
        sizes = SEEDANCE_RESOLUTIONS if fam == "seedance" else SOUL_SHAPE.resolutions
        raise refuse(
            "resolution",
            f"{request.resolution!r} is not offered by "
            f"{prepared.model}; allowed: {', '.join(sizes)}",
        )
    if request.aspect_ratio is not None:
        allowed = SEEDANCE_RATIOS if fam == "seedance" else SOUL_RATIOS
        if request.aspect_ratio not in allowed:
            raise refuse(
                "aspect_ratio",
                f"{request.aspect_ratio!r} is not offered by "
                f"{prepared.model}; allowed: {', '.join(allowed)}",
            )
    _check_uploads(request, provider)


def _check_uploads(request: GenerationRequest, provider: str) -> None:
    for name in ("image", "end_image", "audio"):
        media = getattr(request, name)
        if media is not None and not media.is_remote:
            kind = content_type_of(media)
            if kind not in ALLOWED_UPLOAD_TYPES:
                raise UnsupportedRequestError(
                    f"cannot upload content type {kind!r} (set Media.content_type if it is "
                    f"wrong); allowed: {', '.join(ALLOWED_UPLOAD_TYPES)}",
                    field=name,
                    provider=provider,
                )


def content_type_of(media: Media) -> str:
    """The declared or name-guessed type, else one sniffed from the first bytes."""
    kind = media.guess_content_type()
    if kind != "application/octet-stream" or media.is_remote:
        return kind
    head = media.data[:16] if media.data is not None else b""
    if media.path is not None:
        with media.path.open("rb") as file:
            head = file.read(16)
    return sniff(head) or kind


def normal_resolution(model: str, value: str | None) -> str | None:
    """The wire spelling of `value` ("720p" -> "720", "2k" -> "2K"), None if not offered."""
    if value is None:
        return None
    if family(model) == "seedance":
        normal = value.lower().removesuffix("p")
        return normal if normal in SEEDANCE_RESOLUTIONS else None
    normal = value.lower() if value.lower().endswith("p") else value.upper()
    return normal if normal in SOUL_SHAPE.resolutions else None


def _url(media: Media | None, uploaded: Mapping[str, str], name: str) -> str | None:
    if media is None:
        return None
    return media.url or uploaded[name]


def build_body(prepared: Prepared, uploaded: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON body: flat model params on v2, ``{"params": ...}`` for legacy Speak.

    `uploaded` maps a media field name ("image", ...) to the public URL of its upload."""
    request, options = prepared.request, prepared.options
    assert isinstance(options, HiggsfieldOptions)
    uploaded = uploaded or {}
    fam = family(prepared.model)
    image = _url(request.image, uploaded, "image")
    body: dict[str, Any] = {"prompt": request.prompt}
    if fam == "speak":  # the v1 page lists quality and duration with defaults: sent as such
        params: dict[str, Any] = {
            "input_image": {"type": "image_url", "image_url": image},
            "input_audio": {
                "type": "audio_url",
                "audio_url": _url(request.audio, uploaded, "audio"),
            },
            "prompt": request.prompt,
            "quality": request.quality or "high",
            "duration": prepared.duration,
        }
        _put(params, "seed", request.seed)
        _put(params, "enhance_prompt", request.enhance_prompt)
        return {"params": params}
    if fam == "path":
        return _path_body(prepared, uploaded) | (options.arguments or {})
    if image is not None:
        body["image_url"] = image
    if fam == "dop":
        _put(body, "end_image_url", _url(request.end_image, uploaded, "end_image"))
        motions = [m for m in (request.motion, options.second_motion) if m is not None]
        if motions:
            body["motions"] = [{"id": m.id, "strength": m.strength} for m in motions]
        _put(body, "seed", request.seed)
        _put(body, "enhance_prompt", request.enhance_prompt)
    elif fam == "kling":
        _put(body, "duration", request.duration_s)
        _put(body, "cfg_scale", options.cfg_scale)
        _put(body, "negative_prompt", options.negative_prompt)
    elif fam == "seedance":
        _put(body, "duration", request.duration_s)
        _put(body, "resolution", normal_resolution(prepared.model, request.resolution))
        _put(body, "aspect_ratio", request.aspect_ratio)
        _put(body, "camera_fixed", options.camera_fixed)
    else:  # soul
        _put(body, "aspect_ratio", request.aspect_ratio)
        _put(body, "resolution", normal_resolution(prepared.model, request.resolution))
        _put(body, SOUL_SHAPE.count_field, options.batch_size)
        _put(body, "seed", request.seed if SOUL_SHAPE.seed else None)
        _put(body, "style_id", options.style_id)
        _put(body, "custom_reference_id", options.custom_reference_id)
    return body


def _path_body(prepared: Prepared, uploaded: Mapping[str, str]) -> dict[str, Any]:
    """The neutral fields under the names most Higgsfield models use (v2 surface)."""
    request = prepared.request
    body: dict[str, Any] = {}
    _put(body, "prompt", request.prompt or None)
    for name, key in (
        ("image", "image_url"),
        ("end_image", "end_image_url"),
        ("audio", "audio_url"),
    ):
        _put(body, key, _url(getattr(request, name), uploaded, name))
    if request.motion is not None:
        body["motions"] = [{"id": request.motion.id, "strength": request.motion.strength}]
    for name, key in (
        ("seed", "seed"),
        ("duration_s", "duration"),
        ("aspect_ratio", "aspect_ratio"),
        ("resolution", "resolution"),
        ("quality", "quality"),
        ("enhance_prompt", "enhance_prompt"),
    ):
        _put(body, key, getattr(request, name))
    return body


def _put(body: dict[str, Any], key: str, value: Any) -> None:
    """Only fields the user gave: an explicit null or default changes the idempotency
    fingerprint on Higgsfield, so nothing is invented."""
    if value is not None:
        body[key] = value
