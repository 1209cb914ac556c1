"""Queue mode on the emulator, end to end through `Gateway` and `AsyncGateway`: costs and
credits on the Job, FAILED-with-422, expiry, uploads, and each documented error code."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from videogw import AttemptOutcome, GenerationRequest, Job, JobStatus, errors
from videogw.emulator import FakeClock, FaultProfile, SyncEmulatorTransport
from videogw.emulator.harness import Emulated, emulate
from videogw.provider import Purpose
from videogw.testing import maybe_await, registry_with
from videogw_segmind import SegmindProvider
from videogw_segmind.emulator import SegmindEmulator
from videogw_segmind.prices import speak_price
from videogw_segmind.wire import data_url

Speak = Callable[..., dict[str, Any]]


async def test_speech_to_video_records_actual_cost_and_remaining_credits(
    gateway: Any, emulator: SegmindEmulator, speak: Speak
) -> None:
    start = emulator.credits
    job: Job = await maybe_await(gateway.run(speak()))
    assert job.status is JobStatus.succeeded, job.error
    assert job.raw_status == "COMPLETED"
    assert job.outputs
    assert job.outputs[0].url.endswith(f"/outputs/{job.provider_job_id}.mp4")
    cost = speak_price("high", 10)
    assert job.actual_cost == cost
    assert job.cost_currency == "USD"
    assert job.charged is True
    assert job.remaining_credits == start - cost == emulator.credits
    assert job.attempts[-1].actual_cost == cost
    assert job.estimate is not None
    assert job.estimate.is_range
    assert job.provider_data["metrics"]["cost"] == float(cost)
    # the balance falls job after job
    second: Job = await maybe_await(gateway.run(speak(quality="mid", duration_s=5)))
    assert second.remaining_credits == start - cost - speak_price("mid", 5)
    assert emulator.count("submit") == 2


async def test_failed_with_422_is_a_refunded_failure(
    gateway: Any, emulator: SegmindEmulator, speak: Speak
) -> None:
    start = emulator.credits
    job: Job = await maybe_await(gateway.run(speak(prompt="a greeting emulate:failed")))
    assert (job.status, job.raw_status, job.charged) == (JobStatus.failed, "FAILED", False)
    assert job.error is not None
    assert job.error.message.startswith("Inference failed")
    assert job.actual_cost is None
    assert emulator.count("result") == 0  # the FAILED status body already says why
    assert emulator.credits == start


async def test_a_job_past_retention_is_settled_by_the_generations_api(
    gateway: Any, emulator: SegmindEmulator, clock: FakeClock, speak: Speak
) -> None:
    """The status read answers 404 after retention; the generations API (SDK
    ``generations.get``) still knows the request: its status, output and USD cost."""
    emulator.retention_s = 30
    unseen: Job = await maybe_await(gateway.submit(speak()))
    clock.advance(3600)  # finished long ago, never polled, its record gone
    settled: Job = await maybe_await(gateway.status(unseen))
    assert settled.status is JobStatus.succeeded
    assert settled.charged is True
    assert settled.actual_cost == emulator.jobs[unseen.provider_job_id].data["cost"]
    assert settled.outputs
    assert settled.outputs[0].url.endswith(f"/outputs/{unseen.provider_job_id}.mp4")
    assert emulator.count("generations") == 1

    failed: Job = await maybe_await(gateway.submit(speak(prompt="hi emulate:failed")))
    clock.advance(3600)
    gone: Job = await maybe_await(gateway.status(failed))
    assert gone.status is JobStatus.failed
    assert gone.charged is False

    slow: Job = await maybe_await(gateway.submit(speak(prompt="hi emulate:queue=1000")))
    clock.advance(31)
    pending: Job = await maybe_await(gateway.status(slow))
    assert not pending.status.is_terminal  # PENDING there: still tracked, not expired


async def test_a_job_nobody_knows_any_more_is_expired_and_keeps_what_was_known(
    gateway: Any, emulator: SegmindEmulator, clock: FakeClock, speak: Speak
) -> None:
    emulator.retention_s = 30
    job: Job = await maybe_await(gateway.submit(speak(prompt="hi emulate:queue=1000")))
    clock.advance(31)
    del emulator.jobs[job.provider_job_id]  # not even the generations API has it
    expired: Job = await maybe_await(gateway.status(job))
    assert expired.status is JobStatus.expired
    assert expired.provider_job_id == job.provider_job_id
    assert expired.error is not None
    assert "may have completed" in expired.error.message
    assert expired.charged is None
    assert expired.attempts[-1].status is JobStatus.expired

    done: Job = await maybe_await(gateway.run(speak()))
    clock.advance(31)
    again: Job = await maybe_await(gateway.status(done))
    assert again.status is JobStatus.succeeded
    assert again.outputs == done.outputs
    assert again.actual_cost == done.actual_cost


async def test_insufficient_credits_is_refused_without_a_job(
    gateway: Any, emulator: SegmindEmulator, speak: Speak
) -> None:
    emulator.credits = Decimal("0.50")
    with pytest.raises(errors.InsufficientCreditsError) as caught:
        await maybe_await(gateway.submit(speak()))
    assert caught.value.status_code == 406
    assert caught.value.failover is errors.Failover.next_disable
    assert caught.value.job is not None
    assert caught.value.job.attempts[-1].outcome is AttemptOutcome.rejected
    assert not emulator.jobs


async def test_a_500_on_submit_is_an_unknown_outcome(
    gateway: Any, emulator: SegmindEmulator, speak: Speak
) -> None:
    emulator.faults = FaultProfile.parse("submit:500*1")
    job: Job = await maybe_await(gateway.submit(speak()))
    assert job.status is JobStatus.unknown
    assert job.attempts[-1].outcome is AttemptOutcome.unknown
    assert emulator.count("submit") == 1  # never repeated: Segmind has no idempotency key


async def test_a_2xx_submit_without_urls_is_an_error_not_a_hang(
    gateway: Any, emulator: SegmindEmulator, speak: Speak
) -> None:
    emulator.faults = FaultProfile.parse("submit:malformed*1")
    job: Job = await maybe_await(gateway.submit(speak()))
    assert job.status is JobStatus.unknown
    assert "MalformedResponseError" in (job.attempts[-1].reason or "")
    p = SegmindProvider(SegmindProvider.Settings(api_key="k"))
    prepared = p.prepare(GenerationRequest.model_validate(speak()))
    answer = httpx.Response(200, json={"request_id": "r-1", "status": "QUEUED"})
    with pytest.raises(errors.MalformedResponseError, match="status_url"):
        p.parse_submit(prepared, answer)


async def test_rate_limited_status_reads_are_retried(
    gateway: Any, emulator: SegmindEmulator, speak: Speak
) -> None:
    emulator.faults = FaultProfile.parse("status:429/1*2")
    job: Job = await maybe_await(gateway.run(speak()))
    assert job.status is JobStatus.succeeded
    assert emulator.faults.injected == {"status:429": 2}


def test_rate_limited_submit_carries_the_delay_to_the_reset_time(speak: Speak) -> None:
    # The emulator on the wall clock: the adapter compares the header with the real time.
    emulated = emulate(["segmind"], registry=registry_with(SegmindProvider))
    emulated.emulators["segmind"].faults = FaultProfile.parse("submit:429/7*1")
    with emulated.gateway(sync=True) as gw, pytest.raises(errors.RateLimitError) as caught:
        gw.submit(speak())
    assert caught.value.retry_after is not None
    assert 5 <= caught.value.retry_after <= 7
    assert emulated.emulators["segmind"].count("submit") == 1


# -- local inputs through Segmind storage ----------------------------------------------------


def _uploading(emulated: Emulated) -> None:
    emulated.settings["segmind"]["upload_local_files"] = True


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_local_files_go_through_segmind_storage_when_enabled(
    sync: bool, emulated: Emulated, emulator: SegmindEmulator, tmp_path: Path, speak: Speak
) -> None:
    _uploading(emulated)
    audio = tmp_path / "speech.mp3"
    audio.write_bytes(b"ID3 fake mp3")
    gw = emulated.gateway(sync=sync)
    try:
        job: Job = await maybe_await(
            gw.submit(speak(image={"data": b"png", "content_type": "image/png"}, audio=audio))
        )
    finally:
        await maybe_await(gw.close() if sync else gw.aclose())
    assert emulator.count("upload") == 1
    assert sorted(emulator.uploads.values()) == [b"ID3 fake mp3", b"png"]
    uploaded = job.provider_data["uploaded"]
    assert set(uploaded) == {"image", "audio"}
    body = emulator.jobs[job.provider_job_id or ""].data["body"]
    assert (body["input_image"], body["input_audio"]) == (uploaded["image"], uploaded["audio"])
    assert uploaded["audio"].endswith(".mp3")


async def test_local_files_are_refused_unless_uploads_are_enabled(
    gateway: Any, emulator: SegmindEmulator, tmp_path: Path, speak: Speak
) -> None:
    audio = tmp_path / "speech.mp3"
    audio.write_bytes(b"ID3")
    with pytest.raises(errors.UnsupportedRequestError, match="upload_local_files = true") as caught:
        await maybe_await(gateway.submit(speak(model="segmind:speak-v2", audio=audio)))
    assert caught.value.field == "audio"
    assert sum(emulator.counts.values()) == 0


def test_a_failed_upload_sends_no_job(
    emulated: Emulated, emulator: SegmindEmulator, clock: FakeClock, speak: Speak
) -> None:
    _uploading(emulated)
    emulator.faults = FaultProfile.parse("upload:500")
    with (
        emulated.gateway(sync=True, clock=clock) as gw,
        pytest.raises(errors.RequestNotSentError, match="nothing was submitted") as caught,
    ):
        gw.submit(speak(image=b"png"))
    assert caught.value.job is not None
    assert caught.value.job.attempts[-1].outcome is AttemptOutcome.not_sent
    assert emulator.count("upload") > 1  # an upload is safe to retry
    assert emulator.count("submit") == 0


# -- the other documented answers, from the emulator to the classification -----------------


def _send(app: SegmindEmulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client(transport=SyncEmulatorTransport(app)) as client:
        return client.request(method, f"https://api.segmind.com{path}", **kwargs)


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "purpose", "kind", "status"),
    [
        ("POST", "/v2/higgsfield-speech2video", {}, {}, Purpose.submit,
         errors.AuthenticationError, 401),
        ("POST", "/v2/higgsfield-speech2video", {"authorization": "Bearer SG_x"}, {},
         Purpose.submit, errors.AuthenticationError, 401),
        ("POST", "/v2/higgsfield-speech2video", {"x-api-key": "k"}, {"prompt": "x"},
         Purpose.submit, errors.ProviderRejectedError, 400),
        ("POST", "/v2/no-such-model", {"x-api-key": "k"}, {}, Purpose.submit,
         errors.ModelUnavailableError, 404),
        ("GET", "/v2/requests/never-was/status", {"x-api-key": "k"}, None, Purpose.read,
         None, 404),
        ("POST", "/v2/higgsfield-retired", {"x-api-key": "k"}, {}, Purpose.submit,
         errors.ModelUnavailableError, 410),
        ("DELETE", "/v2/requests/abc", {"x-api-key": "k"}, None, Purpose.cancel,
         errors.ProviderError, 405),
    ],
)  # fmt: skip
def test_documented_error_answers_are_classified(
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
    purpose: Purpose,
    kind: type[errors.ProviderError] | None,
    status: int,
) -> None:
    app = SegmindEmulator(retired=("higgsfield-retired",))
    response = _send(app, method, path, headers=headers, json=body)
    assert response.status_code == status
    found = SegmindProvider().classify(response, purpose)
    if kind is None:  # an unknown request id on a poll: read as "expired", not raised
        assert found is None
    else:
        assert type(found) is kind
        assert found.message
        assert "<" not in found.message
    assert not app.jobs


def test_missing_and_wrong_keys_carry_segminds_messages() -> None:
    missing = _send(SegmindEmulator(), "POST", "/v2/higgsfield-speech2video", json={})
    error = SegmindProvider().classify(missing, Purpose.submit)
    assert error is not None
    assert error.message == "Missing Authorization or x-api-key in header"
    app = SegmindEmulator(api_key="good")
    wrong = _send(app, "POST", "/v2/higgsfield-speech2video", headers={"x-api-key": "bad"})
    error = SegmindProvider().classify(wrong, Purpose.submit)
    assert error is not None
    assert error.message.startswith("invalid_token: ")


def test_403_on_submit_means_the_model_is_not_allowed_for_the_account() -> None:
    response = httpx.Response(403, json={"error": "Model not permitted for this team"})
    error = SegmindProvider().classify(response, Purpose.submit)
    assert isinstance(error, errors.ModelUnavailableError)
    assert error.failover is errors.Failover.next


def test_a_read_404_that_is_not_segminds_json_is_job_not_found() -> None:
    response = httpx.Response(
        404, text="<html>Not Found</html>", headers={"content-type": "text/html"}
    )
    assert isinstance(SegmindProvider().classify(response, Purpose.read), errors.JobNotFoundError)


# -- credit state for routing ---------------------------------------------------------------


def test_low_credit_threshold_makes_the_provider_unusable(
    emulated: Emulated, clock: FakeClock, speak: Speak
) -> None:
    emulated.settings["segmind"]["low_credit_threshold"] = "98"
    with emulated.gateway(sync=True, clock=clock) as gw:
        provider = gw.provider("segmind")
        assert isinstance(provider, SegmindProvider)
        assert provider.credit_ok()  # nothing known yet
        job = gw.run(speak())
        assert job.remaining_credits == Decimal("100") - speak_price("high", 10)
        assert provider.remaining_credits == job.remaining_credits
        assert not provider.credit_ok()
        assert provider.credit_ok(Decimal("98"))
        assert not provider.credit_ok(job.remaining_credits)


def test_bytes_of_unknown_type_are_sniffed_before_upload(
    emulated: Emulated, emulator: SegmindEmulator, speak: Speak
) -> None:
    _uploading(emulated)
    with emulated.gateway(sync=True) as gw:
        job = gw.submit(speak(image=b"\x89PNG\r\n\x1a\n..."))
    assert job.provider_data["uploaded"]["image"].endswith(".png")
    wav = data_url(b"RIFF\x00\x00\x00\x00WAVEfmt ", "application/octet-stream")
    assert wav.startswith("data:audio/wav;base64,")
    assert data_url(b"??", "application/octet-stream").startswith("data:application/octet-stream")
