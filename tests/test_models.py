"""The neutral data model: statuses, media, estimates, and Jobs that round-trip exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import videogw
from videogw import (
    Attempt,
    AttemptOutcome,
    CostEstimate,
    GenerationRequest,
    Job,
    JobError,
    JobStatus,
    Media,
    Output,
    Task,
)


def test_terminal_statuses() -> None:
    terminal = {s for s in JobStatus if s.is_terminal}
    assert terminal == {
        JobStatus.succeeded,
        JobStatus.failed,
        JobStatus.content_filtered,
        JobStatus.cancelled,
        JobStatus.expired,
    }
    assert not JobStatus.unknown.is_terminal  # an unknown outcome must be reconciled


def test_media_coercion() -> None:
    assert Media.model_validate("https://e.com/a.jpg").url == "https://e.com/a.jpg"
    assert Media.model_validate(b"abc").data == b"abc"
    with pytest.raises(ValidationError, match="https://"):
        Media.model_validate("ftp://e.com/a.jpg")


def test_bytes_are_not_shown_in_reprs() -> None:
    assert "secret-bytes" not in repr(Media(data=b"secret-bytes"))


def test_estimate_range_must_hold_the_amount() -> None:
    with pytest.raises(ValidationError, match="within low..high"):
        CostEstimate(amount=Decimal(5), low=Decimal(1), high=Decimal(2), basis="b", source="s")
    estimate = CostEstimate(
        amount=Decimal("2.5"),
        low=Decimal("0.863"),
        high=Decimal("4.22"),
        basis="documented range",
        source="segmind",
    )
    assert estimate.is_range


def test_every_request_gets_its_own_idempotency_key() -> None:
    a = GenerationRequest(model="dop-lite")
    b = GenerationRequest(model="dop-lite")
    assert a.idempotency_key != b.idempotency_key


def test_pinned_model() -> None:
    request = GenerationRequest(model="pixazo:dop-lite")
    assert (request.pinned_provider, request.model_name) == ("pixazo", "dop-lite")


def test_spend_counts_only_charged_attempts() -> None:
    now = datetime.now(UTC)
    attempts = tuple(
        Attempt(
            provider=p,
            provider_model="m",
            idempotency_key="k",
            outcome=AttemptOutcome.accepted,
            started_at=now,
            actual_cost=Decimal(c),
            charged=charged,
        )
        for p, c, charged in (("a", "0.5", False), ("b", "0.25", True), ("c", "1", None))
    )
    job = Job(model="dop-lite", task=Task.image_to_video, idempotency_key="k", attempts=attempts)
    assert job.spend == Decimal("0.25")


decimals = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False)
aware = st.datetimes(timezones=st.just(UTC))
texts = st.text(max_size=30)


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    attempt = Attempt(
        provider=draw(texts),
        provider_model=draw(texts),
        idempotency_key="k",
        outcome=draw(st.sampled_from(AttemptOutcome)),
        started_at=draw(aware),
        provider_job_id=draw(st.none() | texts),
        status=draw(st.none() | st.sampled_from(JobStatus)),
        actual_cost=draw(st.none() | decimals),
        charged=draw(st.none() | st.booleans()),
        estimate=CostEstimate(
            amount=draw(decimals),
            currency="credits",
            usd=draw(decimals),
            basis=draw(texts),
            source=draw(texts),
        ),
    )
    return Job(
        model=draw(texts) or "m",
        task=draw(st.sampled_from(Task)),
        status=draw(st.sampled_from(JobStatus)),
        idempotency_key="key-1",
        provider_data=draw(st.dictionaries(texts, st.none() | st.integers() | texts, max_size=3)),
        outputs=(Output(url="https://e.com/o.mp4", expires_at=draw(st.none() | aware)),),
        error=JobError(kind="generation_failed", message=draw(texts)),
        actual_cost=draw(st.none() | decimals),
        charged=draw(st.none() | st.booleans()),
        attempts=(attempt,),
        created_at=draw(aware),
        updated_at=draw(aware),
    )


@settings(max_examples=60, deadline=None)
@given(jobs())
def test_job_round_trips_through_json_exactly(job: Job) -> None:
    assert Job.model_validate_json(job.model_dump_json()) == job


def test_jobs_are_frozen() -> None:
    job = Job(model="m", task=Task.text_to_image, idempotency_key="k")
    with pytest.raises(ValidationError):
        job.status = JobStatus.succeeded  # type: ignore[misc]


def test_public_api_is_complete() -> None:
    # order is kept by ruff (RUF022); here: no duplicates, and every name exists
    assert len(set(videogw.__all__)) == len(videogw.__all__)
    for name in videogw.__all__:
        assert hasattr(videogw, name), name
