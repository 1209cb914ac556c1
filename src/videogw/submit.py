"""Submitting: validate, route, and try candidates under the money rules.

Every attempt is written ahead (`lifecycle.begin_attempt`, with its budget hold, in one
ledger transaction) before its request leaves the process, and its answer right after.
A crash at any instant therefore leaves a record naming the provider that may hold a paid
job. The idempotency key is unique per ledger: a known key returns its job (same
request) or raises `IdempotencyConflictError` (another request).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from . import lifecycle
from .callbacks import with_callback
from .config import Config
from .engine import Clock, Op, RetryPolicy, drive
from .errors import (
    BudgetExceededError,
    ConfigurationError,
    InFlightLimitError,
    InvalidRequestError,
    NoCandidateError,
    ProviderError,
    TransportError,
    VideoGWError,
)
from .events import EventBus, FailedOver, OutcomeUnknown, Submitted
from .health import ProviderHealth
from .ledger import Budget
from .models import AttemptOutcome, CostEstimate, GenerationRequest, Job
from .policy import decide, situation_of
from .provider import Accepted, Prepared
from .providerset import Providers
from .recorder import Recorder
from .router import Plan, Router

__all__ = ["Submitter"]

log = logging.getLogger("videogw")


class Submitter:
    def __init__(
        self,
        *,
        config: Config,
        providers: Providers,
        router: Router,
        recorder: Recorder,
        health: ProviderHealth,
        events: EventBus,
        clock: Clock,
        retry: RetryPolicy,
    ) -> None:
        self.config = config
        self.providers = providers
        self.router = router
        self.recorder = recorder
        self.health = health
        self.events = events
        self.clock = clock
        self.retry = retry
        # submit's monotonic start per job, so a latency seen finished in this process is
        # measured on one clock (read once by the tracker, then dropped)
        self._accepted_at: dict[str, float] = {}

    @property
    def lease_s(self) -> float:
        return self.config.ledger.lease_s

    def client_limit(self, client_key: str) -> Decimal | None:
        """The daily USD limit of a server client key (by id), read from the ledger."""
        for key in self.recorder.ledger.list_keys():
            if key.id == client_key:
                return key.budget_usd_per_day
        return None

    def budget(self, job: Job) -> Budget | None:
        """The limits a new attempt of `job` is checked against, in its write's transaction:
        the route's per-job cap, the ledger's daily cap and, for a job made through a
        server client key (``labels["client_key"]``), that key's daily cap."""
        route = self.router.route_for(job.model)
        per_job = route.max_cost_usd if route is not None else None
        daily = self.config.ledger.max_daily_spend_usd
        client = job.labels.get("client_key")
        client_daily = self.client_limit(client) if client else None
        if per_job is None and daily is None and client_daily is None:
            return None
        midnight = self.router.figures.start_of_day()  # the day the router's check uses
        if client_daily is not None:
            return Budget(
                since=midnight,
                daily_usd=client_daily,
                per_job_usd=per_job,
                client_key=client,
                overall_daily_usd=daily,
            )
        return Budget(since=midnight, daily_usd=daily, per_job_usd=per_job)

    def existing(self, request: GenerationRequest) -> Job | None:
        """The job this request's idempotency key already names (same request), if any."""
        known = self.recorder.ledger.get_by_key(request.idempotency_key)
        if known is None:
            return None
        # `create` of a known key compares the requests: the job, or a typed conflict
        return self.recorder.create(known, request)

    def submit_op(
        self,
        request: GenerationRequest,
        owner: str,
        *,
        keep_lease: bool = False,
        new_key: bool = False,
    ) -> Op[Job]:
        """A new logical job, tried on the plan's candidates in order. `owner` leases it
        while the submit runs, and after it when `keep_lease` (to wait on it).

        `new_key`: the request's idempotency key was drawn for this very call, so no job
        can hold it and the ledger is not asked first (a read per submit). The write-ahead
        claims the key atomically either way."""
        known = None if new_key else self.existing(request)
        if known is not None:
            log.info("job %s: idempotency key already used; returning that job", known.id)
            return known
        self.health.refresh()  # what the fleet learned about providers, before planning
        plan = self.router.plan(request)
        job = lifecycle.new_job(
            request, model=plan.model, task=plan.candidates[0].spec.task, now=self.clock.now()
        )
        done = False
        try:
            job = yield from self.attempts_op(
                job, request, plan, owner, raise_errors=True, release=not keep_lease
            )
            done = True
            return job
        finally:
            # an accepted job's lease is kept (`keep_lease`) or was given up by the write
            # that recorded the acceptance; every other ending gives it up here
            if not (done and job.provider_job_id is not None):
                self.recorder.release(job.id, owner)

    def attempts_op(
        self,
        job: Job,
        request: GenerationRequest,
        plan: Plan,
        owner: str,
        *,
        raise_errors: bool,
        release: bool = False,
    ) -> Op[Job]:
        """Try the plan's candidates in order under the money table; return the job once one
        accepts or the outcome is unknown; otherwise the job ends failed (raised when
        `raise_errors`). `job` is new (version 0: stored with its first attempt) or a
        stored job whose lease `owner` holds (a resubmit). `release`: the write recording
        an acceptance gives `owner`'s lease up too (one write instead of two)."""
        last_error: VideoGWError | None = None
        skipped: dict[str, str] = {}
        budget = self.budget(job)
        candidates = plan.candidates
        self.health.refresh()
        for index, prepared in enumerate(candidates):
            provider = self.providers.get(prepared.provider)
            prepared = with_callback(provider, prepared, self.config.public_url, job.id)
            name, model = provider.instance, prepared.model
            if not self.health.breakers.acquire(name, model):
                # the state moved since planning (a probe went out, a cool-down started)
                skipped[name] = self.health.breakers.blocked(name, model) or "circuit breaker"
                log.info("job %s: skipping %s: %s", job.id, name, skipped[name])
                continue
            estimate = plan.estimates.get(name)
            started = self.clock.now()
            began = self.clock.monotonic()
            prior = job

            begin = self._begin(prepared, estimate, started)
            limits = self._with_in_flight(budget, name, provider.settings.max_in_flight)

            try:
                job = self._write_ahead(job, request, begin, limits, owner)
            except BudgetExceededError as exc:
                self.health.breakers.release(name, model)
                skipped[name] = str(exc)
                last_error = exc
                log.info("job %s: not sending to %s: %s", job.id, name, exc)
                continue
            except BaseException:
                self.health.breakers.release(name, model)
                raise
            if job.id != prior.id:
                # another process created this key's job first: that one stands
                self.health.breakers.release(name, model)
                return job
            n = len(job.attempts) - 1
            try:
                accepted = yield from drive(
                    provider, provider.submit_flow(prepared), self.retry, submit=True
                )
            except (ProviderError, TransportError) as exc:
                decision = decide(situation_of(exc), plan.route)
                self.health.account(name, model, exc, decision)
                if decision.outcome_unknown:
                    job = self.recorder.change(job, self._unknown(n, exc))
                    self.events.emit(OutcomeUnknown(job, str(exc)))
                    log.warning(
                        "job %s: submit to %s has an unknown outcome (%s); not resubmitting "
                        "anywhere: reconcile it",
                        job.id,
                        name,
                        exc,
                        extra={"job_id": job.id},
                    )
                    return job
                outcome = (
                    AttemptOutcome.not_sent
                    if isinstance(exc, TransportError)
                    else AttemptOutcome.rejected
                )
                job = self.recorder.change(job, self._failure(n, exc, outcome, prior))
                last_error = exc
                if not decision.try_next:
                    break
                following = [c.provider for c in candidates[index + 1 :]]
                self.failed_over(job, name, following[0] if following else None, exc)
                continue
            except (InvalidRequestError, ConfigurationError) as exc:
                # refused by the provider's own code while building the call: nothing was
                # sent, so the job ends here rather than waiting for a reconciliation
                self.health.breakers.release(name, model)
                job = self.recorder.change(
                    job, self._failure(n, exc, AttemptOutcome.not_sent, prior)
                )
                job = self.recorder.change(job, self._give_up(exc))
                exc.job = job
                raise
            except BaseException:
                # cancelled or crashed mid-submit: the attempt stays "sending" on record,
                # naming this provider, and is reconciled like an unknown outcome
                self.health.breakers.release(name, model)
                raise
            self.health.breakers.success(name, model)
            job = self.recorder.change(
                job,
                self._accept(n, prepared, accepted),
                accepted=(name, accepted.provider_job_id),
                release=owner if release else None,
            )
            if len(self._accepted_at) > 100_000:
                self._accepted_at.clear()  # jobs submitted here but tracked elsewhere
            self._accepted_at[job.id] = began
            self.events.emit(Submitted(job))
            log.info(
                "job %s: accepted by %s as %s",
                job.id,
                name,
                job.provider_job_id,
                extra={"job_id": job.id},
            )
            return job
        error = last_error or NoCandidateError(
            "every candidate was skipped at submit time", reasons=skipped
        )
        if isinstance(error, InFlightLimitError) and skipped:
            error = NoCandidateError(
                "every candidate is at its max_in_flight or would pass a budget",
                reasons=skipped,
            )
        elif isinstance(error, BudgetExceededError) and skipped:
            error = NoCandidateError("every candidate would pass a budget", reasons=skipped)
        if job.version == 0:
            job = self.recorder.create(lifecycle.give_up(job, error, now=self.clock.now()), request)
        else:
            job = self.recorder.change(job, self._give_up(error))
        if raise_errors:
            error.job = job
            raise error
        return job

    def _with_in_flight(
        self, budget: Budget | None, provider: str, limit: int | None
    ) -> Budget | None:
        """`budget`, plus the provider's fleet-wide `max_in_flight` when it has one."""
        if limit is None:
            return budget
        if budget is None:
            return Budget(since=self.clock.now(), provider=provider, max_in_flight=limit)
        return replace(budget, provider=provider, max_in_flight=limit)

    def monotonic_start(self, job_id: str) -> float | None:
        """When this process sent the job's accepted submit (monotonic), once."""
        return self._accepted_at.pop(job_id, None)

    def _write_ahead(
        self,
        job: Job,
        request: GenerationRequest,
        begin: Callable[[Job], Job],
        budget: Budget | None,
        owner: str,
    ) -> Job:
        """Commit the attempt (and its hold) before anything is sent."""
        if job.version == 0:
            return self.recorder.create(
                begin(job), request, lease=(owner, self.lease_s), budget=budget
            )
        return self.recorder.change(job, begin, budget=budget)

    def _begin(
        self, prepared: Prepared, estimate: CostEstimate | None, started: datetime
    ) -> Callable[[Job], Job]:
        return lambda j: lifecycle.begin_attempt(
            j, prepared, started=started, now=self.clock.now(), estimate=estimate
        )

    def _unknown(self, n: int, error: VideoGWError) -> Callable[[Job], Job]:
        return lambda j: lifecycle.record_unknown(j, n, error, now=self.clock.now())

    def _give_up(self, error: VideoGWError) -> Callable[[Job], Job]:
        return lambda j: lifecycle.give_up(j, error, now=self.clock.now())

    def _accept(self, n: int, prepared: Prepared, accepted: Accepted) -> Callable[[Job], Job]:
        return lambda j: lifecycle.accept(j, n, prepared, accepted, now=self.clock.now())

    def _failure(
        self, n: int, error: VideoGWError, outcome: AttemptOutcome, prior: Job
    ) -> Callable[[Job], Job]:
        def transition(j: Job) -> Job:
            return lifecycle.record_failure(
                j, n, error, outcome=outcome, now=self.clock.now(), prior=prior
            )

        return transition

    def failed_over(self, job: Job, left: str, to: str | None, reason: object) -> None:
        self.events.emit(FailedOver(job, left, to, str(reason)))
        log.info(
            "job %s: %s did not take it (%s); %s",
            job.id,
            left,
            reason,
            f"trying {to}" if to else "no candidate left",
            extra={"job_id": job.id},
        )
