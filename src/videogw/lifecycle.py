"""Pure transitions of a `Job`: each takes a job and returns the next one (jobs are frozen)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import ProviderError, TransportError, VideoGWError
from .models import (
    Attempt,
    AttemptOutcome,
    CostEstimate,
    GenerationRequest,
    Job,
    JobError,
    JobStatus,
    Task,
)
from .provider import Accepted, Prepared, StatusUpdate

__all__ = [
    "accept",
    "apply_update",
    "begin_attempt",
    "give_up",
    "new_job",
    "note_attempt",
    "record_failure",
    "record_unknown",
]


def new_job(request: GenerationRequest, *, model: str, task: Task, now: datetime) -> Job:
    return Job(
        model=model,
        task=task,
        idempotency_key=request.idempotency_key,
        labels=dict(request.labels),
        created_at=now,
        updated_at=now,
    )


def _attempt_fields(error: VideoGWError) -> dict[str, Any]:
    fields: dict[str, Any] = {"reason": f"{type(error).__name__}: {error}"}
    if isinstance(error, ProviderError):
        fields |= {
            "http_status": error.status_code,
            "provider_request_id": error.provider_request_id,
        }
    return fields


def _attempt(
    prepared: Prepared,
    outcome: AttemptOutcome,
    *,
    started: datetime,
    estimate: CostEstimate | None,
    **fields: Any,
) -> Attempt:
    return Attempt(
        provider=prepared.provider,
        provider_model=prepared.spec.provider_model,
        idempotency_key=prepared.request.idempotency_key,
        outcome=outcome,
        started_at=started,
        estimate=estimate,
        **fields,
    )


def _now_on(
    job: Job,
    prepared: Prepared,
    attempt: Attempt,
    *,
    started: datetime,
    now: datetime,
    **fields: Any,
) -> Job:
    """The job moved onto `attempt`: what an earlier attempt knew (its job id, outputs,
    cost) no longer describes it."""
    return job.model_copy(
        update={
            "attempts": (*job.attempts, attempt),
            "provider": prepared.provider,
            "provider_model": prepared.spec.provider_model,
            "estimate": attempt.estimate,
            "raw_status": None,
            "outputs": (),
            "actual_cost": None,
            "charged": None,
            "finished_at": None,
            "submitted_at": started,
            "updated_at": now,
            **fields,
        }
    )


def begin_attempt(
    job: Job,
    prepared: Prepared,
    *,
    started: datetime,
    now: datetime,
    estimate: CostEstimate | None,
) -> Job:
    """Write-ahead: the submit to `prepared.provider` is about to leave. Until its answer
    is recorded the job names that provider and counts as unknown (a paid job may exist
    there), and the attempt holds its estimate against budgets."""
    attempt = _attempt(
        prepared, AttemptOutcome.sending, started=started, estimate=estimate, status=None
    )
    return _now_on(
        job,
        prepared,
        attempt,
        started=started,
        now=now,
        status=JobStatus.unknown,
        provider_data=dict(prepared.provider_data),
        provider_job_id=None,
        aftercare=None,
        error=JobError(kind="outcome_unknown", message=f"submit to {prepared.provider} in flight"),
    )


# what describes the current attempt at the top of a Job: restored when a new attempt
# created nothing, so the job reads as it did before
_CURRENT = (
    "status",
    "raw_status",
    "provider",
    "provider_model",
    "provider_job_id",
    "provider_data",
    "outputs",
    "error",
    "estimate",
    "actual_cost",
    "cost_currency",
    "charged",
    "submitted_at",
    "finished_at",
    "aftercare",
    "progress",
)


def _resolve(job: Job, n: int, **changes: Any) -> tuple[Attempt, ...]:
    attempts = list(job.attempts)
    attempts[n] = attempts[n].model_copy(update=changes)
    return tuple(attempts)


def record_failure(
    job: Job,
    n: int,
    error: VideoGWError,
    *,
    outcome: AttemptOutcome,
    now: datetime,
    prior: Job,
) -> Job:
    """Attempt `n` created nothing (not sent, or refused): it ends here, and the job reads
    as it did before the attempt began (`prior`)."""
    attempts = _resolve(
        job, n, outcome=outcome, ended_at=now, charged=False, **_attempt_fields(error)
    )
    restored = {name: getattr(prior, name) for name in _CURRENT}
    return job.model_copy(update={**restored, "attempts": attempts, "updated_at": now})


def record_unknown(
    job: Job, n: int, error: TransportError | ProviderError | VideoGWError, *, now: datetime
) -> Job:
    """Attempt `n`'s outcome is unknown: a paid job may exist, so nothing else is tried."""
    attempts = _resolve(
        job, n, outcome=AttemptOutcome.unknown, status=JobStatus.unknown, **_attempt_fields(error)
    )
    return job.model_copy(
        update={
            "attempts": attempts,
            "status": JobStatus.unknown,
            "provider": attempts[n].provider,
            "provider_model": attempts[n].provider_model,
            # an earlier attempt's job id (a resubmit after a refunded failure) must not be
            # polled as if it were this one: this attempt has none we know of
            "provider_job_id": None,
            "aftercare": None,
            "error": JobError(kind="outcome_unknown", message=str(error)),
            "updated_at": now,
        }
    )


