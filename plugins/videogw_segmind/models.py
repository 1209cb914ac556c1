"""What a user sets for Segmind, what each model takes, and the JSON body it is sent.

Fields: docs/providers/segmind.md (speech2video from seed 001; image2video from its model
page). Anything a model does not take is refused before sending, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from videogw import Prepared, ProviderOptions, ProviderSettings, errors

from .prices import DOP_MODELS
from .tables import SPEAK_DEFAULT_QUALITY
from .wire import DOP_SLUG, HISTORY_URL, SPEAK_SLUG

__all__ = ["SegmindOptions", "SegmindSettings", "build_body", "check"]


class SegmindSettings(ProviderSettings):
    """``[providers.segmind]``. The API key comes from ``SEGMIND_API_KEY``."""

    mode: Literal["queue", "sync"] = "queue"
    #: Segmind storage (another host than the API); local files and bytes go there first
    storage_url: str = "https://workflows-api.segmind.com/upload-asset"
    upload_local_files: bool = False
    #: sync mode: where videos are written when the request names no output_path
    #: (a new temporary file otherwise; the caller owns it)
    output_dir: Path | None = None
    #: sync mode: a v1 call holds the connection for the whole job (Speak v2 ~330 s)
    sync_timeout_s: float = Field(default=900.0, gt=0)
    #: the generations API (another host): cost and outcome of a request of any age
    history_url: str = HISTORY_URL


class SegmindOptions(ProviderOptions):
    output_path: Path | None = None  # sync mode: save the video here
    check_nsfw: bool | None = None  # DoP only


def check(prepared: Prepared, settings: SegmindSettings, who: str) -> None:
    """Refuse what the model or the mode does not take, naming the field."""
    request = prepared.request
    options: SegmindOptions = prepared.options  # type: ignore[assignment]
    speak = prepared.model == "speak-v2"

    def refuse(message: str, field: str) -> errors.UnsupportedRequestError:
        return errors.UnsupportedRequestError(message, field=field, provider=who)

    if speak and request.audio is None:
        raise errors.InvalidRequestError(
            "speech_to_video needs an audio track (sent as input_audio): "
            "a public https URL, a local file or bytes",
            field="audio",
            provider=who,
        )
    if speak and not request.prompt.strip():
        raise refuse(
            f"Segmind requires a prompt for {SPEAK_SLUG} (the scene and its emotion)", "prompt"
        )
    unused = ("motion",) if speak else ("audio", "quality", "duration_s")
    for name in (*unused, "aspect_ratio", "resolution"):
        if getattr(request, name) is not None:
            raise refuse(f"Segmind's {prepared.spec.provider_model} takes no {name}", name)
    if speak and options.check_nsfw is not None:
        raise refuse(f"check_nsfw is a {DOP_SLUG} option", "options.check_nsfw")
    if options.output_path is not None and settings.mode != "sync":
        raise refuse(
            f'output_path applies only in sync mode (mode = "sync" in [providers.{who}]); '
            "in queue mode the output is a URL",
            "options.output_path",
        )
    if not settings.upload_local_files:
        for name in ("image", "audio"):
            media = getattr(request, name)
            if media is not None and not media.is_remote:
                raise refuse(
                    "Segmind takes public https URLs; to upload a local file or bytes through "
                    f"Segmind storage first, set upload_local_files = true in [providers.{who}]",
                    name,
                )


def build_body(prepared: Prepared) -> dict[str, Any]:
    """The model's JSON body (the same for v1 and v2)."""
    request = prepared.request
    uploaded: Mapping[str, str] = prepared.provider_data.get("uploaded", {})

    def url(name: str) -> str | None:
        return uploaded.get(name) or getattr(request, name).url

    body: dict[str, Any]
    if prepared.model == "speak-v2":
        body = {
            "input_image": url("image"),
            "input_audio": url("audio"),
            "prompt": request.prompt,
            "quality": request.quality or SPEAK_DEFAULT_QUALITY,
            "duration": prepared.duration,
        }
        if request.enhance_prompt is not None:
            body["enhance_prompt"] = request.enhance_prompt
    else:
        options: SegmindOptions = prepared.options  # type: ignore[assignment]
        body = {
            "model": DOP_MODELS[prepared.model],
            "prompt": request.prompt,
            "image_urls": [url("image")],
            "enhance_prompt": bool(request.enhance_prompt),  # required by Segmind
        }
        if request.motion is not None:
            body["motion_id"] = request.motion.id
            body["motion_strength"] = request.motion.strength
        if options.check_nsfw is not None:
            body["check_nsfw"] = options.check_nsfw
    if request.seed is not None:
        body["seed"] = request.seed
    return body
