"""The core conformance suite against the Higgsfield emulator: platform mode, and the
marketplace listing mode (the same class with other settings)."""

from __future__ import annotations

from videogw.testing import ProviderContract
from videogw_higgsfield import HiggsfieldProvider

REQUEST = {"model": "dop-lite", "prompt": "a cat", "image": "https://example.com/cat.jpg"}


class TestHiggsfieldContract(ProviderContract):
    provider_class = HiggsfieldProvider
    request = REQUEST
    wrong_key = "wrong-id:wrong-secret"


class TestMarketplaceContract(ProviderContract):
    """What ``[providers.hf-market] plugin = "higgsfield" mode = "marketplace"`` builds:
    the same class, its capabilities taken from the instance (no webhooks, no replay)."""

    provider_class = HiggsfieldProvider
    request = REQUEST
    settings = {
        "api_key": "rapid-key",
        "mode": "marketplace",
        "rapidapi_host": "higgsfield-api.p.rapidapi.com",
    }
    emulator_options = {"marketplace": True}
