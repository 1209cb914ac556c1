"""Cassette tests: the documented Segmind exchanges (cassettes/segmind/, each file naming its
source in its first lines: reference/providers.md §2, seed 001, the segmind SDK 1.3.0).

For each one the adapter builds exactly the documented request and reads the documented
answer, and the emulator answers the same request with the same status and shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from videogw import AsyncGateway, Gateway, GenerationRequest, Job, JobStatus, errors
from videogw.cassettes import (
    Interaction,
    assert_request_matches,
    assert_same_shape,
    emulator_answer,
    load,
    replay,
    to_httpx_response,
)
from videogw.provider import Purpose
from videogw.testing import registry_with
from videogw_segmind import SegmindProvider
from videogw_segmind.emulator import SegmindEmulator
from videogw_segmind.wire import rate_limit_reset

CASSETTES = Path(__file__).resolve().parents[3] / "cassettes" / "segmind"
REQUEST_ID = "3f1a2c4e-8b7d-4e2a-9c61-0d5b7e9f2a10"
KEY = {"x-api-key": "SG_0123456789abcdef"}


def cassette(name: str) -> list[Interaction]:
    return load(CASSETTES / f"{name}.yaml")


def provider(**settings: Any) -> SegmindProvider:
    return SegmindProvider(SegmindProvider.Settings(api_key="k", **settings))


def running_job(p: SegmindProvider, **changes: Any) -> Job:
    data = {
        "model": "speak-v2",
        "task": "speech_to_video",
        "status": JobStatus.running,
        "provider": "segmind",
        "provider_model": "higgsfield-speech2video",
        "provider_job_id": REQUEST_ID,
        "provider_data": {"mode": "queue"},
        "idempotency_key": "vgw-test",
        "submitted_at": datetime(2026, 11, 21, 19, 0, tzinfo=UTC),
    }
    return Job.model_validate(data | changes)


# -- the adapter against the documented exchanges -----------------------------------------


def test_speech2video_submit(speak: Callable[..., dict[str, Any]]) -> None:
    (doc,) = cassette("submit_speech2video")
    p = provider()
    prepared = p.prepare(GenerationRequest.model_validate(speak()))
    built = p.build_submit(prepared)
    assert_request_matches(built, doc)
    accepted = p.parse_submit(prepared, to_httpx_response(doc, built))
    assert accepted.provider_job_id == REQUEST_ID
    assert accepted.status is JobStatus.queued
    assert accepted.raw_status == "QUEUED"
    assert accepted.provider_data["status_url"].endswith(f"/v2/requests/{REQUEST_ID}/status")
    assert accepted.provider_data["response_url"].endswith(f"/v2/requests/{REQUEST_ID}")


def test_image2video_submit_maps_dop_standard_to_dop_preview() -> None:
    (doc,) = cassette("submit_image2video")
    p = provider()
    request = GenerationRequest(
        model="dop-standard",
        prompt="slow dolly in on a lighthouse at dusk",
        image="https://segmind-resources.s3.amazonaws.com/input/lighthouse.png",
        seed=4242,
        motion={"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.8},
        enhance_prompt=False,
        options={"check_nsfw": True},
    )
    prepared = p.prepare(request)
    assert_request_matches(p.build_submit(prepared), doc)
    assert p.parse_submit(prepared, to_httpx_response(doc)).provider_job_id == (
        "7c5d9e1f-2a3b-4c4d-8e5f-6a7b8c9d0e1f"
    )


def test_local_bytes_are_uploaded_to_segmind_storage_then_submitted(
    speak: Callable[..., dict[str, Any]],
) -> None:
    upload, submit = cassette("upload_asset")
    p = provider(upload_local_files=True)
    image = {"data": b"fake-png-bytes", "content_type": "image/png"}
    prepared = p.prepare(GenerationRequest.model_validate(speak(image=image)))
    flow = p.submit_flow(prepared)
    call = next(flow)
    assert call.purpose is Purpose.upload
    assert_request_matches(call.request, upload)
    call = flow.send(to_httpx_response(upload))
    assert call.purpose is Purpose.submit
    assert_request_matches(call.request, submit)
    with pytest.raises(StopIteration) as done:
        flow.send(to_httpx_response(submit))
    accepted = done.value.value
    assert accepted.provider_job_id == REQUEST_ID
    uploaded = upload.response_json()["file_urls"][0]
    assert accepted.provider_data["uploaded"] == {"image": uploaded}


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("status_queued", JobStatus.queued),
        ("status_processing", JobStatus.running),
        ("status_completed", JobStatus.succeeded),
        ("status_failed_422", JobStatus.failed),
    ],
)
def test_each_status(name: str, status: JobStatus) -> None:
    (doc,) = cassette(name)
    p = provider()
    job = running_job(p)
    built = p.build_status(job)
    assert_request_matches(built, doc)
    response = to_httpx_response(doc, built)
    assert p.classify(response, Purpose.read) is None  # FAILED with 422 included
    update = p.parse_status(job, response)
    assert update.status is status
    assert update.raw_status == doc.response_json()["status"]
    assert update.outputs is None  # the light status body never carries the output
    if status is JobStatus.failed:
        assert update.charged is False
        assert update.error is not None
        assert update.error.message == "Inference failed: no face detected in input_image"


def test_result_records_output_cost_and_remaining_credits() -> None:
    (doc,) = cassette("result_completed")
    p = provider()
    job = running_job(p)
    built = p.build_result(job)
    assert_request_matches(built, doc)
    update = p.parse_status(job, to_httpx_response(doc, built))
    assert update.status is JobStatus.succeeded
    assert [o.url for o in update.outputs or ()] == [doc.response_json()["output"]]
    assert update.outputs
    assert update.outputs[0].media_type == "video/mp4"
    assert update.outputs[0].expires_at == datetime(2026, 11, 28, 19, 0, tzinfo=UTC)
    assert update.actual_cost == Decimal("2.813")
    assert update.cost_currency == "USD"
    assert update.remaining_credits == Decimal("47.187")
    assert update.charged is True
    assert p.remaining_credits == Decimal("47.187")


def test_failed_result_with_422_is_a_status() -> None:
    (doc,) = cassette("result_failed_422")
    p = provider()
    response = to_httpx_response(doc)
    assert p.classify(response, Purpose.read) is None
    update = p.parse_status(running_job(p), response)
    assert (update.status, update.charged) == (JobStatus.failed, False)


def test_poll_after_retention_is_expired_keeping_what_was_known() -> None:
    (doc,) = cassette("status_404_expired")
    p = provider()
    response = to_httpx_response(doc)
    assert p.classify(response, Purpose.read) is None
    update = p.parse_status(running_job(p), response)
    assert update.status is JobStatus.expired
    assert update.error is not None
    assert update.error.kind == "expired"
    assert update.charged is None  # it may have completed and been billed
    done = running_job(p, status=JobStatus.succeeded)
    assert p.parse_status(done, response).status is JobStatus.succeeded
    # the same answer to a submit is an unknown model slug
    assert isinstance(p.classify(response, Purpose.submit), errors.ModelUnavailableError)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("submit_406_credits", errors.InsufficientCreditsError),
        ("submit_406_content_type", errors.ProviderRejectedError),
    ],
)
def test_406_is_told_apart_by_its_message(name: str, kind: type[errors.ProviderError]) -> None:
    (doc,) = cassette(name)
    error = provider().classify(to_httpx_response(doc), Purpose.submit)
    assert type(error) is kind
    assert error.status_code == 406
    assert error.message == doc.response_json()["error"]


def test_429_retry_delay_comes_from_the_reset_header() -> None:
    (doc,) = cassette("submit_429")
    response = to_httpx_response(doc)
    now = datetime(2026, 11, 21, 19, 45, 0, tzinfo=UTC)
    assert rate_limit_reset(response, now) == 30.0
    error = provider().classify(response, Purpose.submit)
    assert isinstance(error, errors.RateLimitError)
    assert error.retry_after is not None
    assert error.retry_after >= 0
    assert error.message == "Rate limit exceeded"


def test_405_html_is_never_parsed_as_json() -> None:
    (doc,) = cassette("submit_405_html")
    response = to_httpx_response(doc)
    error = provider().classify(response, Purpose.submit)
    assert type(error) is errors.ProviderError
    assert error.status_code == 405
    assert error.message == "GET /v2/higgsfield-speech2video: method not allowed"
    assert "<" not in provider().error_message(response)


def test_sync_v1_saves_the_video_and_reads_costs_from_headers(
    speak: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    (doc,) = cassette("sync_speech2video_v1")
    p = provider(mode="sync", output_dir=tmp_path)
    prepared = p.prepare(GenerationRequest.model_validate(speak()))
    flow = p.submit_flow(prepared)
    call = next(flow)
    assert_request_matches(call.request, doc)
    assert call.request.extensions["timeout"]["read"] == p.settings.sync_timeout_s
    with pytest.raises(StopIteration) as done:
        flow.send(to_httpx_response(doc, call.request))
    accepted = done.value.value
    assert accepted.provider_job_id == "9b2e7c1d-5f4a-4d3e-8a21-6c0f1e2d3b4a"
    assert accepted.status is JobStatus.succeeded
    update = accepted.update
    assert update is not None
    assert update.outputs is not None
    (output,) = update.outputs
    assert output.path is not None
    assert Path(output.path).parent == tmp_path
    assert Path(output.path).read_bytes() == doc.response_body
    assert output.url.startswith("file://")
    assert output.media_type == "video/mp4"
    assert (update.actual_cost, update.remaining_credits) == (Decimal("2.813"), Decimal("47.187"))


# -- vcrpy replay: the real httpx stack, both gateways --------------------------------------


def _gateway_kwargs() -> dict[str, Any]:
    return {"providers": [provider()], "registry": registry_with(SegmindProvider)}


def test_replay_queue_job_sync(speak: Callable[..., dict[str, Any]]) -> None:
    with replay(CASSETTES / "speech2video_queue.yaml") as tape, Gateway(**_gateway_kwargs()) as gw:
        job = gw.status(gw.submit(speak()))
    assert job.status is JobStatus.succeeded
    assert job.actual_cost == Decimal("2.813")
    assert job.remaining_credits == Decimal("47.187")
    assert tape.play_count == 3


async def test_replay_queue_job_async(speak: Callable[..., dict[str, Any]]) -> None:
    with replay(CASSETTES / "speech2video_queue.yaml") as tape:
        async with AsyncGateway(**_gateway_kwargs()) as gw:
            job = await gw.status(await gw.submit(speak()))
    assert job.status is JobStatus.succeeded
    assert job.outputs
    assert tape.play_count == 3


# -- the emulator answers the same requests with the same shapes -----------------------------


def _job_in_phase(prompt: str, age: float) -> Callable[[SegmindEmulator], None]:
    def setup(app: SegmindEmulator) -> None:
        job = app.create_job(prompt, {"cost": Decimal("2.813")}, job_id=REQUEST_ID)
        job.created -= age

    return setup


def _finished_long_ago(app: SegmindEmulator) -> None:
    body = {"prompt": "a teacher explains", "quality": "high", "duration": 10}
    data = {"cost": Decimal("2.813"), "body": body, "slug": "higgsfield-speech2video"}
    app.create_job("", data, job_id=REQUEST_ID).created -= 3600


def _nothing(app: SegmindEmulator) -> None:
    pass


EMULATOR_CASES: dict[str, tuple[dict[str, Any], Callable[[SegmindEmulator], None]]] = {
    "submit_speech2video": ({}, _nothing),
    "submit_image2video": ({}, _nothing),
    "upload_asset": ({}, _nothing),
    "status_queued": ({}, _job_in_phase("", 0)),
    "status_processing": ({}, _job_in_phase("", 1.0)),
    "status_completed": ({}, _job_in_phase("", 100)),
    "status_failed_422": ({}, _job_in_phase("emulate:failed", 100)),
    "result_completed": ({}, _job_in_phase("", 100)),
    "result_failed_422": ({}, _job_in_phase("emulate:failed", 100)),
    "status_404_expired": ({"retention_s": 60}, _job_in_phase("", 61)),
    "generation_after_expiry": ({"retention_s": 60}, _finished_long_ago),
    "submit_406_credits": ({"credits": "0.42"}, _nothing),
    "submit_406_content_type": ({}, _nothing),
    "submit_429": ({"faults": "submit:429*1"}, _nothing),
    "submit_405_html": ({}, _nothing),
    "sync_speech2video_v1": ({}, _nothing),
}


@pytest.mark.parametrize("name", sorted(EMULATOR_CASES))
def test_emulator_answers_with_the_documented_shapes(name: str) -> None:
    kwargs, setup = EMULATOR_CASES[name]
    app = SegmindEmulator(**kwargs)
    setup(app)
    for doc in cassette(name):
        answer = emulator_answer(app, doc, headers=KEY)
        assert answer.status_code == doc.status, answer.text
        kind = doc.response_headers["content-type"]
        assert answer.headers["content-type"].startswith(kind)
        for header in doc.response_headers:
            assert header in answer.headers, f"{name}: header {header!r} missing"
        if "json" in kind:
            assert_same_shape(answer.json(), doc.response_json())


def test_cassettes_hold_no_secrets() -> None:
    key_like = re.compile(r"SG_[0-9a-fA-F]{16}")
    for path in sorted(CASSETTES.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# Source:"), f"{path.name} does not name its source"
        assert not key_like.search(text), f"{path.name} holds something like a key"
        for doc in load(path):
            assert doc.request_headers.get("x-api-key") == "REDACTED", path.name


def test_a_job_whose_status_is_gone_is_settled_by_the_generations_api() -> None:
    """The status read answers 404 after retention; ``generations.get`` still has the
    request: completed, its output URL and what it cost (``credits_deduction``, USD)."""
    lost, row = cassette("generation_after_expiry")
    p = provider()
    job = running_job(p)
    flow = p.status_flow(job)
    assert_request_matches(next(flow).request, lost)
    assert_request_matches(flow.send(to_httpx_response(lost)).request, row)
    with pytest.raises(StopIteration) as done:
        flow.send(to_httpx_response(row))
    update = done.value.value
    assert update.status is JobStatus.succeeded
    assert update.charged is True
    assert (update.actual_cost, update.cost_currency) == (Decimal("2.81"), "USD")
    assert update.outputs[0].url == "https://images.segmind.com/outputs/3f1a2c4e/output.mp4"
    with (
        replay(CASSETTES / "generation_after_expiry.yaml") as tape,
        Gateway(**_gateway_kwargs()) as gw,
    ):
        settled = gw.status(job)
    assert tape.play_count == 2
    assert settled.status is JobStatus.succeeded
    assert settled.actual_cost == Decimal("2.81")


def test_status_after_completion_reads_the_result_once() -> None:
    status, result = cassette("status_completed")[0], cassette("result_completed")[0]
    p = provider()
    flow = p.status_flow(running_job(p))
    assert_request_matches(next(flow).request, status)
    call = flow.send(to_httpx_response(status))
    assert call.purpose is Purpose.read
    assert_request_matches(call.request, result)
    with pytest.raises(StopIteration) as done:
        flow.send(httpx.Response(200, json=result.response_json(), request=call.request))
    assert done.value.value.status is JobStatus.succeeded
