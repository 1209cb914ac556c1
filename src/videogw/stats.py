"""What the ledger knows about a provider and model: observed latency, success, cost.

Pure functions shared by every store (`MemoryStore` computes them over its dict, the
SQLite ledger over indexed rows), so routing (`fastest`), the poller (expected duration)
and `compare` read the same figures whatever the backend.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .models import AttemptOutcome, CostEstimate, Job, JobStatus

__all__ = ["AttemptFact", "ProviderStats", "Sample", "facts_from_job", "summarize", "usd_of"]

MAX_SAMPLES = 1000  # recent finished attempts per provider+model that the figures use


def usd_of(estimate: CostEstimate | None) -> Decimal | None:
    """The USD figure of an estimate, where one is known."""
    if estimate is None:
        return None
    if estimate.usd is not None:
        return estimate.usd
    return estimate.amount if estimate.currency == "USD" else None


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


@dataclass(frozen=True, slots=True)
class AttemptFact:
    """One attempt as a flat row: what the ledger indexes for statistics and budgets."""

    job_id: str
    n: int
    provider: str
    model: str  # neutral model of the logical job
    outcome: str
    status: str | None
    started_at: float
    ended_at: float | None
    latency_s: float | None
    charged: bool | None
    cost: Decimal | None
    currency: str | None
    cost_usd: Decimal | None
    estimate_usd: Decimal | None


def facts_from_job(job: Job, start: int = 0) -> list[AttemptFact]:
    """Rows for `job.attempts[start:]`."""
    facts: list[AttemptFact] = []
    last = len(job.attempts) - 1
    for n in range(start, len(job.attempts)):
        attempt = job.attempts[n]
        estimate = attempt.estimate
        currency: str | None = job.cost_currency if n == last else None
        if currency is None and estimate is not None:
            currency = estimate.currency
        cost = attempt.actual_cost
        cost_usd: Decimal | None = None
        if cost is not None:
            if currency == "USD":
                cost_usd = cost
            elif (
                estimate is not None
                and estimate.usd is not None
                and estimate.amount > 0
                and estimate.currency == currency
            ):
                # same unit as the estimate: its own rate converts the actual figure
                cost_usd = cost * estimate.usd / estimate.amount
        latency = None
        terminal = attempt.status is not None and attempt.status.is_terminal
        if (
            attempt.outcome is AttemptOutcome.accepted
            and terminal
            and attempt.ended_at
            and attempt.timed  # else its latency is unknown (`Attempt.timed`)
        ):
            # a wall clock stepped back must not feed `fastest` a negative latency
            latency = (
                attempt.latency_s
                if attempt.latency_s is not None
                else max(0.0, (attempt.ended_at - attempt.started_at).total_seconds())
            )
        facts.append(
            AttemptFact(
                job_id=job.id,
                n=n,
                provider=attempt.provider,
                model=job.model,
                # StrEnum members are strs; `.value` costs an enum descriptor call per write
                outcome=attempt.outcome,
                status=attempt.status,
                started_at=attempt.started_at.timestamp(),
                ended_at=_ts(attempt.ended_at),
                latency_s=latency,
                charged=attempt.charged,
                cost=cost,
                currency=currency,
                cost_usd=cost_usd,
                estimate_usd=usd_of(estimate),
            )
        )
    return facts


@dataclass(frozen=True, slots=True)
class Sample:
    """A finished, accepted attempt as the statistics need it."""

    status: str
    latency_s: float | None
    charged: bool | None
    cost: Decimal | None
    currency: str | None
    cost_usd: Decimal | None


@dataclass(frozen=True)
class ProviderStats:
    """Observed figures for one provider and neutral model (recent attempts only)."""

    provider: str
    model: str
    samples: int = 0  # finished accepted attempts considered
    p50_s: float | None = None  # latency of successful jobs, submit to seen finished
    p95_s: float | None = None
    # successful attempts whose latency is known (the poller's timing sample and single
    # waits, `Attempt.timed`): what p50_s and p95_s are taken over
    latency_samples: int = 0
    success_rate: float | None = None  # succeeded / finished (cancellations excluded)
    mean_cost: Decimal | None = None  # over charged attempts that reported a cost
    cost_currency: str | None = None
    mean_cost_usd: Decimal | None = None


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted `values`."""
    rank = max(1, math.ceil(q * len(values)))
    return values[rank - 1]


def summarize(provider: str, model: str, samples: Iterable[Sample]) -> ProviderStats:
    rows = list(samples)
    if not rows:
        return ProviderStats(provider, model)
    counted = [r for r in rows if r.status != JobStatus.cancelled.value]
    succeeded = [r for r in counted if r.status == JobStatus.succeeded.value]
    latencies = sorted(r.latency_s for r in succeeded if r.latency_s is not None)
    costs = [r for r in rows if r.charged and r.cost is not None]
    currency = None
    mean_cost = None
    if costs:
        currency = Counter(r.currency for r in costs).most_common(1)[0][0]
        same = [r.cost for r in costs if r.currency == currency and r.cost is not None]
        mean_cost = sum(same, start=Decimal(0)) / len(same)
    usd = [r.cost_usd for r in costs if r.cost_usd is not None]
    return ProviderStats(
        provider=provider,
        model=model,
        samples=len(rows),
        p50_s=_percentile(latencies, 0.50) if latencies else None,
        p95_s=_percentile(latencies, 0.95) if latencies else None,
        latency_samples=len(latencies),
        success_rate=len(succeeded) / len(counted) if counted else None,
        mean_cost=mean_cost,
        cost_currency=currency,
        mean_cost_usd=sum(usd, start=Decimal(0)) / len(usd) if usd else None,
    )


def sample_of(fact: AttemptFact) -> Sample | None:
    """The statistics sample of a finished accepted attempt; None for anything else."""
    if fact.outcome != AttemptOutcome.accepted.value or fact.status is None:
        return None
    if not JobStatus(fact.status).is_terminal:
        return None
    return Sample(
        fact.status, fact.latency_s, fact.charged, fact.cost, fact.currency, fact.cost_usd
    )
