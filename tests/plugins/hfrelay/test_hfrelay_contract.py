"""hfrelay against the core conformance suite (sync and async, on its emulator), plus
what the suite does not cover: the nsfw outcome, the template catalogs through the
gateway, and the other two endpoints end to end."""

from __future__ import annotations

from typing import Any

import pytest

from videogw import JobStatus
from videogw.emulator.harness import Emulated
from videogw.errors import UnsupportedOperationError
from videogw.testing import ProviderContract, maybe_await
from videogw_hfrelay import HfRelayProvider

EYES_IN = "f226ac67-43d3-4726-ad9c-132608bda8b3"  # the documented motion template


class TestHfRelayContract(ProviderContract):
    provider_class = HfRelayProvider
    request = {
        "model": "dop-lite",
        "prompt": "a cat turns its head",
        "image": "https://example.com/cat.jpg",
        "motion": {"id": EYES_IN},
    }
    refunded_on_failure = None  # no relay documents its refund policy

    def test_emulator_settings_carry_the_base_url(self, emulated: Emulated) -> None:
        assert emulated.settings["hfrelay"]["base_url"] == "https://hfrelay.emulator.test"

    async def test_nsfw_is_content_filtered(self, gateway: Any) -> None:
        job = await maybe_await(gateway.run(self.make_request(prompt="a cat emulate:nsfw")))
        assert job.status is JobStatus.content_filtered
        assert job.raw_status == "nsfw"
        assert job.error is not None
        assert job.error.kind == "content_filtered"
        assert job.charged is None

    async def test_outputs_and_feed_payload(self, gateway: Any) -> None:
        job = await maybe_await(gateway.run(self.make_request()))
        assert job.outputs[0].url.endswith(f"/files/{job.provider_job_id}.mp4")
        assert job.outputs[0].media_type == "video/mp4"
        feed = job.provider_data["feed"]
        assert feed["id"] == job.provider_job_id
        assert feed["jobs"][0]["result"]["min"]["url"]
        assert job.provider_data["endpoint"] == "/higgsfield/generate"

    async def test_motion_catalog_through_the_gateway(self, gateway: Any) -> None:
        motions = await maybe_await(gateway.catalog("hfrelay", "motions"))
        assert motions[0]["id"] == EYES_IN
        assert {"id", "name", "media", "priority", "tags", "params", "categories"} <= set(
            motions[0]
        )
        assert all(m["media"]["type"] == "animated" for m in motions)

    @pytest.mark.parametrize("kind", ["avatar-presets", "voices", "sounds"])
    async def test_other_catalogs(self, gateway: Any, kind: str) -> None:
        items = await maybe_await(gateway.catalog("hfrelay", kind))
        assert items
        assert all(item["id"] and item["name"] for item in items)

    async def test_unknown_catalog_is_refused(self, gateway: Any, emulated: Emulated) -> None:
        with pytest.raises(UnsupportedOperationError, match="motions, avatar-presets"):
            await maybe_await(gateway.catalog("hfrelay", "styles"))
        assert emulated.emulators["hfrelay"].count("catalog") == 0

    async def test_speech_with_tts_runs(self, gateway: Any, emulated: Emulated) -> None:
        job = await maybe_await(
            gateway.run(
                model="speak-v2",
                prompt="a presenter talks",
                image="https://example.com/p.jpg",
                options={
                    "avatar_preset_id": "a1",
                    "width": 720,
                    "height": 1280,
                    "voice_id": "v1",
                    "speech_text": "Hello there",
                },
            )
        )
        assert job.status is JobStatus.succeeded, job.error
        assert job.outputs
        assert emulated.emulators["hfrelay"].count("submit") == 1

    async def test_ads_run(self, gateway: Any) -> None:
        job = await maybe_await(
            gateway.run(
                model="hf-ads",
                image="https://example.com/sneaker.png",
                options={"product_placement_sample_id": "s1", "size": "1024x1024"},
            )
        )
        assert job.status is JobStatus.succeeded, job.error
        assert job.task.value == "ad_video"
