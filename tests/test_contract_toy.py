"""The conformance suite run against the throwaway toy provider (and its idempotent twin)."""

from __future__ import annotations

from toy import IdempotentToyProvider, ToyProvider
from videogw.testing import ProviderContract


class TestToyContract(ProviderContract):
    provider_class = ToyProvider
    request = {"model": "dop-lite", "prompt": "a cat", "image": "https://example.com/cat.jpg"}


class TestIdempotentToyContract(ProviderContract):
    provider_class = IdempotentToyProvider
    request = {"model": "dop-lite", "prompt": "a cat", "image": "https://example.com/cat.jpg"}
