"""Tracking accepted jobs: polling many at once, and the money rules after acceptance.

A mixin of the gateway core (generator ops only, no I/O): `_poll_op` reads a job and then
applies the rules of DESIGN §5 after acceptance: a refunded failure may move to the next
candidate (`retry_failed`); a job stuck queued past the route's deadline is cancelled
where cancel exists and then resubmitted, and otherwise kept tracking, so there are never
two live paid jobs for one logical job. Every attempt stays on the Job.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import lifecycle
from .engine import Op, RetryPolicy
from .errors import NotCancellableError, ProviderError, TransportError, VideoGWError
from .events import FailedOver, Finished, StatusChanged
from .models import GenerationRequest, Job, JobStatus
from .poller import Poller, Tracked
from .provider import StatusUpdate
from .router import Plan, Situation, decide
from .store import is_resumable, is_unknown_submit

if TYPE_CHECKING:
    from .config import Config, RouteConfig
    from .engine import Clock
    from .events import EventBus
    from .provider import Provider
    from .router import Router
    from .stats import ProviderStats
    from .store import JobStore

__all__ = ["MAX_STATUS_FAILURES", "POLL_ONCE", "TrackingOps"]

log = logging.getLogger("videogw")

MAX_STATUS_FAILURES = 8  # consecutive failed reads before tracking a job gives up (it lives on)
MIN_SAMPLES = 3  # observed jobs before the ledger's p50 replaces the typical duration
# The poller retries failed reads itself (rescheduling), so a worker is never held asleep.
POLL_ONCE = RetryPolicy(max_attempts=1)


class TrackingOps:
    if TYPE_CHECKING:
        config: Config
        clock: Clock
        store: JobStore
        events: EventBus
        router: Router

        def provider(self, name: str) -> Provider: ...
        def stats(self, provider: str, model: str) -> ProviderStats | None: ...
        def _status_op(self, job: Job, policy: RetryPolicy | None = None) -> Op[Job]: ...
        def _cancel_op(self, job: Job) -> Op[Job]: ...
        def _attempts_op(self, job: Job, plan: Plan, *, raise_errors: bool) -> Op[Job]: ...
        def _request_for(self, job: Job) -> GenerationRequest | None: ...

    def _init_tracking(self) -> None:
        self._pollers: list[Poller] = []

    # -- recording -------------------------------------------------------------------
    def _record(self, old: Job | None, new: Job) -> Job:
        """Write `new` and tell observers what changed."""
        self.store.save(new)
        if old is not None and old.status is not new.status:
            self.events.emit(StatusChanged(new, old.status))
            if new.status.is_terminal:
                self.events.emit(Finished(new))
        return new

    def _failed_over(self, job: Job, left: str, to: str | None, reason: object) -> None:
        self.events.emit(FailedOver(job, left, to, str(reason)))
        log.info(
            "job %s: %s did not take it (%s); %s",
            job.id,
            left,
            reason,
            f"trying {to}" if to else "no candidate left",
            extra={"job_id": job.id},
        )

    def _expected_seconds(self, job: Job) -> float | None:
        """How long the job should take: the ledger's observed p50 for its provider and
        model, else the provider's configured or typical duration."""
        if job.provider is None:
            return None
        observed = self.stats(job.provider, job.model)
        if observed is not None and observed.p50_s and observed.samples >= MIN_SAMPLES:
            return observed.p50_s
        provider = self.provider(job.provider)
        if provider.settings.expected_job_s:
            return provider.settings.expected_job_s
        spec = provider.capabilities.models.get(job.model)
        return spec.typical_seconds if spec is not None else None

    # -- after acceptance ------------------------------------------------------------
    def _poll_op(self, job: Job, policy: RetryPolicy | None = None) -> Op[Job]:
        """One status read, then the route's rules after acceptance."""
        job = yield from self._status_op(job, policy)
        return (yield from self._aftercare_op(job))

    def _route_of(self, job: Job) -> RouteConfig | None:
        return self.router.route_for(job.model)

    def _aftercare_op(self, job: Job) -> Op[Job]:
        if job.status is JobStatus.failed:
            refunded = job.charged is False
            situation = Situation.failed_refunded if refunded else Situation.failed_charged
            if not decide(situation, self._route_of(job)).try_next:
                return job
            why = job.error.message if job.error is not None else "failed"
            return (yield from self._resubmit_op(job, f"{situation.value}: {why}"))
        if job.status is JobStatus.queued:
            return (yield from self._queued_deadline_op(job))
        return job

    def _queued_deadline_op(self, job: Job) -> Op[Job]:
        route = self._route_of(job)
        deadline = route.queued_deadline_s if route is not None else None
        if deadline is None or job.submitted_at is None or job.provider is None:
            return job
        current = job.attempts[-1] if job.attempts else None
        age = (self.clock.now() - job.submitted_at).total_seconds()
        if age < deadline or current is None or current.reason is not None:
            return job  # not yet, or already dealt with
        provider = self.provider(job.provider)
        cancellable = provider.capabilities.cancel
        situation = (
            Situation.queued_deadline_cancel if cancellable else Situation.queued_deadline_no_cancel
        )
        decision = decide(situation, route)
        plan = self._next_plan(job) if decision.try_next else None
        if not decision.cancel_first or plan is None:
            why = "no cancel exists" if not cancellable else "no other candidate to move to"
            return self._keep_tracking(job, f"queued past the {deadline:g} s deadline; {why}")
        try:
            cancelled = yield from self._cancel_op(job)
        except NotCancellableError:
            return self._keep_tracking(job, "queued past the deadline, but it already started")
        except (ProviderError, TransportError) as exc:
            log.warning("job %s: cancel after the queued deadline failed: %s", job.id, exc)
            return job  # the next read tries again
        if cancelled.status is not JobStatus.cancelled:
            return cancelled
        reason = f"{situation.value}: queued past {deadline:g} s, cancelled"
        return (yield from self._resubmit_op(cancelled, reason, plan=plan))

    def _keep_tracking(self, job: Job, reason: str) -> Job:
        log.info("job %s: %s; kept tracking it", job.id, reason, extra={"job_id": job.id})
        noted = lifecycle.note_attempt(job, f"{reason}; kept tracking", now=self.clock.now())
        return self._record(job, noted)

    def _next_plan(self, job: Job) -> Plan | None:
        request = self._request_for(job)
        if request is None:
            log.warning("job %s: its request is not stored, so it cannot move on", job.id)
            return None
        tried = {attempt.provider for attempt in job.attempts}
        try:
            return self.router.plan(request, exclude=tried)
        except VideoGWError as exc:
            log.info("job %s: no candidate to move on to (%s)", job.id, exc)
            return None

    def _resubmit_op(self, job: Job, reason: str, plan: Plan | None = None) -> Op[Job]:
        plan = plan or self._next_plan(job)
        if plan is None:
            return job
        before = job
        self._failed_over(job, job.provider or "", plan.candidates[0].provider, reason)
        # on record before sending: if we die mid-submit, this job is listed as unknown
        job = self._record(job, lifecycle.begin_resubmit(job, now=self.clock.now()))
        job = yield from self._attempts_op(job, plan, raise_errors=False)
        if job.provider_job_id is None and job.status is not JobStatus.unknown:
            # nobody took it and nothing was created: the earlier outcome stands
            restored = before.model_copy(
                update={"attempts": job.attempts, "updated_at": self.clock.now()}
            )
            job = self._record(job, restored)
        return job

    # -- many jobs ---------------------------------------------------------------------
    def _new_poller(self) -> Poller:
        return Poller(
            monotonic=self.clock.monotonic,
            wall=self.clock.now,
            expected=self._expected_seconds,
            floor=self.config.poll.floor_s,
            cap=self.config.poll.cap_s,
            rng=random.Random(),
        )

    def _track_step_op(self, poller: Poller, entry: Tracked) -> Op[None]:
        """One poll of one tracked job, reported back to the poller."""
        job = entry.job
        try:
            new = yield from self._poll_op(job, POLL_ONCE)
        except (TransportError, ProviderError) as exc:
            after = getattr(exc, "retry_after", None)
            if after is not None and job.provider is not None:
                poller.pause(job.provider, float(after))
            if exc.retryable and entry.failures + 1 < MAX_STATUS_FAILURES:
                log.info("job %s: status read failed (%s); will look again", job.id, exc)
                poller.retry(entry, float(after) if after is not None else None)
            else:
                log.error(
                    "job %s: stopped tracking after %s; it lives on at %s: resume it later",
                    job.id,
                    exc,
                    job.provider,
                    extra={"job_id": job.id},
                )
                poller.give_up(entry, exc)
            return
        poller.update(entry, new)

    def _limits(self, jobs: Iterable[Job]) -> dict[str, int]:
        limits: dict[str, int] = {}
        for job in jobs:
            if job.provider is not None and job.provider not in limits:
                try:
                    limits[job.provider] = self.provider(job.provider).settings.max_concurrency
                except VideoGWError:
                    continue
        return limits

    def _resume_lists(self) -> tuple[list[Job], list[Job]]:
        resumable = getattr(self.store, "resumable", None)
        unknown = getattr(self.store, "unknown_submits", None)
        if resumable is not None and unknown is not None:
            return list(resumable()), list(unknown())
        jobs = self.store.find()
        return [j for j in jobs if is_resumable(j)], [j for j in jobs if is_unknown_submit(j)]

    def unknown_submits(self) -> list[Job]:
        """Jobs whose submit outcome is unknown (a paid job may exist): reconcile them with
        the provider; videogw never resubmits them on its own."""
        return self._resume_lists()[1]

    # -- webhooks ----------------------------------------------------------------------
    def apply_webhook_update(self, job_id: str, update: StatusUpdate) -> Job:
        """Fold a verified webhook delivery into a job; a job it finishes is no longer
        polled (a refunded failure on a `retry_failed` route is read once more, then moved
        on)."""
        job = None
        for poller in self._pollers:
            job = poller.job(job_id)
            if job is not None:
                break
        if job is None:
            job = self.store.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r}")
        new = lifecycle.apply_update(job, update, now=self.clock.now())
        if new != job:
            self._record(job, new)
        more = (
            new.status is JobStatus.failed
            and new.charged is False
            and decide(Situation.failed_refunded, self._route_of(new)).try_next
        )
        for poller in self._pollers:
            if new.status.is_terminal and not more:
                poller.settle(job_id, new)
            else:
                poller.touch(job_id, new, now=more)
        return new
