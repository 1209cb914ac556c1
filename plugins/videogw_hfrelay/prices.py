"""What a request costs on the "/higgsfield/*" relays: relative units only.

No relay of this family publishes an absolute price in the captured docs. YutoAI's guide
(seed 000, "Cost Guidance") gives costs relative to a lite video; OpenAI-HK states the same
ratios for the three DoP models and bills per request, one video per request
(docs/providers/hfrelay.md). The YutoAI page is undated; `AS_OF` is the only date either
page gives, OpenAI-HK's launch note of 2025-05-21. A user who knows their relay's price
sets ``base_price_usd`` (one lite video) or ``prices = {"dop-turbo" = 0.2}`` in
``[providers.hfrelay]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING

from videogw import CostEstimate, Prepared
from videogw.tables import configured_price

if TYPE_CHECKING:
    from .provider import HfRelayProvider

__all__ = ["AS_OF", "RELATIVE_COST", "SOURCE", "estimate"]

#: Price relative to one lite video, keyed by what is bought: the DoP `model` values, then
#: the speech and ads endpoints.
RELATIVE_COST: Mapping[str, Decimal] = MappingProxyType(
    {
        "lite": Decimal("1"),
        "standard": Decimal("2"),
        "turbo": Decimal("1.4"),
        "speech": Decimal("10"),
        "ads": Decimal("2.6"),
    }
)
SOURCE = (
    "seed 000: docs.yutoai.net/en/api/higgsfield.html 'Cost Guidance'; lite/standard/turbo "
    "also openai-hk.com/docs/lab/higgsfield-video.html"
)
AS_OF = date(2025, 5, 21)


def estimate(p: HfRelayProvider, prepared: Prepared) -> CostEstimate:
    """A configured price, else base_price_usd times the relative cost, else units."""
    key = prepared.spec.provider_model
    factor = RELATIVE_COST[key]
    where = f"[providers.{p.instance}]"
    for name in (prepared.model, key):
        override = p.price_override(name)
        if override is not None:
            what = f"{prepared.model} on this relay, per request"
            return configured_price(override, p.instance, name, what)
    base = p.settings.base_price_usd
    if base is not None:
        amount = base * factor
        return CostEstimate(
            amount=amount,
            usd=amount,
            origin="config",
            source=f"config {where} base_price_usd; ratios: {SOURCE}",
            as_of=AS_OF,
            basis=f"base_price_usd {base} x {factor} ({key} relative to lite), per request",
        )
    return CostEstimate(
        amount=factor,
        currency="units",
        source=SOURCE,
        as_of=AS_OF,
        basis=f"relative units only, no absolute price is published: {key} costs {factor}x "
        f"a lite video on the same relay; set base_price_usd in {where} for USD",
    )
