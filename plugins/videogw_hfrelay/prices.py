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

__all__ = ["AS_OF", "RELATIVE_COST", "SOURCE"]

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
