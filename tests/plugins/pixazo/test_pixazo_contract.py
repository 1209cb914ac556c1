"""The core conformance suite against the Pixazo emulator (sync and async), plus the
outcomes only Pixazo has: ERROR (a failure that is not charged) and FAILED (charge not
documented, reference/providers.md (a))."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from videogw import JobStatus
from videogw.emulator import FakeClock
from videogw.emulator.harness import Emulated
from videogw.testing import ProviderContract, maybe_await
from videogw_pixazo import PixazoProvider

MOTION = {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.5}


class TestPixazoContract(ProviderContract):
    provider_class = PixazoProvider
    request: ClassVar[dict[str, Any]] = {
        "model": "dop-lite",
        "prompt": "a cat",
        "image": "https://example.com/cat.jpg",
        "motion": MOTION,
    }
    refunded_on_failure = None  # FAILED: whether Pixazo charges it is not documented

    async def test_error_outcome_is_a_failure_that_is_not_charged(self, gateway: Any) -> None:
        job = await maybe_await(gateway.run(self.make_request(prompt="a cat emulate:error")))
        assert job.status is JobStatus.failed
        assert job.raw_status == "ERROR"
        assert job.charged is False
        assert job.error.kind == "provider_error"
        assert job.attempts[-1].charged is False

    async def test_nsfw_outcome_is_a_failed_job_with_the_moderation_message(
        self, gateway: Any
    ) -> None:
        job = await maybe_await(gateway.run(self.make_request(prompt="a cat emulate:nsfw")))
        assert job.status is JobStatus.failed
        assert job.raw_status == "FAILED"
        assert job.charged is None
        assert "NSFW" in job.error.message

    async def test_success_records_seed_cost_and_timestamps(
        self, gateway: Any, emulated: Emulated, clock: FakeClock
    ) -> None:
        job = await maybe_await(gateway.run(self.make_request()))
        sent = emulated.emulators["pixazo"].jobs[job.provider_job_id].data["request"]
        assert job.provider_data["seed"] == sent["seed"]
        assert 1 <= sent["seed"] <= 1_000_000
        assert job.provider_job_id.startswith("ai-model-api_")
        assert job.outputs[0].media_type == "video/mp4"  # octet-stream resolved from .mp4
        assert str(job.actual_cost) == "0.135"
        assert job.charged is True
        assert set(job.provider_data) >= {"created_at", "updated_at", "completed_at"}

    @pytest.mark.parametrize("model", ["dop-turbo", "dop-standard"])
    async def test_every_model_runs(self, gateway: Any, emulated: Emulated, model: str) -> None:
        job = await maybe_await(gateway.run(self.make_request(model=model)))
        assert job.status is JobStatus.succeeded
        sent = emulated.emulators["pixazo"].jobs[job.provider_job_id].data["request"]
        assert sent["model"] == {"dop-turbo": "dop-turbo", "dop-standard": "dop-preview"}[model]
