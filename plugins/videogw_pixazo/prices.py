"""Pixazo's published prices for Higgsfield DoP image-to-video: one price per 5 s clip.

Source: seed 003, the Pixazo page "Higgsfield 1.0 Image to Video API" (section "Higgsfield
1.0 Image to Video API Pricing"); summarised in docs/providers/pixazo.md. The page is
undated; `AS_OF` is its newest example timestamp (2026-05-22, the terminal-callback
example), the best date the page itself gives. Users override a price with
``prices = {"dop-lite" = 0.12}`` in ``[providers.pixazo]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from types import MappingProxyType

from videogw import CostEstimate, Prepared
from videogw.tables import configured_price

__all__ = ["AS_OF", "PRICES_USD", "SOURCE", "configured", "estimate"]

Override = Callable[[str], Decimal | None]

#: USD per generated clip (every Pixazo DoP clip is 5 s), by Pixazo model name.
PRICES_USD: Mapping[str, Decimal] = MappingProxyType(
    {
        "dop-lite": Decimal("0.135"),
        "dop-preview": Decimal("0.573"),
        "dop-turbo": Decimal("0.416"),
    }
)
SOURCE = "seed 003: Pixazo 'Higgsfield 1.0 Image to Video API Pricing' table"
AS_OF = date(2026, 5, 22)


def configured(override: Override, neutral: str, provider_model: str) -> tuple[str, Decimal] | None:
    """A configured price: by the neutral model, else by Pixazo's own name (as before)."""
    for key in (neutral, provider_model):
        found = override(key)
        if found is not None:
            return key, found
    return None


def estimate(prepared: Prepared, override: Override, instance: str) -> CostEstimate:
    model = prepared.spec.provider_model
    found = configured(override, prepared.model, model)
    if found is not None:
        key, amount = found
        return configured_price(amount, instance, key, f"{prepared.model} ({model}) per 5 s clip")
    amount = PRICES_USD[model]
    return CostEstimate(
        amount=amount,
        usd=amount,
        basis=f"Pixazo price table, {model} per 5 s clip",
        source=SOURCE,
        as_of=AS_OF,
        origin="table",
    )
