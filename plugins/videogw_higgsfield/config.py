"""``[providers.higgsfield]``: what a user sets for the Higgsfield plugin."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr

from videogw import ProviderSettings

from .prices import USD_PER_CREDIT

__all__ = ["HiggsfieldSettings"]


class HiggsfieldSettings(ProviderSettings):
    """``[providers.higgsfield]`` (or any instance with ``plugin = "higgsfield"``).

    Credentials come from the environment: ``HF_KEY`` ("id:secret") or ``HF_API_KEY`` +
    ``HF_API_SECRET`` (platform); ``RAPIDAPI_KEY`` (marketplace). ``api_key_env`` and
    ``api_secret_env`` name other variables."""

    mode: Literal["platform", "marketplace"] = "platform"
    api_secret: SecretStr | None = None
    api_secret_env: str | None = None
    rapidapi_host: str | None = None  # default: the host of base_url
    webhook_secret: SecretStr | None = None  # whsec_...; several, space-separated, in rotation
    webhook_secret_env: str = "HF_WEBHOOK_SECRET"
    allow_unsigned_webhooks: bool = False  # only while no secret is configured
    use_estimate_endpoint: bool = False  # ask POST /estimate/{model} instead of the table
    usd_per_credit: Decimal = Field(default=USD_PER_CREDIT, gt=0)
    expires_after_s: int | None = Field(default=None, ge=3600, le=604_800)  # Hf-Expires-After
