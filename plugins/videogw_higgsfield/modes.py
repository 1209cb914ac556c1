"""How the Higgsfield provider talks in each mode: the platform itself, or the marketplace
listing of the same API (docs/providers/higgsfield.md, "Marketplace listing").

A mode owns what differs: credentials and headers, the host, which answer URLs may be
followed, the capabilities, what the proxy answers for itself, and the marketplace's
per-call pricing. The provider asks its mode and does the rest the same way.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

import httpx
from pydantic import SecretStr

from videogw import Capabilities, CostEstimate, errors
from videogw.errors import ConfigurationError, MissingCredentialsError, UnsupportedRequestError
from videogw.provider import Prepared, Purpose
from videogw.tables import first_rule
from videogw.wire import trusted_url

from .models import MARKETPLACE_MODELS
from .tables import PROXY_ERRORS
from .wire import TRUSTED_HOSTS, from_proxy, proxy_retry_after

if TYPE_CHECKING:
    from .provider import HiggsfieldProvider

__all__ = ["MODES", "Marketplace", "Platform"]

MARKETPLACE_BASE_URL = "https://higgsfield-api.p.rapidapi.com"  # the slug is [inf]


def secret(value: SecretStr | None, env: str | None, defaults: tuple[str, ...]) -> str:
    """A configured secret, else the first environment variable that holds one."""
    if value is not None:
        return value.get_secret_value()
    for name in (env,) if env else defaults:
        found = os.environ.get(name)
        if found:
            return found
    return ""


class Platform:
    """The platform: ``Authorization: Key id:secret``; answer URLs followed on its hosts."""

    name: ClassVar[str] = "platform"

    def __init__(self, provider: HiggsfieldProvider) -> None:
        self.provider = provider

    def capabilities(self, full: Capabilities) -> Capabilities:
        return full

    def default_base_url(self) -> str | None:
        return None

    def api_key(self) -> str:
        p, s = self.provider, self.provider.settings
        key = secret(s.api_key, s.api_key_env, p.api_key_envs)
        if not key:
            raise MissingCredentialsError(
                p.instance, (s.api_key_env or "HF_KEY", "HF_API_KEY + HF_API_SECRET")
            )
        if ":" in key:
            return key
        key_secret = secret(s.api_secret, s.api_secret_env, ("HF_API_SECRET",))
        if not key_secret:
            raise ConfigurationError(
                f"{p.instance}: the API key is only a key id; give the secret too "
                f"(set {s.api_secret_env or 'HF_API_SECRET'}, or HF_KEY as 'id:secret')"
            )
        return f"{key}:{key_secret}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self.api_key()}"}

    def follow(self, url: object) -> bool:
        return trusted_url(url, self.provider.base_url, TRUSTED_HOSTS)

    def validate(self, prepared: Prepared) -> None:
        """What this mode cannot send (the platform sends everything)."""

    def classify(self, response: httpx.Response, purpose: Purpose) -> errors.ProviderError | None:
        return None

    def estimate(self, prepared: Prepared) -> CostEstimate | None:
        return None  # the credit table or the estimate endpoint


class Marketplace(Platform):
    """The RapidAPI-style listing: its key and host headers, URLs always rebuilt on its host,
    only the models it mirrors, no webhooks, uploads or submit replay, billed per call."""

    name = "marketplace"

    def capabilities(self, full: Capabilities) -> Capabilities:
        models = {
            name: spec.model_copy(update={"local_files": False})
            for name, spec in full.models.items()
            if name in MARKETPLACE_MODELS
        }
        return full.model_copy(update={"models": models, "webhooks": False, "idempotency": False})

    def default_base_url(self) -> str | None:
        return MARKETPLACE_BASE_URL

    def api_key(self) -> str:
        p, s = self.provider, self.provider.settings
        key = secret(s.api_key, s.api_key_env, ("RAPIDAPI_KEY",))
        if not key:
            raise MissingCredentialsError(p.instance, (s.api_key_env or "RAPIDAPI_KEY",))
        return key

    def headers(self) -> dict[str, str]:
        p = self.provider
        host = p.settings.rapidapi_host or httpx.URL(p.base_url).host
        return {"X-RapidAPI-Key": self.api_key(), "X-RapidAPI-Host": host}

    def follow(self, url: object) -> bool:
        return False  # the listing's key must never go to the upstream's hosts

    def validate(self, prepared: Prepared) -> None:
        if prepared.request.webhook_url is not None:
            raise UnsupportedRequestError(
                "the marketplace listing documents no webhook pass-through; poll instead",
                field="webhook_url",
                provider=self.provider.instance,
            )

    def classify(self, response: httpx.Response, purpose: Purpose) -> errors.ProviderError | None:
        if not from_proxy(response):
            return None
        cls = first_rule(PROXY_ERRORS, response.status_code, purpose, "")
        if cls is None:
            return None
        return self.provider.error(cls, response, retry_after=proxy_retry_after(response))

    def estimate(self, prepared: Prepared) -> CostEstimate | None:
        return CostEstimate(
            amount=Decimal(1),
            currency="units",
            basis="one call against the marketplace plan's quota (plans BASIC free, PRO "
            "$29.99, ULTRA $79.99, MEGA $149.99 a month; quotas not published)",
            source="seed 004 (API directory listing), docs/providers/higgsfield.md",
        )


MODES: dict[str, type[Platform]] = {"platform": Platform, "marketplace": Marketplace}
