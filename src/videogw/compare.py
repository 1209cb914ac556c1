"""`compare`: one row per provider for a request, before and (opt-in) after spending.

Before: candidate or why not, the estimate (amount, currency, USD, its basis and source)
and what the ledger observed for that provider and model (p50/p95 latency, success rate,
mean actual cost, sample size). With ``run=True`` the request is submitted to every
candidate (each as its own logical job, pinned to that provider) and the row also holds
the measured latency and actual cost of that run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from .engine import Op, RetryPolicy, drive
from .errors import NoCandidateError, VideoGWError
from .models import CostEstimate, GenerationRequest, Job
from .provider import Prepared
from .providerset import Providers
from .router import Candidacy, Router
from .stats import ProviderStats, usd_of

__all__ = ["Comparer", "Comparison", "Quote", "pinned_copy", "rows_from", "with_runs"]

log = logging.getLogger("videogw")


@dataclass(frozen=True)
class Comparison:
    provider: str
    model: str
    provider_model: str | None
    candidate: bool
    reason: str | None
    estimate: CostEstimate | None
    stats: ProviderStats | None
    job: Job | None = None  # run=True: the job this provider ran
    run_error: str | None = None  # run=True: why it could not run

    @property
    def amount(self) -> Decimal | None:
        return self.estimate.amount if self.estimate is not None else None

    @property
    def currency(self) -> str | None:
        return self.estimate.currency if self.estimate is not None else None

    @property
    def usd(self) -> Decimal | None:
        return usd_of(self.estimate)

    @property
    def source(self) -> str | None:
        return self.estimate.source if self.estimate is not None else None

    @property
    def measured_latency_s(self) -> float | None:
        job = self.job
        if job is None or job.finished_at is None or job.submitted_at is None:
            return None
        return (job.finished_at - job.submitted_at).total_seconds()

    @property
    def actual_cost(self) -> Decimal | None:
        return self.job.actual_cost if self.job is not None else None

    @property
    def actual_currency(self) -> str | None:
        return self.job.cost_currency if self.job is not None else None

    def as_dict(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "provider": self.provider,
            "model": self.model,
            "provider_model": self.provider_model,
            "candidate": self.candidate,
            "reason": self.reason,
            "amount": self.amount,
            "currency": self.currency,
            "usd": self.usd,
            "basis": self.estimate.basis if self.estimate is not None else None,
            "source": self.source,
            "p50_s": stats.p50_s if stats else None,
            "p95_s": stats.p95_s if stats else None,
            "success_rate": stats.success_rate if stats else None,
            "mean_cost": stats.mean_cost if stats else None,
            "samples": stats.samples if stats else 0,
            "status": self.job.status.value if self.job is not None else None,
            "measured_latency_s": self.measured_latency_s,
            "actual_cost": self.actual_cost,
            "actual_currency": self.actual_currency,
            "run_error": self.run_error,
        }


def rows_from(
    candidacies: Iterable[Candidacy],
    model: str,
    estimates: Mapping[str, CostEstimate | None] | None = None,
) -> list[Comparison]:
    """Rows from the router's assessment; `estimates` overrides table estimates (e.g. with
    a provider's own estimate endpoint)."""
    rows = []
    for c in candidacies:
        estimate = c.estimate
        if estimates is not None and c.provider in estimates:
            estimate = estimates[c.provider] or estimate
        rows.append(
            Comparison(
                provider=c.provider,
                model=c.model or model,
                provider_model=c.prepared.spec.provider_model if c.prepared else None,
                candidate=c.candidate,
                reason=c.reason,
                estimate=estimate,
                stats=c.stats,
            )
        )
    return rows


def pinned_copy(request: GenerationRequest, provider: str, group: str) -> GenerationRequest:
    """The request pinned to one provider, as its own logical job (fresh idempotency key)."""
    from .models import new_idempotency_key

    return request.model_copy(
        update={
            "model": f"{provider}:{request.model_name}",
            "idempotency_key": new_idempotency_key(),
            "labels": {**request.labels, "compare": group},
        }
    )


def with_runs(
    rows: list[Comparison], jobs: Mapping[str, Job], errors: Mapping[str, str]
) -> list[Comparison]:
    return [
        replace(row, job=jobs.get(row.provider), run_error=errors.get(row.provider)) for row in rows
    ]


@dataclass(frozen=True)
class Quote:
    """One provider's answer to "what would this request cost there?"."""

    provider: str
    model: str
    provider_model: str | None
    estimate: CostEstimate | None
    candidate: bool
    reason: str | None = None


class Comparer:
    """Estimates and comparisons for a request: the router's assessment, each provider's
    own estimate endpoint where it has one, and the ledger's figures."""

    def __init__(self, *, router: Router, providers: Providers, retry: RetryPolicy) -> None:
        self.router = router
        self.providers = providers
        self.retry = retry

    def estimate_op(self, prepared: Prepared) -> Op[tuple[CostEstimate | None, str | None]]:
        """The provider's own estimate endpoint where it has one (else its table), or why
        there is none: a missing estimate never stops a quote or a comparison."""
        provider = self.providers.get(prepared.provider)
        try:
            estimate = yield from drive(provider, provider.estimate_flow(prepared), self.retry)
        except (NotImplementedError, VideoGWError) as exc:
            log.debug("%s: no estimate: %s", prepared.provider, exc)
            return None, f"no estimate: {exc}"
        return estimate, None

    def quotes_op(self, request: GenerationRequest) -> Op[list[Quote]]:
        quotes: list[Quote] = []
        candidates: list[Prepared] = []
        try:
            plan = self.router.plan(request)
        except NoCandidateError as exc:
            skipped: Mapping[str, str] = exc.reasons
        else:
            candidates, skipped = plan.candidates, plan.skipped
        for prepared in candidates:
            estimate, reason = yield from self.estimate_op(prepared)
            quotes.append(
                Quote(
                    prepared.provider,
                    prepared.model,
                    prepared.spec.provider_model,
                    estimate,
                    True,
                    reason,
                )
            )
        for name, why in skipped.items():
            quotes.append(Quote(name, request.model_name, None, None, False, why))
        return quotes

    def compare_op(self, request: GenerationRequest) -> Op[list[Comparison]]:
        rows = self.router.explain(request)
        estimates: dict[str, CostEstimate | None] = {}
        for row in rows:
            if row.prepared is not None:
                estimates[row.provider], _ = yield from self.estimate_op(row.prepared)
        return rows_from(rows, request.model_name, estimates)

    @staticmethod
    def runs(
        rows: list[Comparison], request: GenerationRequest
    ) -> list[tuple[str, GenerationRequest]]:
        group = uuid.uuid4().hex[:12]
        return [(r.provider, pinned_copy(request, r.provider, group)) for r in rows if r.candidate]

    @staticmethod
    def result(
        rows: list[Comparison],
        submitted: dict[str, Job],
        errors: dict[str, str],
        finished: list[Job],
    ) -> list[Comparison]:
        by_id = {job.id: job for job in finished}
        jobs = {name: by_id.get(job.id, job) for name, job in submitted.items()}
        return with_runs(rows, jobs, errors)
