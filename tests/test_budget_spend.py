"""What a daily budget counts: reported spend, plus the estimate of money committed but not
reported — live jobs, unknown submits, and charged jobs whose provider never says what it
billed (Higgsfield bills credits and reports nothing per job)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from videogw import Attempt, AttemptOutcome, CostEstimate, Job, JobStatus, MemoryStore, Task
from videogw.ledger import SQLiteLedger

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
SINCE = NOW - timedelta(hours=1)


def charged_job(actual: Decimal | None, currency: str | None) -> Job:
    estimate = CostEstimate(
        amount=Decimal(2),
        currency="credits",
        usd=Decimal("0.125"),
        basis="credit table",
        source="test",
    )
    attempt = Attempt(
        provider="higgsfield",
        provider_model="higgsfield-ai/dop/lite",
        idempotency_key="k",
        outcome=AttemptOutcome.accepted,
        started_at=NOW,
        ended_at=NOW,
        status=JobStatus.succeeded,
        charged=True,
        actual_cost=actual,
        estimate=estimate,
    )
    return Job(
        model="dop-lite",
        task=Task.image_to_video,
        idempotency_key="k",
        status=JobStatus.succeeded,
        attempts=(attempt,),
        charged=True,
        actual_cost=actual,
        cost_currency=currency,
    )  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return MemoryStore() if request.param == "memory" else SQLiteLedger(tmp_path / "l.sqlite3")


def test_a_charged_job_without_a_reported_cost_is_committed_at_its_estimate(store: Any) -> None:
    store.create(charged_job(None, None))
    assert store.spend_usd(SINCE) == 0  # nothing was reported...
    assert store.committed_usd(SINCE) == Decimal("0.125")  # ...but the budget counts it


def test_a_reported_cost_in_credits_is_spend_at_the_estimates_rate(store: Any) -> None:
    store.create(charged_job(Decimal(4), "credits"))
    assert store.spend_usd(SINCE) == Decimal("0.25")
    assert store.committed_usd(SINCE) == 0
