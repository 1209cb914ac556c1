"""``[providers.pixazo]`` settings and the request options Pixazo reads."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from videogw import ProviderOptions, ProviderSettings

__all__ = ["PixazoOptions", "PixazoSettings"]


class PixazoSettings(ProviderSettings):
    """``[providers.pixazo]``. Pixazo requires a motion preset on every clip; a request
    without one uses `default_motion_id` (or Pixazo is not a candidate for it)."""

    default_motion_id: str | None = Field(default=None, min_length=1, max_length=128)
    default_motion_strength: float = Field(default=0.5, ge=0.0, le=1.0)


class PixazoOptions(ProviderOptions):
    """``GenerationRequest.options`` for Pixazo."""

    webhook_mode: Literal["terminal", "sync"] = "terminal"  # sync: a POST per poll cycle
    check_nsfw: bool | None = None  # Pixazo's default is true; None sends nothing
