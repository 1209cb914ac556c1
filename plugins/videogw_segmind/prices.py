"""Segmind's prices for the Higgsfield models, as data (override any entry from config).

What is known (docs/providers/segmind.md):

- ``higgsfield-speech2video`` (Speak v2): only the range **$0.863 - $4.22 per generation**
  across quality (high|mid) x duration (5|10|15 s), from the model page; the per-cell table
  was not captured. The point figure per cell below is *our guess*: linear in duration,
  with each quality's per-second rate fixed by the ends of the range (mid 5 s = $0.863,
  high 15 s = $4.22). Every estimate still carries the documented range.
- ``higgsfield-image2video`` (DoP): Segmind's own listing gives an **average of about
  $0.638 per generation** (no per-tier table): that average is the estimate for every tier,
  and the basis says it is an average. The real charge is read from ``metrics.cost`` /
  ``x-cost`` (or the generations API's ``credits_deduction``) after the job.
- Dates: both Segmind pages are undated (2026), so their estimates carry no ``as_of``.
- Segmind bills only a COMPLETED v2 job or a v1 HTTP 200; failures are free (SM-AE).
  Credits appear to be USD-denominated [inf].

Config overrides (``[providers.segmind] prices = {...}``) use these keys:
``"speak-v2:<quality>:<duration>"`` (or ``"speak-v2"`` for every cell) and
``"dop-lite"``, ``"dop-turbo"``, ``"dop-standard"``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from videogw import CostEstimate, Prepared
from videogw.tables import configured_price

__all__ = [
    "DOP_AVERAGE",
    "DOP_MODELS",
    "DOP_PRICES",
    "DOP_SOURCE",
    "SPEAK_CELLS",
    "SPEAK_HIGH",
    "SPEAK_LOW",
    "SPEAK_SOURCE",
    "configured",
    "dop_estimate",
    "dop_price",
    "estimate",
    "speak_estimate",
    "speak_price",
]

SPEAK_SOURCE = (
    "segmind.com/models/higgsfield-speech2video model page, 2026, undated "
    "(docs/providers/segmind.md)"
)
SPEAK_LOW = Decimal("0.863")  # mid quality, 5 s: the cheapest cell
SPEAK_HIGH = Decimal("4.22")  # high quality, 15 s: the dearest cell

_CENT = Decimal("0.001")
_PER_SECOND = {"mid": SPEAK_LOW / 5, "high": SPEAK_HIGH / 15}

#: (quality, duration_s) -> USD per generation; a guess inside the documented range.
SPEAK_CELLS: dict[tuple[str, int], Decimal] = {
    (quality, seconds): (rate * seconds).quantize(_CENT)
    for quality, rate in _PER_SECOND.items()
    for seconds in (5, 10, 15)
}

DOP_SOURCE = (
    "segmind.com/models/higgsfield-image2video listing, 2026, undated: average cost per "
    "generation (docs/providers/segmind.md)"
)
DOP_AVERAGE = Decimal("0.638")
#: neutral DoP id -> the body's ``model`` value. Segmind's own values are [inf] (only
#: ``dop-preview`` was seen); dop-standard == dop-preview by price (docs/providers/pixazo.md).
DOP_MODELS: dict[str, str] = {
    "dop-lite": "dop-lite",
    "dop-turbo": "dop-turbo",
    "dop-standard": "dop-preview",
}
#: neutral DoP model -> USD per generation: Segmind's published average, for every tier
DOP_PRICES: dict[str, Decimal] = dict.fromkeys(DOP_MODELS, DOP_AVERAGE)


def speak_price(quality: str, duration: int) -> Decimal:
    """The table's point figure for one Speak v2 cell (used by the emulator as its charge)."""
    return SPEAK_CELLS[(quality, duration)]


def dop_price(model: str) -> Decimal:
    return DOP_PRICES[model]


def speak_estimate(quality: str, seconds: int) -> CostEstimate:
    amount = speak_price(quality, seconds)
    return CostEstimate(
        amount=amount,
        usd=amount,
        low=SPEAK_LOW,
        high=SPEAK_HIGH,
        basis=(
            f"a range: Segmind publishes only ${SPEAK_LOW}-${SPEAK_HIGH} per generation across "
            f"quality x duration; ${amount} is our guess for {quality} quality, {seconds} s "
            "(linear in duration, each quality's rate per second set by the range's ends)"
        ),
        source=SPEAK_SOURCE,
    )


def dop_estimate(model: str) -> CostEstimate:
    amount = dop_price(model)
    return CostEstimate(
        amount=amount,
        usd=amount,
        basis=(
            f"Segmind's published average of ${amount} per higgsfield-image2video generation "
            f"(all tiers; no per-tier price is published), for {model} ({DOP_MODELS[model]}); "
            "the real charge is read from metrics.cost after the job"
        ),
        source=DOP_SOURCE,
    )


def configured(amount: Decimal, key: str, instance: str) -> CostEstimate:
    return configured_price(amount, instance, key, f"{key} per generation")


def estimate(
    prepared: Prepared, quality: str, override: Callable[[str], Decimal | None], instance: str
) -> CostEstimate:
    """The table's figure for this request, unless config names a price for its cell
    (``speak-v2:<quality>:<seconds>``, else the neutral model)."""
    model, seconds = prepared.model, prepared.duration or 10
    speak = model == "speak-v2"
    for key in (f"{model}:{quality}:{seconds}", model) if speak else (model,):
        found = override(key)
        if found is not None:
            return configured(found, key, instance)
    return speak_estimate(quality, seconds) if speak else dop_estimate(model)