def accept(
    job: Job,
    n: int,
    prepared: Prepared,
    accepted: Accepted,
    *,
    now: datetime,
) -> Job:
    """Attempt `n` was accepted: its provider job id is the one to track."""
    attempts = _resolve(
        job,
        n,
        outcome=AttemptOutcome.accepted,
        provider_job_id=accepted.provider_job_id,
        provider_request_id=accepted.provider_request_id,
        status=accepted.status,
        reason=None,
    )
    job = job.model_copy(
        update={
            "attempts": attempts,
            "status": accepted.status,
            "raw_status": accepted.raw_status,
            "provider": attempts[n].provider,
            "provider_model": attempts[n].provider_model,
            "provider_job_id": accepted.provider_job_id,
            "provider_data": {**prepared.provider_data, **accepted.provider_data},
            "error": None,
            "aftercare": None,
            "updated_at": now,
        }
    )
    if accepted.update is not None:
        job = apply_update(job, accepted.update, now=now)
    return job


def adds_nothing(
    status: JobStatus,
    progress: float | None,
    raw_status: str | None,
    provider_data: Mapping[str, Any],
    update: StatusUpdate,
) -> bool:
    """Whether `update` says nothing but what a job with this status, progress, raw status
    and provider data already holds (so folding it in would change nothing but the time)."""
    return (
        update.status is status
        and (update.progress is None or update.progress == progress)
        and (update.raw_status is None or update.raw_status == raw_status)
        and update.outputs is None
        and update.error is None
        and update.actual_cost is None
        and update.cost_currency is None
        and update.charged is None
        and update.remaining_credits is None
        and all(
            key in provider_data and provider_data[key] == value
            for key, value in update.provider_data.items()
        )
    )


def apply_update(
    job: Job,
    update: StatusUpdate,
    *,
    now: datetime,
    latency_s: float | None = None,
    timed: bool = True,
) -> Job:
    """Fold a status read (or a verified webhook) into the job and its current attempt."""
    if (
        job.status.is_terminal
        and job.status != update.status
        and update.status
        in (
            JobStatus.queued,
            JobStatus.running,
            JobStatus.unknown,
        )
    ):
        return job  # a late or duplicate delivery never walks a finished job backwards
    changes: dict[str, object] = {"status": update.status, "updated_at": now}
    if update.raw_status is not None:
        changes["raw_status"] = update.raw_status
    if update.outputs is not None:
        changes["outputs"] = update.outputs
    if update.error is not None:
        changes["error"] = update.error
    if update.actual_cost is not None:
        changes["actual_cost"] = update.actual_cost
    if update.cost_currency is not None:
        changes["cost_currency"] = update.cost_currency
    if update.charged is not None:
        changes["charged"] = update.charged
    if update.remaining_credits is not None:
        changes["remaining_credits"] = update.remaining_credits
    if update.progress is not None:
        changes["progress"] = update.progress
    if update.provider_data:
        changes["provider_data"] = {**job.provider_data, **update.provider_data}
    if update.status.is_terminal and job.finished_at is None:
        changes["finished_at"] = now
    if job.attempts:
        current = job.attempts[-1]
        attempt_changes: dict[str, object] = {"status": update.status}
        for name in ("actual_cost", "charged"):
            value = getattr(update, name)
            if value is not None:
                attempt_changes[name] = value
        if update.status.is_terminal:
            attempt_changes["ended_at"] = current.ended_at or now
            if not timed:
                attempt_changes["timed"] = False  # no read bounded it: latency unknown
            elif current.latency_s is None:
                # `latency_s` is measured on a monotonic clock where this process saw the
                # submit; wall time otherwise, never negative (a clock stepped back)
                attempt_changes["latency_s"] = (
                    latency_s
                    if latency_s is not None
                    else max(0.0, (now - current.started_at).total_seconds())
                )
        changes["attempts"] = (*job.attempts[:-1], current.model_copy(update=attempt_changes))
    new = job.model_copy(update=changes)
    return new


def give_up(job: Job, error: VideoGWError, *, now: datetime) -> Job:
    """No provider accepted the job and nothing may exist anywhere: it ended `failed`,
    uncharged (so it is neither resumed nor listed for reconciliation).

    A job that was accepted earlier (a resubmit that found no taker) keeps the outcome of
    its last accepted attempt instead."""
    if job.provider_job_id is not None or any(
        a.outcome in (AttemptOutcome.unknown, AttemptOutcome.sending) for a in job.attempts
    ):
        return job.model_copy(update={"aftercare": None, "updated_at": now})
    return job.model_copy(
        update={
            "status": JobStatus.failed,
            "error": JobError(
                kind=getattr(error, "kind", "provider_error"),
                message=str(error),
                provider_code=getattr(error, "code", None),
            ),
            "charged": False,
            "finished_at": now,
            "updated_at": now,
        }
    )


def note_attempt(job: Job, reason: str, *, now: datetime) -> Job:
    """Say on the current attempt why something was (or was not) done about it."""
    if not job.attempts:
        return job
    current = job.attempts[-1].model_copy(update={"reason": reason})
    return job.model_copy(update={"attempts": (*job.attempts[:-1], current), "updated_at": now})
