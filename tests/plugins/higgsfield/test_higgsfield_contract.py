"""The core conformance suite against the Higgsfield emulator: platform mode, and the
marketplace listing mode (the same class under another instance name and settings)."""

from __future__ import annotations

from typing import Any

from videogw.testing import ProviderContract
from videogw_higgsfield import HiggsfieldProvider
from videogw_higgsfield.emulator import HiggsfieldEmulator

REQUEST = {"model": "dop-lite", "prompt": "a cat", "image": "https://example.com/cat.jpg"}


class TestHiggsfieldContract(ProviderContract):
    provider_class = HiggsfieldProvider
    request = REQUEST
    wrong_key = "wrong-id:wrong-secret"


class MarketplaceListing(HiggsfieldProvider):
    """What ``[providers.hf-market] plugin = "higgsfield" mode = "marketplace"`` builds."""

    name = "hf-market"  # capabilities come from the instance (mode = "marketplace")

    @classmethod
    def emulator(cls, **kwargs: Any) -> HiggsfieldEmulator:
        return HiggsfieldEmulator(marketplace=True, **kwargs)

    @classmethod
    def emulator_settings(cls, base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url,
            "api_key": "rapid-key",
            "mode": "marketplace",
            "rapidapi_host": "higgsfield-api.p.rapidapi.com",
        }


class TestMarketplaceContract(ProviderContract):
    provider_class = MarketplaceListing
    request = REQUEST
