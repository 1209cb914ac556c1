"""Estimates from Pixazo's published price table (seed 003, "Higgsfield 1.0 Image to Video
API Pricing"; reference/providers.md §3.6), and overrides from config."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from videogw import Config, Gateway, GenerationRequest, Job, JobStatus, Task
from videogw.testing import registry_with
from videogw_pixazo import PixazoProvider
from videogw_pixazo.prices import PRICES_USD

# seed 003's table, written out again so a typo in prices.py cannot pass unnoticed
SEED_TABLE = {
    "dop-lite": ("dop-lite", Decimal("0.135")),
    "dop-turbo": ("dop-turbo", Decimal("0.416")),
    "dop-standard": ("dop-preview", Decimal("0.573")),
}


def request(model: str) -> GenerationRequest:
    return GenerationRequest(
        model=model, prompt="a lake", image="https://example.com/a.jpg", motion={"id": "m"}
    )


def provider(**settings: Any) -> PixazoProvider:
    return PixazoProvider(PixazoProvider.Settings(api_key="k", **settings))


@pytest.mark.parametrize("model", sorted(SEED_TABLE))
def test_estimate_equals_the_table_and_names_its_source(model: str) -> None:
    provider_model, price = SEED_TABLE[model]
    p = provider()
    estimate = p.estimate(p.prepare(request(model)))
    assert PRICES_USD[provider_model] == price
    assert estimate.amount == price
    assert estimate.usd == price
    assert estimate.currency == "USD"
    assert not estimate.is_range
    assert estimate.origin == "table"
    assert estimate.basis == f"Pixazo price table, {provider_model} per 5 s clip"
    assert "seed 003" in estimate.source
    assert "Pricing" in estimate.source
    assert estimate.as_of == date(2026, 5, 22)


def test_a_configured_price_overrides_the_table() -> None:
    p = provider(prices={"dop-lite": "0.10"})
    estimate = p.estimate(p.prepare(request("dop-lite")))
    assert estimate.amount == Decimal("0.10")
    assert estimate.origin == "config"
    assert estimate.source == "config: [providers.pixazo] prices.dop-lite"
    # other models keep the table
    assert p.estimate(p.prepare(request("dop-turbo"))).amount == Decimal("0.416")


def test_the_override_from_a_config_file_reaches_estimates_and_actual_cost() -> None:
    config = Config.model_validate(
        {"providers": {"pixazo": {"prices": {"dop-preview": "0.5"}, "api_key": "k"}}}
    )
    with Gateway(config, registry=registry_with(PixazoProvider)) as gw:
        (quote,) = gw.estimate(request("dop-standard"))
        assert quote.estimate is not None
        assert quote.estimate.amount == Decimal("0.5")
        job = Job(
            model="dop-standard",
            task=Task.image_to_video,
            provider="pixazo",
            provider_model="dop-preview",
            provider_job_id="ai-model-api_1",
            idempotency_key="k",
        )
        body = {
            "request_id": "ai-model-api_1",
            "status": "COMPLETED",
            "output": {"media_url": ["https://cdn.example/out.mp4"], "media_type": "video/mp4"},
        }
        update = gw.provider("pixazo").parse_status(
            job, httpx.Response(200, json=body, request=httpx.Request("GET", "https://x"))
        )
    assert update.status is JobStatus.succeeded
    assert update.actual_cost == Decimal("0.5")


def test_quotes_explain_a_skipped_pixazo() -> None:
    with Gateway(providers=[provider()], registry=registry_with(PixazoProvider)) as gw:
        quotes = gw.estimate(request("dop-lite").model_copy(update={"motion": None}))
    (quote,) = quotes
    assert not quote.candidate
    assert quote.reason is not None
    assert "default_motion_id" in quote.reason
