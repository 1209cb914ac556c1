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
from datetime import datetime
from decimal import Decimal
from typing import Any

from .config import RouteConfig
from .engine import Op, RetryPolicy, drive
from .errors import NoCandidateError, VideoGWError
from .models import CostEstimate, GenerationRequest, Job
from .provider import Prepared
from .providerset import Providers
from .quotes import Standing, ranked
from .router import Candidacy, Router

__all__ = [
    "Comparer",
    "Comparison",
    "Quote",
    "Standing",
    "job_seconds",
    "pinned_copy",
    "rows_from",
    "with_runs",
]

log = logging.getLogger("videogw")


@dataclass(frozen=True)
class Comparison(Standing):
    """A `Standing` with, after ``compare(run=True)``, the job that ran there."""

    job: Job | None = None  # run=True: the job this provider ran
    run_error: str | None = None  # run=True: why it could not run

    @property
    def measured_latency_s(self) -> float | None:
        """How long the job took: by the provider's own timestamps where it reports them,
        else from submit to when videogw saw it finish."""
        return job_seconds(self.job)[0] if self.job is not None else None

    @property
    def actual_cost(self) -> Decimal | None:
        return self.job.actual_cost if self.job is not None else None

    @property
    def actual_currency(self) -> str | None:
        return self.job.cost_currency if self.job is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {
            **super().as_dict(),
            "status": self.job.status.value if self.job is not None else None,
            "measured_latency_s": self.measured_latency_s,
            "actual_cost": self.actual_cost,
            "actual_currency": self.actual_currency,
            "run_error": self.run_error,
        }


PROVIDER_TIMES = (("created_at", "completed_at"), ("started_at", "finished_at"))


def job_seconds(job: Job) -> tuple[float | None, str]:
    """(seconds the job took, whose clock): the provider's timestamps when its answers
    carried them (``"provider"``), else submit to finish as videogw saw it
    (``"observed"``); (None, "") while it runs."""
    data = job.provider_data
    for start_key, end_key in PROVIDER_TIMES:
        start, end = data.get(start_key), data.get(end_key)
        if isinstance(start, str) and isinstance(end, str):
            try:
                took = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
            except (ValueError, TypeError):
                continue
            if took >= 0:
                return took, "provider"
    if job.finished_at is None or job.submitted_at is None:
        return None, ""
    return (job.finished_at - job.submitted_at).total_seconds(), "observed"


def rows_from(
    candidacies: Iterable[Candidacy],
    model: str,
    estimates: Mapping[str, CostEstimate | None] | None = None,
    route: RouteConfig | None = None,
) -> list[Comparison]:
    """Rows from the router's assessment (candidates already in try order), ranked;
    `estimates` overrides table estimates (e.g. with a provider's own estimate endpoint)."""
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
    return ranked(rows, route)


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


Quote = Standing  # what `estimate` answers: the same row type as explain and compare


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
        return ranked(quotes, self.router.route_for(request.model_name))

    def compare_op(self, request: GenerationRequest) -> Op[list[Comparison]]:
        rows = self.router.explain(request)
        estimates: dict[str, CostEstimate | None] = {}
        for row in rows:
            if row.prepared is not None:
                estimates[row.provider], _ = yield from self.estimate_op(row.prepared)
        route = self.router.route_for(request.model_name)
        return rows_from(rows, request.model_name, estimates, route)

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
