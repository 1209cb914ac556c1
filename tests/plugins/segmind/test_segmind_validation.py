"""Requests Segmind cannot take are refused before any HTTP call, naming the field and what
is allowed; and the model names, estimates and settings that decide the wire request."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from videogw import GenerationRequest, errors
from videogw.emulator.harness import Emulated
from videogw.testing import maybe_await
from videogw_segmind import SegmindProvider
from videogw_segmind.emulator import SegmindEmulator
from videogw_segmind.prices import SPEAK_CELLS, SPEAK_HIGH, SPEAK_LOW

Speak = Callable[..., dict[str, Any]]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"duration_s": 7}, "duration_s", ["7 s is not offered", "allowed: 5, 10, 15"]),
        ({"quality": "ultra"}, "quality", ["'ultra' is not offered", "allowed: high, mid"]),
        ({"audio": None}, "audio", ["needs an audio track", "input_audio"]),
        ({"seed": 0}, "seed", ["greater than or equal to 1"]),
        ({"prompt": ""}, "prompt", ["requires a prompt"]),
        ({"aspect_ratio": "16:9"}, "aspect_ratio", ["takes no aspect_ratio"]),
        ({"options": {"check_nsfw": True}}, "options.check_nsfw", ["higgsfield-image2video"]),
    ],
)
async def test_invalid_speak_requests_never_reach_segmind(
    gateway: Any,
    emulator: SegmindEmulator,
    speak: Speak,
    changes: dict[str, Any],
    field: str,
    words: list[str],
) -> None:
    request = speak(model="segmind:speak-v2", **changes)  # audio=None leaves it out
    with pytest.raises(errors.InvalidRequestError) as caught:
        await maybe_await(gateway.submit(request))
    assert caught.value.field == field
    for text in words:
        assert text in str(caught.value)
    assert sum(emulator.counts.values()) == 0
    assert not emulator.jobs


async def test_unpinned_requests_say_why_segmind_was_left_out(
    gateway: Any, emulator: SegmindEmulator, speak: Speak
) -> None:
    with pytest.raises(errors.NoCandidateError) as caught:
        await maybe_await(gateway.submit(speak(duration_s=7)))
    assert "allowed: 5, 10, 15" in caught.value.reasons["segmind"]
    assert sum(emulator.counts.values()) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"duration_s": 5}, "duration_s"),
        ({"quality": "high"}, "quality"),
        ({"audio": "https://e.com/a.mp3"}, "audio"),
    ],
)
def test_dop_refuses_what_its_body_has_no_field_for(changes: dict[str, Any], field: str) -> None:
    provider = SegmindProvider(SegmindProvider.Settings(api_key="k"))
    data = {"model": "dop-lite", "image": "https://example.com/a.png", **changes}
    with pytest.raises(errors.UnsupportedRequestError) as caught:
        provider.prepare(GenerationRequest.model_validate(data))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("model", "neutral", "body_model"),
    [
        ("dop-standard", "dop-standard", "dop-preview"),
        ("segmind:dop-preview", "dop-standard", "dop-preview"),
        ("dop-turbo", "dop-turbo", "dop-turbo"),
    ],
)
def test_dop_model_names(model: str, neutral: str, body_model: str) -> None:
    provider = SegmindProvider(SegmindProvider.Settings(api_key="k"))
    request = GenerationRequest(model=model, image="https://example.com/a.png")
    prepared = provider.prepare(request)
    assert prepared.model == neutral
    assert provider.body(prepared)["model"] == body_model
    assert str(provider.build_submit(prepared).url).endswith("/v2/higgsfield-image2video")


def test_the_bare_image2video_slug_is_ambiguous() -> None:
    provider = SegmindProvider(SegmindProvider.Settings(api_key="k"))
    request = GenerationRequest(model="segmind:higgsfield-image2video", image="https://e.com/a.png")
    with pytest.raises(errors.UnsupportedRequestError, match="dop-lite, dop-turbo, dop-standard"):
        provider.prepare(request)


def test_speak_estimate_is_the_documented_range_with_a_stated_point(speak: Speak) -> None:
    provider = SegmindProvider(SegmindProvider.Settings(api_key="k"))
    for (quality, seconds), amount in SPEAK_CELLS.items():
        request = GenerationRequest.model_validate(speak(quality=quality, duration_s=seconds))
        estimate = provider.estimate(provider.prepare(request))
        assert (estimate.low, estimate.high) == (SPEAK_LOW, SPEAK_HIGH)
        assert estimate.amount == amount
        assert estimate.basis.startswith("a range: Segmind publishes only $0.863-$4.22")
        assert "our guess" in estimate.basis
    assert SPEAK_CELLS[("mid", 5)] == SPEAK_LOW
    assert SPEAK_CELLS[("high", 15)] == SPEAK_HIGH


@pytest.mark.parametrize("model", ["dop-lite", "dop-turbo", "dop-standard"])
def test_dop_estimate_is_segmind_own_published_average(model: str) -> None:
    """Segmind's listing gives ~$0.638 per higgsfield-image2video generation; the estimate
    used to borrow Pixazo's per-clip price instead."""
    provider = SegmindProvider(SegmindProvider.Settings(api_key="k"))
    prepared = provider.prepare(GenerationRequest(model=model, image="https://e.com/a.png"))
    estimate = provider.estimate(prepared)
    assert estimate.amount == estimate.usd == Decimal("0.638")
    assert "Segmind's published average" in estimate.basis
    assert "segmind.com/models/higgsfield-image2video" in estimate.source
    assert "Pixazo" not in estimate.source + estimate.basis


def test_prices_can_be_overridden_from_config(speak: Speak) -> None:
    settings = SegmindProvider.Settings(
        api_key="k", prices={"speak-v2:mid:5": Decimal("0.80"), "dop-lite": Decimal("0.2")}
    )
    provider = SegmindProvider(settings)
    mid5 = GenerationRequest.model_validate(speak(quality="mid", duration_s=5))
    estimate = provider.estimate(provider.prepare(mid5))
    assert (estimate.amount, estimate.origin, estimate.is_range) == (
        Decimal("0.80"),
        "config",
        False,
    )
    high10 = provider.estimate(provider.prepare(GenerationRequest.model_validate(speak())))
    assert high10.origin == "table"
    dop = GenerationRequest(model="dop-lite", image="https://e.com/a.png")
    assert provider.estimate(provider.prepare(dop)).amount == Decimal("0.2")


def test_loopback_emulator_settings_point_storage_at_the_emulator() -> None:
    assert "storage_url" not in SegmindProvider.emulator_settings("https://api.segmind.com")
    loopback = SegmindProvider.emulator_settings("http://127.0.0.1:8123")
    assert loopback["storage_url"] == "http://127.0.0.1:8123/upload-asset"


def test_entry_point_registers_the_provider(emulated: Emulated) -> None:
    import videogw_segmind
    from videogw.testing import registry_with

    registry = registry_with()
    registry.add_plugin(videogw_segmind, name="segmind")
    assert registry.get("segmind").provider_class is SegmindProvider
    assert not registry.failures
