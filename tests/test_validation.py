"""Bad input is refused before any request is sent: the error names the field and what
was expected, and the emulator sees nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from toy import ToyProvider
from videogw import Gateway, GenerationRequest
from videogw.emulator import FakeClock
from videogw.emulator.harness import emulate
from videogw.errors import InvalidRequestError
from videogw.testing import registry_with

GOOD = {"model": "dop-lite", "prompt": "a cat", "image": "https://example.com/cat.jpg"}

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("seed zero", {"seed": 0}, "seed", "greater than or equal to 1"),
    ("seed too big", {"seed": 1_000_001}, "seed", "less than or equal to 1000000"),
    ("negative duration", {"duration_s": -5}, "duration_s", "greater than 0"),
    (
        "duration not offered",
        {"model": "toy:dop-lite", "duration_s": 7},
        "duration_s",
        "allowed: 5",
    ),
    (
        "motion too strong",
        {"motion": {"id": "m1", "strength": 1.5}},
        "motion.strength",
        "less than or equal to 1",
    ),
    ("motion without id", {"motion": {"id": "", "strength": 0.5}}, "motion.id", "at least 1"),
    ("http image", {"image": "http://example.com/cat.jpg"}, "image", "https://"),
    ("missing local file", {"image": "/no/such/file.png"}, "image", "not found"),
    ("unknown neutral model", {"model": "dop-ultra"}, "model", "no provider serves"),
    (
        "unknown option",
        {"model": "toy:dop-lite", "options": {"turbo_boost": True}},
        "options.turbo_boost",
        "unknown option",
    ),
    (
        "unknown option in the provider's namespace",
        {"model": "toy:dop-lite", "options": {"toy": {"turbo_boost": True}}},
        "options.toy.turbo_boost",
        "unknown option",
    ),
    (
        "namespaced option of the wrong type",
        {"options": {"toy": {"style": 3}}},
        "options.toy.style",
        "string",
    ),
    ("option of the wrong type", {"options": {"style": 3}}, "options.style", "string"),
    ("bad aspect ratio", {"aspect_ratio": "wide"}, "aspect_ratio", "W:H"),
    ("http webhook", {"webhook_url": "http://example.com/hook"}, "webhook_url", "https://"),
    ("idempotency key with spaces", {"idempotency_key": "a b"}, "idempotency_key", "visible ASCII"),
    ("unknown top-level field", {"colour": "red"}, "colour", "unknown field"),
    ("task does not match the model", {"task": "speech_to_video"}, "task", "image_to_video"),
    ("image missing for image-to-video", {"image": None}, "image", "needs an image"),
    (
        "end frame the model cannot take",
        {"model": "toy:dop-lite", "end_image": "https://example.com/b.jpg"},
        "end_image",
        "no end frame",
    ),
    ("empty bytes", {"image": b""}, "image", "empty"),
    (
        "url and path at once",
        {"image": {"url": "https://e.com/a.png", "path": "x.png"}},
        "image",
        "exactly one",
    ),
    (
        "negative motion strength",
        {"motion": {"id": "m", "strength": -0.1}},
        "motion.strength",
        "greater than or equal to 0",
    ),
    ("pinned to an unknown model", {"model": "toy:dop-mega"}, "model", "does not serve"),
]


@pytest.mark.parametrize(("label", "change", "field", "expected"), CASES, ids=[c[0] for c in CASES])
def test_invalid_request_is_refused_before_sending(
    label: str, change: dict[str, Any], field: str, expected: str
) -> None:
    clock = FakeClock()
    registry = registry_with(ToyProvider)
    with emulate(["toy"], registry=registry, clock=clock) as emulated:
        gateway: Gateway = emulated.gateway(clock=clock)
        with pytest.raises(InvalidRequestError) as caught:
            gateway.submit({**GOOD, **change})
        emulator = emulated.emulators["toy"]
    assert caught.value.field == field, str(caught.value)
    assert expected in str(caught.value)
    assert field in str(caught.value)
    assert sum(emulator.counts.values()) == 0, f"{label}: a request was sent"


def test_there_are_at_least_fifteen_distinct_cases() -> None:
    assert len({c[0] for c in CASES}) >= 15


def test_local_file_is_accepted_when_it_exists(tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG...")
    request = GenerationRequest.model_validate({**GOOD, "image": str(image)})
    assert request.image is not None
    assert request.image.path == image
    assert request.image.guess_content_type() == "image/png"
