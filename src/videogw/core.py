"""The gateway's logic, shared by `Gateway` and `AsyncGateway`: providers built from config,
requests validated and routed, and every operation written once as a generator (see
`videogw.engine`). Submits and failover before acceptance live here; tracking many jobs
and the money rules after acceptance in `videogw.tracking`; estimates and comparison in
`videogw.compare`.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from . import lifecycle
from .breaker import Breakers
from .callbacks import with_callback
from .compare import ComparisonOps
from .config import Config, config_error, load_config
from .credits import CreditState
from .engine import Clock, Op, RetryPolicy, Sleep, drive
from .errors import (
    ConfigurationError,
    InsufficientCreditsError,
    InvalidRequestError,
    JobFailedError,
    NoCandidateError,
    OutcomeUnknownError,
    ProviderError,
    TransportError,
    UnknownProviderError,
    VideoGWError,
    WaitTimeoutError,
)
from .events import EventBus, EventCallback, OutcomeUnknown, Submitted
from .ledger import open_store
from .models import AttemptOutcome, GenerationRequest, Job, JobStatus
from .plugins import Registry, get_registry
from .provider import Provider, _invalid_from_pydantic
from .redact import register_provider_secrets
from .router import Candidacy, Decision, Plan, Router, decide, situation_of
from .schedule import next_poll_delay
from .stats import ProviderStats
from .store import JobStore
from .tracking import MAX_STATUS_FAILURES, TrackingOps

__all__ = ["ProgressCallback", "ResumeReport"]

log = logging.getLogger("videogw")

ProgressCallback = Callable[[Job], None]
STATS_TTL_S = 30.0  # how long routing and polling reuse the ledger's figures


@dataclass(frozen=True)
class ResumeReport:
    """What `resume()` did: every job it tracked, as last seen (terminal unless its reads
    kept failing or the timeout passed), and the submits whose outcome is unknown, left
    untouched for reconciliation with the provider."""

    jobs: list[Job]
    unknown: list[Job]
    errors: dict[str, str] = field(default_factory=dict)


class _GatewayCore(TrackingOps, ComparisonOps):
    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        providers: Mapping[str, Provider] | Iterable[Provider] | None = None,
        registry: Registry | None = None,
        store: JobStore | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config if isinstance(config, Config) else load_config(config)
        self.registry = registry or get_registry()
        self.clock = clock or Clock()
        self.retry = retry or RetryPolicy()
        self._owns_store = store is None
        self.store: JobStore = store if store is not None else open_store(self.config.ledger)
        self._providers: dict[str, Provider] = {}
        if providers is not None:
            items = providers.values() if isinstance(providers, Mapping) else providers
            for provider in items:
                self._providers[provider.instance] = provider
        self._given = list(self._providers)
        self.events = EventBus()
        self.breakers = Breakers(self.config.breaker, self.clock.monotonic)
        self.credits = CreditState()
        self._stats_cache: dict[tuple[str, str], tuple[float, ProviderStats | None]] = {}
        self._requests: dict[str, GenerationRequest] = {}  # for stores that cannot keep them
        self._init_tracking()
        self.router = Router(
            self.config,
            self.provider_names,
            self.provider,
            breakers=self.breakers,
            credits=self.credits,
            stats=self.stats,
            spend=self._spent_today,
            now=self.clock.now,
            rng=rng,
        )

    # -- providers -------------------------------------------------------------------
    def provider_names(self) -> list[str]:
        """Every provider instance: given in code, configured, or registered by a plugin."""
        # given in code first, then the config file's order, then plugins: a stable order
        # (`_providers` also caches lazily built ones, in whatever order they were built)
        names = list(self._given)
        for name in self.config.providers:
            if name not in names:
                names.append(name)
        for name in self.registry.providers:
            if name not in names:
                names.append(name)
        return names

    def provider(self, name: str) -> Provider:
        found = self._providers.get(name)
        if found is None:
            found = self._providers[name] = self._build_provider(name)
        return found

    def _build_provider(self, name: str) -> Provider:
        raw = dict(self.config.providers.get(name, {}))
        plugin = raw.get("plugin", name)
        if plugin != name and name not in self.config.providers:
            raise UnknownProviderError(f"no provider named {name!r}")
        cls = self.registry.get(plugin).provider_class
        for key, field_info in cls.Settings.model_fields.items():
            in_file = self.config._source is not None
            if in_file and key in raw and "SecretStr" in str(field_info.annotation):
                raise ConfigurationError(
                    f"{self.config.locate(f'providers.{name}.{key}') or 'config'}: "
                    f"{key} must not be written in the config file; put it in the environment "
                    f"and name the variable with {key}_env"
                )
        try:
            settings = cls.Settings.model_validate(raw)
        except ValidationError as exc:
            raise config_error(
                exc,
                text=self.config._text,
                source=self.config._source or "config",
                prefix=("providers", name),
            ) from None
        provider = cls(settings, instance=name)
        register_provider_secrets(provider)  # redacted from now on; whitespace refused
        return provider

    def reset_provider(self, name: str | None = None) -> None:
        """Forget breaker, cool-down and credit state (of one provider, or all): after a
        top-up or a key rotation."""
        self.breakers.reset(name)
        self.credits.reset(name)

    # -- observing -------------------------------------------------------------------
    def on_event(self, callback: EventCallback) -> Callable[[], None]:
        """Call `callback` with every `videogw.events.JobEvent`; returns an unsubscriber."""
        return self.events.subscribe(callback)

    def stats(self, provider: str, model: str) -> ProviderStats | None:
        """What the ledger observed for a provider and neutral model (cached briefly)."""
        read = getattr(self.store, "stats", None)
        if read is None:
            return None
        key = (provider, model)
        now = self.clock.monotonic()
        hit = self._stats_cache.get(key)
        if hit is not None and now - hit[0] < STATS_TTL_S:
            return hit[1]
        value: ProviderStats | None = read(provider, model)
        self._stats_cache[key] = (now, value)
        return value

    def refresh_stats(self) -> None:
        self._stats_cache.clear()

    def _spent_today(self, since: datetime) -> Decimal | None:
        spend = getattr(self.store, "spend_usd", None)
        if spend is None:
            return None
        total: Decimal = spend(since)
        committed = getattr(self.store, "committed_usd", None)
        if committed is not None:
            total += committed(since)
        return total

    # -- requests --------------------------------------------------------------------
    @staticmethod
    def _request(
        request: GenerationRequest | Mapping[str, Any] | None, fields: Any
    ) -> GenerationRequest:
        if isinstance(request, GenerationRequest):
            return request.model_copy(update=fields) if fields else request
        data = {**(request or {}), **fields}
        try:
            return GenerationRequest.model_validate(data)
        except ValidationError as exc:
            raise _invalid_from_pydantic(exc) from None

    def _remember(self, job: Job, request: GenerationRequest) -> None:
        """Keep the request: a resubmit after acceptance (retry_failed, a queued deadline)
        needs it, possibly in another process after a crash."""
        save = getattr(self.store, "save_request", None)
        if save is not None:
            save(job.id, request)
        else:
            self._requests[job.id] = request

    def _request_for(self, job: Job) -> GenerationRequest | None:
        if job.id in self._requests:
            return self._requests[job.id]
        load = getattr(self.store, "load_request", None)
        if load is None:
            return None
        try:
            found: GenerationRequest | None = load(job.id)
        except (ValueError, OSError) as exc:  # e.g. a local input file is gone
            log.warning("job %s: stored request unusable: %s", job.id, exc)
            return None
        return found

    def explain(
        self, request: GenerationRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> list[Candidacy]:
        """Every provider for this request: candidates in the order they would be tried,
        then the others, each with why not (capability, breaker, credit, budget...)."""
        return self.router.explain(self._request(request, fields))

    # -- submit and failover before acceptance ----------------------------------------
    def _submit_op(self, request: GenerationRequest) -> Op[Job]:
        plan = self.router.plan(request)
        now = self.clock.now()
        job = lifecycle.new_job(
            request, model=plan.model, task=plan.candidates[0].spec.task, now=now
        )
        self.store.save(job)  # the intent is on record before anything is sent
        self._remember(job, request)
        return (yield from self._attempts_op(job, plan, raise_errors=True))

    def _attempts_op(self, job: Job, plan: Plan, *, raise_errors: bool) -> Op[Job]:
        """Try the plan's candidates in order under the money table; return the job once
        one accepts or the outcome is unknown; otherwise the job ends failed (raised when
        `raise_errors`)."""
        last_error: VideoGWError | None = None
        skipped: dict[str, str] = {}
        candidates = plan.candidates
        for index, prepared in enumerate(candidates):
            provider = self.provider(prepared.provider)
            prepared = with_callback(provider, prepared, self.config.public_url, job.id)
            name, model = provider.instance, prepared.model
            if not self.breakers.acquire(name, model):
                # the state moved since planning (a probe went out, a cool-down started)
                skipped[name] = self.breakers.blocked(name, model) or "circuit breaker"
                log.info("job %s: skipping %s: %s", job.id, name, skipped[name])
                continue
            estimate = plan.estimates.get(name)
            started = self.clock.now()
            try:
                accepted = yield from drive(provider, provider.submit_flow(prepared), self.retry)
            except (ProviderError, TransportError) as exc:
                situation = situation_of(exc)
                decision = decide(situation, plan.route)
                self._account(name, model, exc, decision)
                old = job
                if decision.outcome_unknown:
                    job = lifecycle.record_unknown(
                        job, prepared, exc, started=started, now=self.clock.now(), estimate=estimate
                    )
                    self._record(old, job)
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
                job = lifecycle.record_failure(
                    job,
                    prepared,
                    exc,
                    outcome=outcome,
                    started=started,
                    now=self.clock.now(),
                    estimate=estimate,
                )
                self._record(old, job)
                last_error = exc
                if not decision.try_next:
                    break
                following = [c.provider for c in candidates[index + 1 :]]
                self._failed_over(job, name, following[0] if following else None, exc)
                continue
            except (InvalidRequestError, ConfigurationError) as exc:
                # refused by the provider's own code while building the call: nothing was
                # sent, so the job ends here rather than waiting for a reconciliation
                self.breakers.release(name, model)
                old = job
                job = lifecycle.record_failure(
                    job,
                    prepared,
                    exc,
                    outcome=AttemptOutcome.not_sent,
                    started=started,
                    now=self.clock.now(),
                    estimate=estimate,
                )
                job = self._record(old, lifecycle.give_up(job, exc, now=self.clock.now()))
                exc.job = job
                raise
            except BaseException:
                self.breakers.release(name, model)  # no verdict on the provider
                raise
            self.breakers.success(name, model)
            old = job
            job = lifecycle.accept(
                job, prepared, accepted, started=started, now=self.clock.now(), estimate=estimate
            )
            self._record(old, job)
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
        old = job
        job = lifecycle.give_up(job, error, now=self.clock.now())
        self._record(old, job)
        if raise_errors:
            error.job = job
            raise error
        return job

    def _account(self, name: str, model: str, error: VideoGWError, decision: Decision) -> None:
        """What a failed submit does to the provider's standing (breaker, credit)."""
        if decision.cooldown:
            self.breakers.failure(name, model)
            after = getattr(error, "retry_after", None)
            if after:
                self.breakers.cool_down(name, float(after))
        else:
            self.breakers.release(name, model)
        if decision.disable:
            credit = isinstance(error, InsufficientCreditsError)
            what = "out of credit" if credit else "authentication failed"
            self.credits.disable(
                name, f"{what} ({error}); skipped until reset_provider({name!r})", credit=credit
            )

    # -- reading, cancelling, waiting --------------------------------------------------
    def _status_op(self, job: Job, policy: RetryPolicy | None = None) -> Op[Job]:
        if job.provider is None or job.provider_job_id is None:
            raise OutcomeUnknownError(
                f"job {job.id} has no provider job id: its submit outcome is unknown, so "
                "there is nothing to poll; reconcile it with the provider",
                provider=job.provider,
            )
        provider = self.provider(job.provider)
        update = yield from drive(provider, provider.status_flow(job), policy or self.retry)
        new = lifecycle.apply_update(job, update, now=self.clock.now())
        if update.remaining_credits is not None:
            threshold = getattr(provider.settings, "low_credit_threshold", None)
            self.credits.observe(provider.instance, update.remaining_credits, threshold)
        if new.status is JobStatus.unknown and update.raw_status is not None:
            log.warning(
                "job %s: %s reported an unmapped status %r",
                job.id,
                provider.instance,
                update.raw_status,
                extra={"job_id": job.id},
            )
        if new.model_copy(update={"updated_at": job.updated_at}) == job:
            return job  # nothing new: no write (the poller reads ten thousand jobs)
        return self._record(job, new)

    def _cancel_op(self, job: Job) -> Op[Job]:
        if job.provider is None or job.provider_job_id is None:
            raise OutcomeUnknownError(
                f"job {job.id} has no provider job id to cancel", provider=job.provider
            )
        provider = self.provider(job.provider)
        update = yield from drive(provider, provider.cancel_flow(job), self.retry)
        new = lifecycle.apply_update(job, update, now=self.clock.now())
        return self._record(job, new)

    def _wait_op(
        self,
        job: Job,
        timeout: float | None,
        on_progress: ProgressCallback | None,
        raise_on_failure: bool,
    ) -> Op[Job]:
        started = self.clock.monotonic()
        failures = 0
        while not job.status.is_terminal:
            if job.provider_job_id is None:
                return job  # a resubmit's outcome is unknown: nothing to poll
            age = (self.clock.now() - (job.submitted_at or job.created_at)).total_seconds()
            delay = next_poll_delay(
                age,
                self._expected_seconds(job),
                floor=self.config.poll.floor_s,
                cap=self.config.poll.cap_s,
            )
            waited = self.clock.monotonic() - started
            last_look = timeout is not None and waited + delay >= timeout
            if last_look:
                assert timeout is not None
                delay = max(0.0, timeout - waited)
            yield Sleep(delay)
            try:
                new = yield from self._poll_op(job)
            except (TransportError, ProviderError) as exc:
                failures += 1
                if not exc.retryable or failures >= MAX_STATUS_FAILURES:
                    raise
                log.warning("job %s: status read failed (%s); will look again", job.id, exc)
                new = job
            else:
                failures = 0
            if on_progress is not None and (new.status, new.progress) != (job.status, job.progress):
                on_progress(new)
            job = new
            if last_look and not job.status.is_terminal:
                raise WaitTimeoutError(job, self.clock.monotonic() - started)
        if raise_on_failure and job.status is not JobStatus.succeeded:
            raise JobFailedError(job)
        return job

    def _run_op(
        self,
        request: GenerationRequest,
        timeout: float | None,
        on_progress: ProgressCallback | None,
        raise_on_failure: bool,
    ) -> Op[Job]:
        job = yield from self._submit_op(request)
        if job.provider_job_id is None:
            return job  # outcome unknown: waiting would poll nothing
        return (yield from self._wait_op(job, timeout, on_progress, raise_on_failure))

    def _catalog_op(self, provider_name: str, kind: str) -> Op[list[dict[str, Any]]]:
        provider = self.provider(provider_name)
        return (yield from drive(provider, provider.catalog_flow(kind), self.retry))

    def get(self, job_id: str) -> Job:
        """A job from the store, to check on or resume after a restart."""
        job = self.store.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r} in the store")
        return job

    def _engine_options(self) -> dict[str, Any]:
        names = set(self.config.providers) | set(self._providers)
        timeouts, limits = {}, {}
        for name in names:
            try:
                provider = self.provider(name)
            except VideoGWError:
                continue
            timeouts[name] = provider.settings.timeout_s
            limits[name] = provider.settings.max_concurrency
        return {"timeouts": timeouts, "limits": limits, "clock": self.clock}

    def _close_store(self) -> None:
        if self._owns_store:
            self.store.close()
