"""`Gateway` and `AsyncGateway`: submit, status, cancel, wait, run, estimate.

All logic lives in `_GatewayCore` as generator operations (see `videogw.engine`); the two
classes only choose the driver. A job is written to the store before its first submit and
after every change, so a `Job` read back from the store (or from its JSON) is all a new
process needs to carry on tracking it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Self

from pydantic import ValidationError

from . import lifecycle
from .config import Config, config_error, load_config
from .engine import AsyncEngine, Clock, Op, RetryPolicy, Sleep, SyncEngine, drive
from .errors import (
    ConfigurationError,
    JobFailedError,
    NoCandidateError,
    OutcomeUnknownError,
    ProviderError,
    TransportError,
    UnknownProviderError,
    VideoGWError,
    WaitTimeoutError,
)
from .models import AttemptOutcome, CostEstimate, GenerationRequest, Job, JobStatus
from .plugins import Registry, get_registry
from .provider import Prepared, Provider, _invalid_from_pydantic
from .router import Router, decide
from .schedule import next_poll_delay
from .store import JobStore, MemoryStore

__all__ = ["AsyncGateway", "Gateway", "ProgressCallback", "Quote"]

log = logging.getLogger("videogw")

ProgressCallback = Callable[[Job], None]
MAX_STATUS_FAILURES = 8  # consecutive failed reads before wait() gives up (the job lives on)


@dataclass(frozen=True)
class Quote:
    """One provider's answer to "what would this request cost there?"."""

    provider: str
    model: str
    provider_model: str | None
    estimate: CostEstimate | None
    candidate: bool
    reason: str | None = None


