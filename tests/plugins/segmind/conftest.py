"""Fixtures for the Segmind plugin's tests: its emulator on a fake clock, gateways of both
kinds pointed at it, and the seed 001 example request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from videogw.emulator import FakeClock
from videogw.emulator.harness import Emulated, emulate
from videogw.testing import maybe_await, registry_with
from videogw_segmind import SegmindProvider
from videogw_segmind.emulator import SegmindEmulator

CASSETTES = Path(__file__).resolve().parents[3] / "cassettes" / "segmind"

# The example of seed 001 (segmind.com higgsfield-speech2video model page).
SEED_IMAGE = (
    "https://segmind-resources.s3.amazonaws.com/input/03cea2dd-87e9-41d7-9932-fbe45d4b2dd5-"
    "434b7481-1ddb-43da-a2df-10928effc900.png"
)
SEED_AUDIO = (
    "https://segmind-resources.s3.amazonaws.com/input/a846542c-c555-43ae-bdb0-8795ef78e0bb-"
    "8fe7c335-9e7f-4729-8230-b3eabc2af49c.wav"
)
SEED_PROMPT = (
    "Generate an educational video with clear articulation, gentle hand gestures, and warm "
    "facial expressions appropriate for teaching content. All transitions needs to be super "
    "realistic and smooth."
)
SEED_REQUEST: dict[str, Any] = {
    "model": "speak-v2",
    "image": SEED_IMAGE,
    "audio": SEED_AUDIO,
    "prompt": SEED_PROMPT,
    "quality": "high",
    "enhance_prompt": False,
    "seed": 42,
    "duration_s": 10,
}


@pytest.fixture
def speak() -> Callable[..., dict[str, Any]]:
    """The seed 001 request as a dict, with changes (a value of None removes the key)."""

    def build(**changes: Any) -> dict[str, Any]:
        data = {**SEED_REQUEST, **changes}
        return {k: v for k, v in data.items() if v is not None}

    return build


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulated(clock: FakeClock) -> Emulated:
    return emulate(["segmind"], registry=registry_with(SegmindProvider), clock=clock)


@pytest.fixture
def emulator(emulated: Emulated) -> SegmindEmulator:
    app = emulated.emulators["segmind"]
    assert isinstance(app, SegmindEmulator)
    return app


@pytest.fixture(params=["sync", "async"])
async def gateway(
    request: pytest.FixtureRequest, emulated: Emulated, clock: FakeClock
) -> AsyncIterator[Any]:
    """A `Gateway` or an `AsyncGateway` on the emulator; call its methods through
    `videogw.testing.maybe_await`."""
    gw = emulated.gateway(sync=request.param == "sync", clock=clock)
    yield gw
    await maybe_await(gw.aclose() if hasattr(gw, "aclose") else gw.close())
