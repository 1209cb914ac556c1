"""Sync mode (``mode = "sync"``): ``POST /v1/{slug}`` answers the video itself; the job is
finished when the submit returns, its bytes saved to a file, its cost read from headers."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from videogw import AttemptOutcome, GenerationRequest, Job, JobStatus, errors
from videogw.emulator import FakeClock
from videogw.emulator.harness import Emulated
from videogw.testing import maybe_await
from videogw_segmind import SegmindProvider
from videogw_segmind.emulator import FAKE_MP4, SegmindEmulator
from videogw_segmind.prices import speak_price

Speak = Callable[..., dict[str, Any]]


@pytest.fixture
def sync_mode(emulated: Emulated, tmp_path: Path) -> Path:
    emulated.settings["segmind"] |= {"mode": "sync", "output_dir": str(tmp_path / "videos")}
    return tmp_path / "videos"


@pytest.fixture(params=["sync", "async"])
async def sync_gateway(
    request: pytest.FixtureRequest, sync_mode: Path, emulated: Emulated, clock: FakeClock
) -> Any:
    gw = emulated.gateway(sync=request.param == "sync", clock=clock)
    yield gw
    await maybe_await(gw.aclose() if hasattr(gw, "aclose") else gw.close())


async def test_the_submit_returns_a_finished_job_with_a_saved_video(
    sync_gateway: Any, sync_mode: Path, emulator: SegmindEmulator, speak: Speak
) -> None:
    job: Job = await maybe_await(sync_gateway.submit(speak()))
    assert job.status is JobStatus.succeeded
    assert job.finished_at is not None
    assert job.provider_job_id in emulator.jobs  # x-request-id
    (output,) = job.outputs
    assert output.path is not None
    assert Path(output.path).parent == sync_mode
    assert Path(output.path).read_bytes() == FAKE_MP4
    assert (output.size, output.media_type) == (len(FAKE_MP4), "video/mp4")
    cost = speak_price("high", 10)
    assert (job.actual_cost, job.cost_currency, job.charged) == (cost, "USD", True)
    assert job.remaining_credits == Decimal(100) - cost
    assert [entry[0:2] for entry in emulator.log] == [("POST", "/v1/higgsfield-speech2video")]
    # nothing left to ask: status and wait send no request
    assert await maybe_await(sync_gateway.status(job)) == job
    assert (await maybe_await(sync_gateway.wait(job))).status is JobStatus.succeeded
    assert len(emulator.log) == 1
    assert Job.model_validate_json(job.model_dump_json()) == job


async def test_the_video_goes_where_the_request_says(
    sync_gateway: Any, tmp_path: Path, speak: Speak
) -> None:
    target = tmp_path / "out" / "greeting.mp4"
    job: Job = await maybe_await(sync_gateway.submit(speak(options={"output_path": target})))
    assert job.outputs[0].path == str(target)
    assert target.read_bytes() == FAKE_MP4


async def test_a_failed_sync_job_is_an_unknown_outcome_never_resubmitted(
    sync_gateway: Any, emulator: SegmindEmulator, speak: Speak
) -> None:
    # v1 answers a failed generation with 500 (the only failure code its page lists); on a
    # submit without idempotency that is an unknown outcome: never bought twice.
    job: Job = await maybe_await(sync_gateway.submit(speak(prompt="hi emulate:failed")))
    assert job.status is JobStatus.unknown
    assert job.attempts[-1].outcome is AttemptOutcome.unknown
    assert emulator.count("submit") == 1


def test_a_json_answer_is_read_for_its_output_url(speak: Speak) -> None:
    p = SegmindProvider(SegmindProvider.Settings(api_key="k", mode="sync"))
    prepared = p.prepare(GenerationRequest.model_validate(speak()))
    answer = httpx.Response(
        200,
        json={"output": "https://cdn.segmind.com/out/v.mp4"},
        headers={"x-cost": "2.813", "x-remaining-credits": "12.5", "x-request-id": "r-9"},
    )
    accepted = p.parse_submit(prepared, answer)
    assert accepted.provider_job_id == "r-9"
    assert accepted.update is not None
    assert [o.url for o in accepted.update.outputs or ()] == ["https://cdn.segmind.com/out/v.mp4"]
    assert accepted.update.remaining_credits == Decimal("12.5")
    empty = httpx.Response(200, json={"status": "ok"})
    with pytest.raises(errors.MalformedResponseError, match="output"):
        p.parse_submit(prepared, empty)


def test_output_path_is_refused_in_queue_mode(speak: Speak) -> None:
    p = SegmindProvider(SegmindProvider.Settings(api_key="k"))
    request = GenerationRequest.model_validate(speak(options={"output_path": "v.mp4"}))
    with pytest.raises(errors.UnsupportedRequestError, match='mode = "sync"') as caught:
        p.prepare(request)
    assert caught.value.field == "options.output_path"