class _GatewayCore:
    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        providers: Mapping[str, Provider] | Iterable[Provider] | None = None,
        registry: Registry | None = None,
        store: JobStore | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.config = config if isinstance(config, Config) else load_config(config)
        self.registry = registry or get_registry()
        self.clock = clock or Clock()
        self.retry = retry or RetryPolicy()
        self.store: JobStore = store if store is not None else MemoryStore()
        self._providers: dict[str, Provider] = {}
        if providers is not None:
            items = providers.values() if isinstance(providers, Mapping) else providers
            for provider in items:
                self._providers[provider.instance] = provider
        self.router = Router(self.config, self.provider_names, self.provider)

    # -- providers -------------------------------------------------------------------
    def provider_names(self) -> list[str]:
        """Every provider instance: given in code, configured, or registered by a plugin."""
        names = list(self._providers)
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
        for key, field in cls.Settings.model_fields.items():
            in_file = self.config._source is not None
            if in_file and key in raw and "SecretStr" in str(field.annotation):
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
        return cls(settings, instance=name)

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

    def _estimate_quietly(self, provider: Provider, prepared: Prepared) -> CostEstimate | None:
        try:
            return provider.estimate(prepared)
        except (NotImplementedError, VideoGWError) as exc:
            log.debug("%s: no estimate: %s", provider.instance, exc)
            return None

    # -- operations (shared by both drivers) -------------------------------------------
    def _submit_op(self, request: GenerationRequest) -> Op[Job]:
        plan = self.router.plan(request)
        now = self.clock.now()
        job = lifecycle.new_job(
            request, model=plan.model, task=plan.candidates[0].spec.task, now=now
        )
        self.store.save(job)  # the intent is on record before anything is sent
        last_error: VideoGWError | None = None
        for prepared in plan.candidates:
            provider = self.provider(prepared.provider)
            estimate = self._estimate_quietly(provider, prepared)
            started = self.clock.now()
            try:
                accepted = yield from drive(provider, provider.submit_flow(prepared), self.retry)
            except (ProviderError, TransportError) as exc:
                decision = decide(exc, plan.route)
                if decision.outcome_unknown:
                    job = lifecycle.record_unknown(
                        job,
                        prepared,
                        exc,
                        started=started,
                        now=self.clock.now(),
                        estimate=estimate,
                    )
                    self.store.save(job)
                    log.warning(
                        "job %s: submit to %s has an unknown outcome (%s); not resubmitting "
                        "anywhere: reconcile it",
                        job.id,
                        provider.instance,
                        exc,
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
                self.store.save(job)
                last_error = exc
                if decision.try_next:
                    log.info(
                        "job %s: %s refused the submit (%s); trying the next provider",
                        job.id,
                        provider.instance,
                        exc,
                    )
                    continue
                exc.job = job
                raise
            job = lifecycle.accept(
                job,
                prepared,
                accepted,
                started=started,
                now=self.clock.now(),
                estimate=estimate,
            )
            self.store.save(job)
            log.info("job %s: accepted by %s as %s", job.id, provider.instance, job.provider_job_id)
            return job
        assert last_error is not None  # plan() never returns without candidates
        last_error.job = job
        raise last_error

    def _status_op(self, job: Job) -> Op[Job]:
        if job.provider is None or job.provider_job_id is None:
            raise OutcomeUnknownError(
                f"job {job.id} has no provider job id: its submit outcome is unknown, so "
                "there is nothing to poll; reconcile it with the provider",
                provider=job.provider,
            )
        provider = self.provider(job.provider)
        update = yield from drive(provider, provider.status_flow(job), self.retry)
        new = lifecycle.apply_update(job, update, now=self.clock.now())
        if new.status is JobStatus.unknown and update.raw_status is not None:
            log.warning(
                "job %s: %s reported an unmapped status %r",
                job.id,
                provider.instance,
                update.raw_status,
            )
        if new != job:
            self.store.save(new)
        return new

    def _cancel_op(self, job: Job) -> Op[Job]:
        if job.provider is None or job.provider_job_id is None:
            raise OutcomeUnknownError(
                f"job {job.id} has no provider job id to cancel", provider=job.provider
            )
        provider = self.provider(job.provider)
        update = yield from drive(provider, provider.cancel_flow(job), self.retry)
        new = lifecycle.apply_update(job, update, now=self.clock.now())
        self.store.save(new)
        return new

    def _expected_seconds(self, job: Job) -> float | None:
        if job.provider is None:
            return None
        provider = self.provider(job.provider)
        if provider.settings.expected_job_s:
            return provider.settings.expected_job_s
        spec = provider.capabilities.models.get(job.model)
        return spec.typical_seconds if spec is not None else None

    def _wait_op(
        self,
        job: Job,
        timeout: float | None,
        on_progress: ProgressCallback | None,
        raise_on_failure: bool,
    ) -> Op[Job]:
        started = self.clock.monotonic()
        expected = self._expected_seconds(job)
        failures = 0
        while not job.status.is_terminal:
            age = (self.clock.now() - (job.submitted_at or job.created_at)).total_seconds()
            delay = next_poll_delay(
                age, expected, floor=self.config.poll.floor_s, cap=self.config.poll.cap_s
            )
            waited = self.clock.monotonic() - started
            last_look = timeout is not None and waited + delay >= timeout
            if last_look:
                assert timeout is not None
                delay = max(0.0, timeout - waited)
            yield Sleep(delay)
            try:
                new = yield from self._status_op(job)
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

    def _quotes_op(self, request: GenerationRequest) -> Op[list[Quote]]:
        quotes: list[Quote] = []
        candidates: list[Prepared] = []
        try:
            plan = self.router.plan(request)
        except NoCandidateError as exc:
            skipped: Mapping[str, str] = exc.reasons
        else:
            candidates, skipped = plan.candidates, plan.skipped
        for prepared in candidates:
            provider = self.provider(prepared.provider)
            estimate: CostEstimate | None
            try:
                estimate = yield from drive(provider, provider.estimate_flow(prepared), self.retry)
                reason = None
            except (NotImplementedError, VideoGWError) as exc:
                estimate, reason = None, f"no estimate: {exc}"
            quotes.append(
                Quote(
                    provider.instance,
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


class Gateway(_GatewayCore):
    """The blocking gateway. Use as a context manager (or call `close()`)."""

    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        transports: Mapping[str, Any] | None = None,
        transport: Any | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, **kwargs)
        self._engine = SyncEngine(
            transports=transports, transport=transport, **self._engine_options()
        )

    def submit(
        self, request: GenerationRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Job:
        """Validate, pick a provider, submit once. Returns the recorded `Job` right away."""
        return self._engine.run(self._submit_op(self._request(request, fields)))

    def status(self, job: Job) -> Job:
        return self._engine.run(self._status_op(job))

    def cancel(self, job: Job) -> Job:
        return self._engine.run(self._cancel_op(job))

    def wait(
        self,
        job: Job,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        raise_on_failure: bool = False,
    ) -> Job:
        return self._engine.run(self._wait_op(job, timeout, on_progress, raise_on_failure))

    def run(
        self,
        request: GenerationRequest | Mapping[str, Any] | None = None,
        /,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        raise_on_failure: bool = False,
        **fields: Any,
    ) -> Job:
        """Submit and wait."""
        op = self._run_op(self._request(request, fields), timeout, on_progress, raise_on_failure)
        return self._engine.run(op)

    def estimate(
        self, request: GenerationRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> list[Quote]:
        return self._engine.run(self._quotes_op(self._request(request, fields)))

    def catalog(self, provider: str, kind: str) -> list[dict[str, Any]]:
        return self._engine.run(self._catalog_op(provider, kind))

    def close(self) -> None:
        self._engine.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncGateway(_GatewayCore):
    """The asyncio gateway: the same operations, awaited."""

    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        transports: Mapping[str, Any] | None = None,
        transport: Any | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, **kwargs)
        self._engine = AsyncEngine(
            transports=transports, transport=transport, **self._engine_options()
        )

    async def submit(
        self, request: GenerationRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Job:
        return await self._engine.run(self._submit_op(self._request(request, fields)))

    async def status(self, job: Job) -> Job:
        return await self._engine.run(self._status_op(job))

    async def cancel(self, job: Job) -> Job:
        return await self._engine.run(self._cancel_op(job))

    async def wait(
        self,
        job: Job,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        raise_on_failure: bool = False,
    ) -> Job:
        return await self._engine.run(self._wait_op(job, timeout, on_progress, raise_on_failure))

    async def run(
        self,
        request: GenerationRequest | Mapping[str, Any] | None = None,
        /,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        raise_on_failure: bool = False,
        **fields: Any,
    ) -> Job:
        op = self._run_op(self._request(request, fields), timeout, on_progress, raise_on_failure)
        return await self._engine.run(op)

    async def estimate(
        self, request: GenerationRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> list[Quote]:
        return await self._engine.run(self._quotes_op(self._request(request, fields)))

    async def catalog(self, provider: str, kind: str) -> list[dict[str, Any]]:
        return await self._engine.run(self._catalog_op(provider, kind))

    async def aclose(self) -> None:
        await self._engine.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
