"""Seed 003's documented exchanges (cassettes/pixazo/, copied verbatim from the seed; each
cassette names the section it comes from): the adapter builds the documented requests and
reads the documented answers, replayed through vcrpy for sync and async clients; the
emulator answers the same requests with the same shapes."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from videogw import Gateway, GenerationRequest, Job, JobStatus, Task
from videogw.cassettes import (
    Interaction,
    assert_request_matches,
    assert_same_shape,
    emulator_answer,
    load,
    replay,
    to_httpx_response,
)
from videogw.emulator import FakeClock
from videogw.errors import Failover, InsufficientCreditsError, ModelUnavailableError
from videogw.gateway import AsyncGateway
from videogw.models import AttemptOutcome
from videogw.testing import registry_with
from videogw_pixazo import PixazoProvider
from videogw_pixazo.emulator import PixazoEmulator

CASSETTES = Path(__file__).parents[3] / "cassettes" / "pixazo"
MINIMAL = CASSETTES / "submit_minimal_and_completed.yaml"
FULL = CASSETTES / "submit_full.yaml"
ERROR = CASSETTES / "status_error.yaml"
BALANCE = CASSETTES / "submit_insufficient_balance.yaml"
MODEL_NOT_FOUND = CASSETTES / "submit_model_not_found.yaml"
REQUEST_ID = "ai-model-api_019dxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
KEY = {"ocp-apim-subscription-key": "k"}

# The neutral request that means seed 003's "Minimum Request".
REQUEST = GenerationRequest(
    model="dop-lite",
    prompt="A serene lake with gentle ripples, birds flying overhead, cinematic lighting",
    image="https://example.com/images/lake-scene.jpg",
    seed=123456,
    motion={"id": "[MOTION_ID]", "strength": 0.7},
)
# ... and its "Full Request (all options)".
FULL_REQUEST = GenerationRequest.model_validate(
    {
        **REQUEST.model_dump(),
        "end_image": "https://example.com/images/lake-end-frame.jpg",
        "options": {"check_nsfw": True},
    }
)


def provider() -> PixazoProvider:
    return PixazoProvider(PixazoProvider.Settings(api_key="k"))


def gateway() -> Gateway:
    return Gateway(providers=[provider()], registry=registry_with(PixazoProvider))


def accepted_job() -> Job:
    return Job(
        model="dop-lite",
        task=Task.image_to_video,
        status=JobStatus.queued,
        provider="pixazo",
        provider_model="dop-lite",
        provider_job_id=REQUEST_ID,
        idempotency_key="k",
    )


def compact(documented: Interaction) -> bytes:
    return json.dumps(documented.request_json(), separators=(",", ":")).encode()


# -- requests ------------------------------------------------------------------------------
@pytest.mark.parametrize(("cassette", "request_"), [(MINIMAL, REQUEST), (FULL, FULL_REQUEST)])
def test_adapter_builds_the_documented_submit(cassette: Path, request_: GenerationRequest) -> None:
    documented = load(cassette)[0]
    built = provider().build_submit(provider().prepare(request_))
    assert_request_matches(built, documented)
    # byte for byte: the same keys in the same order as the seed, compactly serialized
    assert built.read() == compact(documented)


def test_adapter_builds_the_documented_status_read() -> None:
    documented = load(MINIMAL)[1]
    job = accepted_job()
    job = job.model_copy(update={"provider_data": {"polling_url": documented.uri}})
    assert_request_matches(provider().build_status(job), documented)
    assert_request_matches(provider().build_status(accepted_job()), documented)  # rebuilt


# -- responses, replayed through vcrpy ----------------------------------------------------
def check_completed(job: Job) -> None:
    assert job.status is JobStatus.succeeded
    assert job.raw_status == "COMPLETED"
    assert [o.url for o in job.outputs] == [
        "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/v1/ai-model-api_019dxxxx-xxxx/output.ext"
    ]
    # the seed's own URL ends in ".ext", which names no type: the given type stays
    assert job.outputs[0].media_type == "application/octet-stream"
    assert job.charged is True
    assert job.actual_cost == Decimal("0.135")
    assert job.cost_currency == "USD"
    assert job.provider_data["created_at"] == "2026-03-31T10:00:00+00:00"
    assert job.provider_data["completed_at"] == "2026-03-31T10:00:15+00:00"
    assert job.provider_data["seed"] == 123456
    assert job.attempts[-1].charged is True


def test_replay_submit_and_completed_sync() -> None:
    with replay(MINIMAL) as cassette, gateway() as gw:
        job = gw.submit(REQUEST)
        assert job.provider_job_id == REQUEST_ID
        assert job.status is JobStatus.queued
        assert job.raw_status == "QUEUED"
        assert job.provider_data["polling_url"].endswith(f"/v2/requests/status/{REQUEST_ID}")
        job = gw.status(job)
    check_completed(job)
    assert cassette.play_count == 2


async def test_replay_submit_and_completed_async() -> None:
    with replay(MINIMAL) as cassette:
        async with AsyncGateway(
            providers=[provider()], registry=registry_with(PixazoProvider)
        ) as gw:
            job = await gw.submit(REQUEST)
            job = await gw.status(job)
    check_completed(job)
    assert cassette.play_count == 2


def test_replay_full_submit() -> None:
    with replay(FULL), gateway() as gw:
        job = gw.submit(FULL_REQUEST)
    assert job.provider_job_id == REQUEST_ID


def test_documented_error_status_is_a_failure_that_is_not_charged() -> None:
    with replay(ERROR), gateway() as gw:
        job = gw.status(accepted_job())
    assert job.status is JobStatus.failed
    assert job.raw_status == "ERROR"
    assert job.charged is False
    assert job.error is not None
    assert job.error.kind == "provider_error"
    assert job.error.message == "Description of the error"
    assert job.error.provider_code == "ERROR"
    assert job.outputs == ()
    assert job.actual_cost is None
    assert job.finished_at is not None


def test_composed_failed_status_leaves_the_charge_unknown() -> None:
    # Not from the seed (it shows no FAILED example): the documented ERROR body with
    # status FAILED, which the seed's status table describes as "Failed — check error".
    documented = load(ERROR)[0]
    body = {**documented.response_json(), "status": "FAILED", "error": "Generation failed"}
    response = to_httpx_response(replace(documented, response_body=json.dumps(body).encode()))
    update = provider().parse_status(accepted_job(), response)
    assert update.status is JobStatus.failed
    assert update.charged is None
    assert update.error is not None
    assert update.error.kind == "generation_failed"
    assert update.error.message == "Generation failed"


async def test_documented_402_marks_the_provider_out_of_credit() -> None:
    with replay(BALANCE):
        async with AsyncGateway(
            providers=[provider()], registry=registry_with(PixazoProvider)
        ) as gw:
            with pytest.raises(InsufficientCreditsError) as caught:
                await gw.submit(REQUEST)
    error = caught.value
    assert error.status_code == 402
    assert error.failover is Failover.next_disable
    assert error.code == "Insufficient Balance"
    assert error.message == "Insufficient Balance: Your wallet does not have enough balance."
    assert error.job is not None
    attempt = error.job.attempts[-1]
    assert attempt.outcome is AttemptOutcome.rejected
    assert attempt.http_status == 402
    assert attempt.charged is False
    assert error.job.provider_job_id is None


def test_documented_model_not_found_is_model_unavailable() -> None:
    with replay(MODEL_NOT_FOUND), gateway() as gw, pytest.raises(ModelUnavailableError) as caught:
        gw.submit(REQUEST)
    assert caught.value.status_code == 400
    assert caught.value.failover is Failover.next
    assert "not found or is disabled" in caught.value.message


# -- the emulator answers the same requests with the same shapes ---------------------------
def with_prompt(documented: Interaction, prompt: str) -> Interaction:
    body = {**documented.request_json(), "prompt": prompt}
    return replace(documented, request_body=json.dumps(body).encode())


def status_of(documented: Interaction, request_id: str) -> Interaction:
    return replace(documented, uri=documented.uri.replace(REQUEST_ID, request_id))


def test_emulator_answers_submit_and_status_like_the_seed() -> None:
    submit, status = load(MINIMAL)
    clock = FakeClock()
    app = PixazoProvider.emulator(clock=clock)
    answer = emulator_answer(app, submit, headers=KEY)
    assert answer.status_code == submit.status == 202
    assert_same_shape(answer.json(), submit.response_json())
    request_id = answer.json()["request_id"]
    assert re.fullmatch(r"ai-model-api_[0-9a-f-]{36}", request_id)
    assert (
        answer.json()["polling_url"] == f"https://gateway.pixazo.ai/v2/requests/status/{request_id}"
    )
    clock.advance(60)
    done = emulator_answer(app, status_of(status, request_id), headers=KEY)
    assert done.status_code == 200
    assert_same_shape(done.json(), status.response_json())
    assert done.json()["status"] == "COMPLETED"
    # both of the seed's timestamp formats, in one payload
    assert done.json()["created_at"].endswith("Z")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", done.json()["completed_at"])
    assert provider().parse_status(accepted_job(), done).status is JobStatus.succeeded


def test_emulator_error_outcome_has_the_documented_shape() -> None:
    submit = load(MINIMAL)[0]
    (error,) = load(ERROR)
    clock = FakeClock()
    app = PixazoProvider.emulator(clock=clock)
    answer = emulator_answer(app, with_prompt(submit, "a lake emulate:error"), headers=KEY)
    clock.advance(60)
    failed = emulator_answer(app, status_of(error, answer.json()["request_id"]), headers=KEY)
    assert_same_shape(failed.json(), error.response_json())
    assert failed.json()["status"] == "ERROR"
    assert failed.json()["output"] is None
    assert isinstance(failed.json()["error"], str)


@pytest.mark.parametrize(
    ("cassette", "emulator_args"),
    [(BALANCE, {"balance": 0.0}), (MODEL_NOT_FOUND, {"disabled_models": ["dop-lite"]})],
)
def test_emulator_error_answers_equal_the_seed(
    cassette: Path, emulator_args: dict[str, Any]
) -> None:
    (documented,) = load(cassette)
    app = PixazoProvider.emulator(**emulator_args)
    answer = emulator_answer(app, documented, headers=KEY)
    assert answer.status_code == documented.status
    assert answer.json() == documented.response_json()
    assert not app.jobs


def test_emulator_refuses_a_missing_key_in_pixazo_shape() -> None:
    submit = load(MINIMAL)[0]
    app = PixazoProvider.emulator()
    answer = emulator_answer(app, submit, headers={})
    assert answer.status_code == 401
    assert_same_shape(answer.json(), load(BALANCE)[0].response_json())  # {"error","message"}
    assert not app.jobs


def test_no_cassette_holds_a_key() -> None:
    for path in CASSETTES.glob("*.yaml"):
        for item in load(path):
            secret = item.request_headers.get("ocp-apim-subscription-key")
            assert secret in (None, "REDACTED"), path.name


def test_emulator_times_are_utc() -> None:
    app = PixazoEmulator(clock=FakeClock(start=0.0))
    job = app.create_job("x", {"base_url": "https://gateway.pixazo.ai"})
    payload = app.payload(job)
    assert payload["created_at"] == "1970-01-01T00:00:00.000Z"
    assert datetime.fromisoformat(payload["created_at"]).tzinfo == UTC
