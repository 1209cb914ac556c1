"""What a user sets for `hfrelay`: provider settings (with the relays whose host is known),
request options, and the text-to-speech `speak` object of the speech endpoint."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from videogw import Media, ProviderOptions, ProviderSettings

__all__ = [
    "ALL_ENDPOINTS",
    "KNOWN_RELAYS",
    "SPEAK_KEYS",
    "HfRelayOptions",
    "HfRelaySettings",
    "Relay",
    "Speak",
]


ALL_ENDPOINTS = frozenset({"generate", "speech", "ads"})


@dataclass(frozen=True)
class Relay:
    """A relay known to serve this API shape."""

    base_url: str | None
    docs: str
    model_prefix: str = ""  # prepended to the DoP `model` value
    endpoints: frozenset[str] = ALL_ENDPOINTS  # which of generate/speech/ads it serves


KNOWN_RELAYS: Mapping[str, Relay] = {
    # The YutoAI docs show relative paths only: its host comes from the user's account.
    "yutoai": Relay(None, "docs.yutoai.net/en/api/higgsfield.html"),
    # Its docs: "仅支持 图生视频" -- image-to-video only; no speech, no ads.
    "openai-hk": Relay(
        "https://api.openai-hk.com",
        "openai-hk.com/docs/lab/higgsfield-video.html",
        endpoints=frozenset({"generate"}),
    ),
    # Seen calling https://gptproto.com/v1/higgsfield/generate with model
    # "higgsfield-standard"; the lite/turbo names follow by analogy [inf].
    "gptproto": Relay("https://gptproto.com/v1", "gptproto.com", model_prefix="higgsfield-"),
}


class HfRelaySettings(ProviderSettings):
    """``[providers.hfrelay]``: `base_url` (or a `relay` whose host is known) is required."""

    relay: str | None = None  # which relay this is, e.g. "yutoai", "openai-hk"
    speech_path: str = "/higgsfield/speech"  # YutoAI's guide says /higgsfield/speak
    base_price_usd: Decimal | None = Field(default=None, ge=0)  # one lite video
    inline_data_uri: bool = False  # local files as data: URIs instead of bare base64

    @field_validator("relay")
    @classmethod
    def _relay(cls, value: str | None) -> str | None:
        return value.strip().lower() or None if value else None

    @field_validator("speech_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not re.fullmatch(r"/[\w\-/]+", value):
            raise ValueError("expected a path such as /higgsfield/speech")
        return value.rstrip("/")


class HfRelayOptions(ProviderOptions):
    """Request extras for `hfrelay` (``GenerationRequest.options``)."""

    width: int | None = Field(default=None, gt=0, le=4096)  # pixels; required by speech
    height: int | None = Field(default=None, gt=0, le=4096)
    images: tuple[Media, ...] = ()  # wire `image` entries after image/end_image
    avatar_preset_id: str | None = Field(default=None, min_length=1)  # speech: required
    voice_id: str | None = Field(default=None, min_length=1)  # speech, text-to-speech
    speech_text: str | None = Field(default=None, min_length=1, max_length=5000)
    sound_id: str | None = Field(default=None, min_length=1)  # speech, text-to-speech
    product_placement_sample_id: str | None = Field(default=None, min_length=1)  # ads
    size: str | None = Field(default=None, pattern=r"^\d{2,5}x\d{2,5}$")  # ads, "1024x1024"


# The relays document a `speak` object for text-to-speech but not its keys [inf]. They are
# named here and nowhere else (the emulator reads this table too).
SPEAK_KEYS: Mapping[str, str] = {"voice_id": "voice_id", "text": "text", "sound_id": "sound_id"}


class Speak(BaseModel):
    """The text-to-speech `speak` object of ``/higgsfield/speech``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    voice_id: str
    text: str
    sound_id: str | None = None

    def wire(self) -> dict[str, str]:
        return {SPEAK_KEYS[k]: v for k, v in self.model_dump(exclude_none=True).items()}
