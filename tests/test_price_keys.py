"""``prices`` overrides are keyed by the neutral model; a key a provider would never look up
is a configuration error naming the valid ones (Pixazo used to ignore ``dop-standard`` in
silence, keying by its own name ``dop-preview``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from videogw import GenerationRequest
from videogw.errors import ConfigurationError

pixazo = pytest.importorskip("videogw_pixazo")
segmind = pytest.importorskip("videogw_segmind")
higgsfield = pytest.importorskip("videogw_higgsfield")

DOP: dict[str, Any] = {
    "model": "dop-standard",
    "prompt": "a cat",
    "image": "https://example.com/cat.jpg",
    "motion": {"id": "m1"},
}


def test_pixazo_prices_by_the_neutral_model() -> None:
    p = pixazo.PixazoProvider(pixazo.PixazoSettings(api_key="k", prices={"dop-standard": "0.5"}))
    estimate = p.estimate(p.prepare(GenerationRequest.model_validate(DOP)))
    assert (estimate.amount, estimate.origin) == (Decimal("0.5"), "config")
    assert "prices.dop-standard" in estimate.source
    own = pixazo.PixazoProvider(pixazo.PixazoSettings(api_key="k", prices={"dop-preview": "0.4"}))
    assert own.estimate(own.prepare(GenerationRequest.model_validate(DOP))).amount == Decimal("0.4")


@pytest.mark.parametrize(
    ("provider", "settings", "valid"),
    [
        (pixazo.PixazoProvider, {}, "dop-lite, dop-turbo, dop-standard"),
        (segmind.SegmindProvider, {}, "speak-v2:high:10"),
        (higgsfield.HiggsfieldProvider, {"api_key": "a:b"}, "kling-2.1-pro"),
    ],
)
def test_a_price_key_nobody_looks_up_is_a_config_error_naming_the_valid_ones(
    provider: Any, settings: dict[str, Any], valid: str
) -> None:
    settings = {"api_key": "k", **settings, "prices": {"dop-ultra": "1"}}
    p = provider(provider.Settings.model_validate(settings))
    with pytest.raises(ConfigurationError) as caught:
        p.prepare(GenerationRequest.model_validate({**DOP, "model": "dop-lite"}))
    assert "'dop-ultra'" in str(caught.value)
    assert valid in str(caught.value)
