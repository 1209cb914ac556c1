"""Higgsfield credit table: data, overridable per neutral model from config (``prices``).

Higgsfield publishes no price list for the API; its docs say to ask ``POST /estimate``
(``use_estimate_endpoint = true``). These figures are derived (docs/providers/higgsfield.md):

- DoP lite 2, turbo 6.5, standard 9 credits per clip: community code that called the live
  API (2025-26), first-last-frame variants included;
- Soul 0.25 credits per image and Speak 20-50 credits per video: higgsfield.ai consumer
  pricing, which may differ for the API;
- $0.0625 per credit: the docs' estimate example (1.5 credits = $0.094), matching a
  community "500 credits ~ $31".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from videogw import CostEstimate, Prepared
from videogw.errors import UnsupportedOperationError
from videogw.provider import Flow, Purpose
from videogw.wire import request as http_request

from .models import build_body, family
from .wire import estimate_figures

if TYPE_CHECKING:
    from .provider import HiggsfieldProvider

__all__ = [
    "AS_OF",
    "CREDITS",
    "USD_PER_CREDIT",
    "CreditPrice",
    "estimate",
    "estimate_flow",
    "table_estimate",
]

USD_PER_CREDIT = Decimal("0.0625")
AS_OF = date(2026, 4, 17)
SOURCE = "videogw_higgsfield/prices.py (docs/providers/higgsfield.md)"


@dataclass(frozen=True)
class CreditPrice:
    credits: Decimal
    unit: str  # "clip", "image", "video"
    basis: str
    high: Decimal | None = None  # where only a range is known: credits..high


CREDITS: dict[str, CreditPrice] = {
    "dop-lite": CreditPrice(Decimal(2), "clip", "community code calling the live API"),
    "dop-turbo": CreditPrice(Decimal("6.5"), "clip", "community code calling the live API"),
    "dop-standard": CreditPrice(Decimal(9), "clip", "community code calling the live API"),
    "soul": CreditPrice(Decimal("0.25"), "image", "higgsfield.ai consumer pricing"),
    "speak-v2": CreditPrice(
        Decimal(20), "video", "higgsfield.ai consumer pricing, by duration", Decimal(50)
    ),
}


def table_estimate(
    prepared: Prepared, *, override: Decimal | None, usd_per_credit: Decimal
) -> CostEstimate | None:
    """The credit-table estimate for `prepared`, or None when no figure is known."""
    count = 1
    if prepared.model == "soul":
        count = getattr(prepared.options, "batch_size", None) or 1
    # A pure function of these four, and frozen: priced once rather than per submit. Keyed
    # by the decimals' text, since Decimal("2") == Decimal("2.0") but their bases read apart.
    key = (prepared.model, count, str(override), str(usd_per_credit))
    if key in _FIGURES:
        return _FIGURES[key]
    found = _table_figure(prepared.model, count, override, usd_per_credit)
    if len(_FIGURES) >= 256:
        _FIGURES.clear()
    _FIGURES[key] = found
    return found


_FIGURES: dict[tuple[str, int, str, str], CostEstimate | None] = {}


def _table_figure(
    model: str, count: int, override: Decimal | None, usd_per_credit: Decimal
) -> CostEstimate | None:
    price = CREDITS.get(model)
    if price is None and override is None:
        return None
    rate = f"${usd_per_credit}/credit (derived from the docs' estimate example)"
    if override is not None:
        unit = price.unit if price else "job"
        credits = override * count
        basis = f"configured price: {override} credits per {unit} x {count}; {rate}"
        return CostEstimate(
            amount=credits,
            currency="credits",
            usd=credits * usd_per_credit,
            basis=basis,
            source="config (prices)",
            origin="config",
        )
    assert price is not None
    low = price.credits * count
    high = price.high * count if price.high is not None else None
    amount = (low + high) / 2 if high is not None else low
    spread = f"{low}-{high}" if high is not None else f"{low}"
    basis = (
        f"Higgsfield {model}: {spread} credits per {price.unit}"
        f"{f' x {count}' if count > 1 else ''} ({price.basis}; derived figures, not a published "
        f"price list); {rate}"
    )
    return CostEstimate(
        amount=amount,
        currency="credits",
        low=low if high is not None else None,
        high=high,
        usd=amount * usd_per_credit,
        basis=basis,
        source=SOURCE,
        as_of=AS_OF,
        origin="table",
    )


def estimate(provider: HiggsfieldProvider, prepared: Prepared) -> CostEstimate:
    """The mode's figure (the marketplace bills per call), else the credit table."""
    by_mode = provider.mode.estimate(prepared)
    if by_mode is not None:
        return by_mode
    override = provider.price_override(prepared.model)
    rate = provider.settings.usd_per_credit
    by_path = family(prepared.model) == "path"
    found = None if by_path else table_estimate(prepared, override=override, usd_per_credit=rate)
    if found is None:
        raise UnsupportedOperationError(
            f"{provider.instance}: no credit figure for {prepared.model}; its estimate comes "
            f"from POST /estimate/{prepared.model} (use_estimate_endpoint = true) or "
            f"prices.{prepared.model} in the config"
        )
    return found


def estimate_flow(provider: HiggsfieldProvider, prepared: Prepared) -> Flow[CostEstimate]:
    """``POST /estimate/{model}`` with the same body, where it is asked for (always for a
    model called by its path); the table otherwise, and for local files (they would need an
    upload first), Speak (v1) and the marketplace."""
    request = prepared.request
    local = any(m is not None and not m.is_remote for m in (request.image, request.end_image))
    asked = provider.settings.use_estimate_endpoint or family(prepared.model) == "path"
    v1 = prepared.provider_data.get("surface") == "v1"
    if not asked or provider.marketplace or v1 or local:
        return estimate(provider, prepared)
    path = prepared.spec.provider_model
    url, body = provider.url(f"estimate/{path}"), build_body(prepared)
    ask = http_request("POST", url, json=body, headers=provider.headers())
    response = yield provider.call(ask, Purpose.read)
    credits, usd = provider.read(estimate_figures, provider.json(response), response)
    return CostEstimate(
        amount=credits,
        currency="credits",
        usd=usd,
        basis=f"Higgsfield's own estimate for this request on {path} (account-specific)",
        source=f"POST {provider.base_url}/estimate/{path}",
        as_of=date.today(),
        origin="provider",
    )
