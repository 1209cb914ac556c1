"""The core conformance suite, through `Gateway` and `AsyncGateway`, on the Segmind emulator:
once for Speak v2 (speech-to-video) and once for DoP (image-to-video)."""

from __future__ import annotations

from videogw.testing import ProviderContract
from videogw_segmind import SegmindProvider

IMAGE = "https://segmind-resources.s3.amazonaws.com/input/portrait.png"
AUDIO = "https://segmind-resources.s3.amazonaws.com/input/speech.wav"


class TestSegmindSpeakContract(ProviderContract):
    provider_class = SegmindProvider
    request = {
        "model": "speak-v2",
        "prompt": "a teacher explains photosynthesis warmly",
        "image": IMAGE,
        "audio": AUDIO,
    }
    refunded_on_failure = False  # FAILED is not billed


class TestSegmindDopContract(ProviderContract):
    provider_class = SegmindProvider
    request = {
        "model": "dop-lite",
        "prompt": "slow dolly in on a lighthouse",
        "image": IMAGE,
        "motion": {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.8},
    }
    refunded_on_failure = False
