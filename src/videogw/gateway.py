"""`Gateway` and `AsyncGateway`: submit, status, cancel, wait, run, estimate, compare,
wait_all, resume.

Thin facades: they build the services (providers, router, the recorder over the ledger,
submit, track, compare) with explicit collaborators, and pick the driver (`SyncEngine` or
`AsyncEngine`) that runs the services' operations. Every job change goes through the one
`Recorder`, so a `Job` read back from the ledger (or from its JSON) is all a new process
needs to carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Self, Unpack

import httpx
from pydantic import ValidationError

from .breaker import Breakers
from .compare import Comparer, Comparison, Quote
from .config import Config, load_config
from .credits import CreditState
from .download import DownloadPolicy, adownload, download, output_paths
from .download import ProgressCallback as DownloadProgress
from .engine import AsyncEngine, Clock, Op, RetryPolicy, SyncEngine, drive
from .errors import UnsupportedOperationError, VideoGWError
from .events import EventBus, EventCallback
from .figures import Figures
from .health import ProviderHealth
from .ledger import Ledger, new_owner, open_ledger
from .models import GenerationRequest, Job, RequestFields
from .plugins import Registry, get_registry
from .poller import Done, Poller, Tracked, drive_async, steps_sync
from .provider import Provider, StatusUpdate, _invalid_from_pydantic
from .providerset import Providers
from .recorder import Recorder
from .router import Candidacy, Router
from .stats import ProviderStats
from .submit import Submitter
from .track import ProgressCallback, ResumeReport, Tracker

__all__ = ["AsyncGateway", "Gateway", "ProgressCallback", "Quote", "ResumeReport"]

log = logging.getLogger("videogw")

RequestLike = GenerationRequest | Mapping[str, Any] | None
JobRef = Job | str  # a job, or its id (read from the ledger)
ADD_BATCH = 1000  # jobs leased in one transaction, before each is read and handed over
Transport = httpx.BaseTransport | httpx.AsyncBaseTransport


class _Base:
    """What both gateways share: the services, wired once."""

    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        providers: Mapping[str, Provider] | Iterable[Provider] | None = None,
        registry: Registry | None = None,
        store: Ledger | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config if isinstance(config, Config) else load_config(config)
        self.clock = clock or Clock()
        self.retry = retry or RetryPolicy()
        self._owns_store = store is None
        self.store: Ledger = store if store is not None else open_ledger(self.config.ledger)
        self.events = EventBus()
        self.providers = Providers(self.config, registry or get_registry(), providers)
        self.health = ProviderHealth(self.config.breaker, self.clock.monotonic, self.store)
        self.figures = Figures(self.store, now=self.clock.now, monotonic=self.clock.monotonic)
        self.recorder = Recorder(self.store, self.events)
        self.router = Router(self.config, self.providers, self.health, self.figures, rng=rng)
        self.submitter = Submitter(
            config=self.config,
            providers=self.providers,
            router=self.router,
            recorder=self.recorder,
            health=self.health,
            events=self.events,
            clock=self.clock,
            retry=self.retry,
        )
        self.tracker = Tracker(
            config=self.config,
            providers=self.providers,
            router=self.router,
            recorder=self.recorder,
            submitter=self.submitter,
            health=self.health,
            clock=self.clock,
            retry=self.retry,
            figures=self.figures,
        )
        self.comparer = Comparer(router=self.router, providers=self.providers, retry=self.retry)

    # -- providers ---------------------------------------------------------------------
    @property
    def ledger(self) -> Ledger:
        return self.store

    @property
    def registry(self) -> Registry:
        return self.providers.registry

    @property
    def breakers(self) -> Breakers:
        return self.health.breakers

    @property
    def credits(self) -> CreditState:
        return self.health.credits

    def provider_names(self) -> list[str]:
        """Every provider instance: given in code, configured, or registered by a plugin."""
        return self.providers.names()

    def provider(self, name: str) -> Provider:
        """The provider instance called `name` (built from its settings on first use)."""
        return self.providers.get(name)

    def reset_provider(self, name: str | None = None) -> None:
        """Forget breaker, cool-down and credit state (of one provider, or all): after a
        top-up or a key rotation."""
        self.health.reset(name)

    # -- observing ---------------------------------------------------------------------
    def on_event(self, callback: EventCallback) -> Callable[[], None]:
        """Call `callback` with every `videogw.events.JobEvent`; returns an unsubscriber."""
        return self.events.subscribe(callback)

    def stats(self, provider: str, model: str) -> ProviderStats:
        """What the ledger observed for a provider and neutral model (cached briefly)."""
        return self.figures.stats(provider, model)

    def expected_seconds(self, job: Job) -> float | None:
        """How long `job` should take at its provider: the ledger's observed p50 for that
        provider and model, else the provider's configured or typical duration."""
        return self.tracker.expected_seconds(job)

    def refresh_stats(self) -> None:
        """Forget the cached figures: the next routing decision reads the ledger."""
        self.figures.refresh()

    # -- requests ----------------------------------------------------------------------
    @staticmethod
    def _request(request: RequestLike, fields: Mapping[str, Any]) -> GenerationRequest:
        if isinstance(request, GenerationRequest):
            return request.model_copy(update=dict(fields)) if fields else request
        data = {**(request or {}), **fields}
        try:
            return GenerationRequest.model_validate(data)
        except ValidationError as exc:
            raise _invalid_from_pydantic(exc) from None

    def explain(
        self, request: RequestLike = None, /, **fields: Unpack[RequestFields]
    ) -> list[Candidacy]:
        """Every provider for this request: candidates in the order they would be tried,
        then the others, each with why not (capability, breaker, credit, budget...)."""
        self.health.refresh()
        return self.router.explain(self._request(request, fields))

    def get(self, job_id: str) -> Job:
        """A job from the ledger, to check on or resume after a restart."""
        job = self.store.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r} in the ledger")
        return job

    def unknown_submits(self) -> list[Job]:
        """Jobs whose submit outcome is unknown (a paid job may exist): reconcile them with
        the provider; videogw never resubmits them on its own."""
        return self.store.unknown_submits()

    def apply_webhook_update(self, job_id: str, update: StatusUpdate) -> Job:
        """Record a verified webhook delivery (see `Tracker.apply_webhook_update`)."""
        return self.tracker.apply_webhook_update(job_id, update)

    def record_update(self, job: Job, update: StatusUpdate) -> Job:
        """Record a status update through the one writer (a compare-and-swap)."""
        return self.tracker.record_update(job, update)

    # -- tracking many jobs, shared by both drivers -------------------------------------
    def _resolve(self, jobs: Iterable[JobRef]) -> Iterator[Job]:
        for item in jobs:
            if isinstance(item, Job):
                yield item
                continue
            found = self.store.get(item)
            if found is None:
                raise KeyError(f"no job {item!r} in the ledger")
            yield found

    def _start(
        self,
        jobs: Iterable[JobRef],
        owner: str | None,
        first_delay: float | None,
        *,
        woken: bool = False,
    ) -> Poller:
        """A poller holding `jobs`: leased for `owner` (unless None) a batch of ids per
        transaction, then each read (for an id) and added, one at a time, so the full jobs
        are never all in memory at once. `woken`: its driver wakes on a delivery
        (`Tracker.new_poller`)."""
        poller = self.tracker.new_poller(woken=woken)
        batch: list[JobRef] = []
        for item in jobs:
            batch.append(item)
            if len(batch) >= ADD_BATCH:
                self._add(poller, batch, owner, first_delay)
                batch = []
        self._add(poller, batch, owner, first_delay)
        return poller

    def _add(
        self, poller: Poller, refs: list[JobRef], owner: str | None, first_delay: float | None
    ) -> None:
        if owner is not None:
            stored = (
                ref if isinstance(ref, str) else ref.id
                for ref in refs
                if isinstance(ref, str) or ref.version > 0
            )
            self.tracker.hold_ids(stored, owner)
        for job in self._resolve(refs):
            poller.add(job, first_delay=first_delay)

    def _finished(self, done: Done) -> Job:
        """The job a poller is done with, in full (read from the ledger when the poller
        has only its entry: given up, or settled without a job)."""
        job_id, found = done
        if isinstance(found, Job):
            return found
        return self.store.get(job_id) or found.job

    def _last_seen(self, poller: Poller, job_id: str, found: dict[str, Job]) -> Job | None:
        """A job as last seen: finished, still tracked (read in full), or in the ledger."""
        if job_id in found:
            return found[job_id]
        entry = poller.entry(job_id)
        if entry is not None:
            return self.tracker.tracked_job(poller, entry)
        return self.store.get(job_id)

    @staticmethod
    def _noting(jobs: Iterable[JobRef], order: list[str]) -> Iterator[JobRef]:
        for item in jobs:
            order.append(item.id if isinstance(item, Job) else item)
            yield item

    # -- operations, shared by both drivers --------------------------------------------
    @staticmethod
    def _key_made_here(request: RequestLike, fields: Mapping[str, Any]) -> bool:
        """Whether `_request` will draw the idempotency key itself (a fresh uuid4): then
        no stored job can hold it yet, and a submit need not look it up first."""
        if isinstance(request, GenerationRequest):
            return False  # the caller's object: it may be submitted again, key and all
        return "idempotency_key" not in fields and "idempotency_key" not in (request or {})

    def _submit_op(self, request: GenerationRequest, *, new_key: bool = False) -> Op[Job]:
        return (yield from self.submitter.submit_op(request, new_owner("submit"), new_key=new_key))

    def _run_op(
        self,
        request: GenerationRequest,
        timeout: float | None,
        on_progress: ProgressCallback | None,
        raise_on_failure: bool,
    ) -> Op[Job]:
        owner = new_owner("run")
        job = yield from self.submitter.submit_op(request, owner, keep_lease=True)
        if job.provider_job_id is None:
            return job  # outcome unknown: waiting would poll nothing
        self.tracker.adopt(job.id, owner)  # the submit's lease carries on into the wait
        return (yield from self.tracker.wait_op(job, timeout, on_progress, raise_on_failure, owner))

    def _catalog_op(self, provider_name: str, kind: str) -> Op[list[dict[str, Any]]]:
        provider = self.providers.get(provider_name)
        return (yield from drive(provider, provider.catalog_flow(kind), self.retry))

    def _with_outputs(self, job: Job, saved: list[Any]) -> Job:
        """Record where each output was saved (path, size, sha256), through the one writer."""
        done = tuple(saved)
        recorded: Job = self.recorder.change(
            job, lambda current: current.model_copy(update={"outputs": done})
        )
        return recorded

    def _delete_op(self, job: Job) -> Op[None]:
        provider = self.providers.get(job.provider or "")
        return (yield from drive(provider, provider.delete_flow(job), self.retry))

    def _engine_options(self) -> dict[str, Any]:
        timeouts, limits = self.providers.engine_limits()
        return {"timeouts": timeouts, "limits": limits, "clock": self.clock}

    def _close_store(self) -> None:
        if self._owns_store:
            self.store.close()


class Gateway(_Base):
    """The blocking gateway. Use as a context manager (or call `close()`).

    `config` is a `Config`, a path to a TOML file, or None (the defaults, ``$VIDEOGW_*``).
    `store` is the ledger to use (default: the one the config names; SQLite). `transport`
    (all providers) or `transports` (per provider) replace the HTTP transport, e.g. with
    an emulator's. `providers`, `registry`, `clock`, `retry` and `rng` are for tests and
    embedding."""

    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        transports: Mapping[str, httpx.BaseTransport] | None = None,
        transport: httpx.BaseTransport | None = None,
        providers: Mapping[str, Provider] | Iterable[Provider] | None = None,
        registry: Registry | None = None,
        store: Ledger | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """A gateway on `config` (a `Config`, a TOML path, or None for the defaults and
        ``$VIDEOGW_*``), recording into `store` (default: the ledger the config names).
        `transport`/`transports` replace the HTTP transport (all providers / per provider),
        e.g. with an emulator's; the rest is for tests and embedding."""
        super().__init__(
            config,
            providers=providers,
            registry=registry,
            store=store,
            clock=clock,
            retry=retry,
            rng=rng,
        )
        self._engine = SyncEngine(
            transports=transports, transport=transport, **self._engine_options()
        )

    def submit(self, request: RequestLike = None, /, **fields: Unpack[RequestFields]) -> Job:
        """Validate, pick a provider, submit once. Returns the recorded `Job` right away.

        The same `idempotency_key` again returns the same job (nothing is sent); with a
        different request it raises `IdempotencyConflictError`."""
        new_key = self._key_made_here(request, fields)
        return self._engine.run(self._submit_op(self._request(request, fields), new_key=new_key))

    def status(self, job: Job) -> Job:
        """Read the job's status from its provider once, record it, and return it."""
        return self._engine.run(self.tracker.status_op(job))

    def cancel(self, job: Job) -> Job:
        """Cancel the job at its provider (where the provider can), and record it."""
        return self._engine.run(self.tracker.cancel_op(job))

    def wait(
        self,
        job: Job,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        raise_on_failure: bool = False,
    ) -> Job:
        """Poll until the job finishes (adaptive schedule), applying the route's rules
        after acceptance. Another process acting on the job is followed, not duplicated.
        Raises `WaitTimeoutError` after `timeout` seconds (the job keeps running)."""
        return self._engine.run(self.tracker.wait_op(job, timeout, on_progress, raise_on_failure))

    def run(
        self,
        request: RequestLike = None,
        /,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        raise_on_failure: bool = False,
        **fields: Unpack[RequestFields],
    ) -> Job:
        """Submit and wait."""
        op = self._run_op(self._request(request, fields), timeout, on_progress, raise_on_failure)
        return self._engine.run(op)

    def wait_all(
        self,
        jobs: Iterable[JobRef],
        *,
        timeout: float | None = None,
        first_delay: float | None = None,
    ) -> list[Job]:
        """Track many jobs (or job ids) with one scheduler until each is finished (or
        `timeout` passes); returns them as last seen, in the order given. A job whose reads
        keep failing is returned as it was (it lives on at the provider; `resume()` picks it
        up later). To handle each job as it finishes, and hold none of them, use
        `as_finished`."""
        order: list[str] = []
        owner = new_owner("wait_all")
        poller = self._start(self._noting(jobs, order), owner, first_delay)
        found = {job.id: job for job in self._stream(poller, owner, timeout)}
        return [job for i in order if (job := self._last_seen(poller, i, found)) is not None]

    def as_finished(
        self,
        jobs: Iterable[JobRef],
        *,
        timeout: float | None = None,
        first_delay: float | None = None,
    ) -> Iterator[Job]:
        """Track many jobs (or job ids, read from the ledger) with one scheduler, yielding
        each once, as soon as it is finished (or given up on: it lives on, as it was), in
        the order they finish. Jobs still unfinished after `timeout` seconds are not
        yielded. Nothing of a job is kept once it is yielded, so tracking costs a few
        hundred bytes per unfinished job. Reads happen while the caller iterates; closing
        the iterator early releases the jobs' leases."""
        owner = new_owner("wait_all")
        poller = self._start(jobs, owner, first_delay)
        yield from self._stream(poller, owner, timeout)

    def _stream(self, poller: Poller, owner: str, timeout: float | None) -> Iterator[Job]:
        tracker = self.tracker
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        tracker.pollers.append(poller)
        try:
            for done in poller.take_done():
                yield self._finished(done)
            for _ in steps_sync(
                poller,
                lambda entry: self._engine.run(tracker.track_step_op(poller, entry, owner)),
                monotonic=self.clock.monotonic,
                sleep=self.clock.sleep,
                deadline=deadline,
                keep=lambda: tracker.keep_leases(owner),  # jobs not read for half a lease
            ):
                for done in poller.take_done():
                    yield self._finished(done)
            for done in poller.take_done():
                yield self._finished(done)
        finally:
            tracker.pollers.remove(poller)
            tracker.release_owner(owner)

    def resume(self, *, timeout: float | None = None) -> ResumeReport:
        """After a restart: claim every open job nobody else holds (in batches) and track
        it to the end, resubmitting where the route says; list (never touch) the submits
        whose outcome is unknown."""
        owner = new_owner("resume")
        jobs = self.tracker.claim_all(owner)
        poller = self._start(jobs, None, 0.0)  # claimed: already leased
        found = {job.id: job for job in self._stream(poller, owner, timeout)}
        done = [job for j in jobs if (job := self._last_seen(poller, j.id, found)) is not None]
        return self.tracker.report(jobs, done)

    def estimate(
        self, request: RequestLike = None, /, **fields: Unpack[RequestFields]
    ) -> list[Quote]:
        """What the request would cost at each candidate (its own estimate endpoint where
        it has one, else its price table), and why the others are not candidates."""
        return self._engine.run(self.comparer.quotes_op(self._request(request, fields)))

    def compare(
        self,
        request: RequestLike = None,
        /,
        *,
        run: bool = False,
        timeout: float | None = None,
        **fields: Unpack[RequestFields],
    ) -> list[Comparison]:
        """A row per provider: candidate or why not, estimate, and the ledger's figures.
        ``run=True`` spends money: it runs the request on every candidate and adds the
        measured latency and actual cost."""
        req = self._request(request, fields)
        rows = self._engine.run(self.comparer.compare_op(req))
        if not run:
            return rows
        submitted: dict[str, Job] = {}
        errors: dict[str, str] = {}
        for name, pinned in self.comparer.runs(rows, req):
            try:
                submitted[name] = self.submit(pinned)
            except VideoGWError as exc:
                errors[name] = str(exc)
        finished = self.wait_all(submitted.values(), timeout=timeout)
        return self.comparer.result(rows, submitted, errors, finished)

    def catalog(self, provider: str, kind: str) -> list[dict[str, Any]]:
        """A provider's catalogue (motions, avatar presets, voices...), as it returns it."""
        return self._engine.run(self._catalog_op(provider, kind))

    def delete_data(self, job: Job) -> None:
        """Have the provider drop a finished job's stored inputs and outputs now."""
        self._engine.run(self._delete_op(job))

    def confirm_webhook(self, job: Job, update: StatusUpdate) -> Job | None:
        """Confirm a webhook's terminal claim with a status read, under the job's lease
        (None when another process holds it and will act)."""
        return self._engine.run(self.tracker.confirm_op(job, update))

    def close(self) -> None:
        """Close the HTTP clients and the ledger this gateway opened."""
        self._engine.close()
        self._close_store()

    def download(
        self,
        job: Job,
        path: str | os.PathLike[str] | None = None,
        *,
        policy: DownloadPolicy | None = None,
        on_progress: DownloadProgress | None = None,
    ) -> Job:
        """Save a finished job's outputs to `path` (a file for one output, else a
        directory; default: ``<job id>.mp4`` in the current directory) under `policy`
        (default: the config's ``[download]`` table: https only, no private addresses, a
        size cap). Returns the job with each output's path, size and sha256, recorded."""
        policy = policy or _policy(self.config)
        saved = [
            download(output, dest, policy=policy, on_progress=on_progress)
            for output, dest in zip(job.outputs, _paths(job, path), strict=True)
        ]
        return self._with_outputs(job, saved)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncGateway(_Base):
    """The asyncio gateway: the same operations, awaited (see `Gateway`)."""

    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        providers: Mapping[str, Provider] | Iterable[Provider] | None = None,
        registry: Registry | None = None,
        store: Ledger | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """See `Gateway.__init__`; `transport`/`transports` are async transports here."""
        super().__init__(
            config,
            providers=providers,
            registry=registry,
            store=store,
            clock=clock,
            retry=retry,
            rng=rng,
        )
        self._engine = AsyncEngine(
            transports=transports,
            transport=transport,
            ledger=self.store,  # group commit: concurrent operations share one fsync
            **self._engine_options(),
        )

    async def submit(self, request: RequestLike = None, /, **fields: Unpack[RequestFields]) -> Job:
        """See `Gateway.submit`."""
        new_key = self._key_made_here(request, fields)
        op = self._submit_op(self._request(request, fields), new_key=new_key)
        return await self._engine.run(op)

    async def status(self, job: Job) -> Job:
        """See `Gateway.status`."""
        return await self._engine.run(self.tracker.status_op(job))

    async def cancel(self, job: Job) -> Job:
        """See `Gateway.cancel`."""
        return await self._engine.run(self.tracker.cancel_op(job))

    async def wait(
        self,
        job: Job,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        raise_on_failure: bool = False,
    ) -> Job:
        """See `Gateway.wait`."""
        return await self._engine.run(
            self.tracker.wait_op(job, timeout, on_progress, raise_on_failure)
        )

    async def run(
        self,
        request: RequestLike = None,
        /,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        raise_on_failure: bool = False,
        **fields: Unpack[RequestFields],
    ) -> Job:
        """Submit and wait."""
        op = self._run_op(self._request(request, fields), timeout, on_progress, raise_on_failure)
        return await self._engine.run(op)

    async def wait_all(
        self,
        jobs: Iterable[JobRef],
        *,
        timeout: float | None = None,
        first_delay: float | None = None,
    ) -> list[Job]:
        """Track many jobs (or job ids) concurrently with one scheduler and a bounded set
        of workers (each provider's `max_concurrency`); see `Gateway.wait_all`. To handle
        each job as it finishes, and hold none of them, use `as_finished`."""
        order: list[str] = []
        owner = new_owner("wait_all")
        poller = self._start(self._noting(jobs, order), owner, first_delay, woken=True)
        found = {job.id: job async for job in self._stream(poller, owner, timeout)}
        return [job for i in order if (job := self._last_seen(poller, i, found)) is not None]

    async def as_finished(
        self,
        jobs: Iterable[JobRef],
        *,
        timeout: float | None = None,
        first_delay: float | None = None,
    ) -> AsyncIterator[Job]:
        """Track many jobs (or job ids, read from the ledger) concurrently, yielding each
        once, as soon as it is finished (or given up on: it lives on, as it was), in the
        order they finish; see `Gateway.as_finished`. Reads go on while the caller handles
        a job. Leaving the loop early stops the reads (those in flight land first) and
        releases the leases: use ``contextlib.aclosing`` to have that happen at once."""
        owner = new_owner("wait_all")
        poller = self._start(jobs, owner, first_delay, woken=True)  # drive_async wakes
        # closed with this one, so leaving early stops the reads now, not at collection
        async with contextlib.aclosing(self._stream(poller, owner, timeout)) as stream:
            async for job in stream:
                yield job

    async def _stream(
        self, poller: Poller, owner: str, timeout: float | None
    ) -> AsyncGenerator[Job, None]:
        tracker = self.tracker
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        ready = asyncio.Event()
        stop = asyncio.Event()
        poller.on_done = ready.set

        async def step(entry: Tracked) -> None:
            await self._engine.run(tracker.track_step_op(poller, entry, owner))

        tracker.pollers.append(poller)
        driver = asyncio.ensure_future(
            drive_async(
                poller,
                step,
                monotonic=self.clock.monotonic,
                asleep=self.clock.asleep,
                limits=tracker.limits_for(poller.providers()),
                deadline=deadline,
                stop=stop,
                keep=lambda: tracker.keep_leases(owner),  # jobs not read for half a lease
            )
        )
        driver.add_done_callback(lambda _: ready.set())
        try:
            while True:
                ready.clear()
                for done in poller.take_done():
                    yield self._finished(done)
                if driver.done():
                    break
                await ready.wait()  # a job finished, or the driver ended
            driver.result()  # a bug in the driver is raised, not swallowed
            for done in poller.take_done():
                yield self._finished(done)
        finally:
            if not driver.done():
                # left early: hand out no more reads; the ones in flight land first (one
                # may be mid-resubmit: cutting it off would lose what it bought)
                poller.stop()
                stop.set()
                try:
                    await asyncio.shield(driver)
                except asyncio.CancelledError:
                    driver.cancel()
                    raise
            poller.on_done = None
            tracker.pollers.remove(poller)
            tracker.release_owner(owner)

    async def resume(self, *, timeout: float | None = None) -> ResumeReport:
        """See `Gateway.resume`."""
        owner = new_owner("resume")
        jobs = self.tracker.claim_all(owner)
        poller = self._start(jobs, None, 0.0, woken=True)  # claimed: already leased
        found = {job.id: job async for job in self._stream(poller, owner, timeout)}
        done = [job for j in jobs if (job := self._last_seen(poller, j.id, found)) is not None]
        return self.tracker.report(jobs, done)

    async def estimate(
        self, request: RequestLike = None, /, **fields: Unpack[RequestFields]
    ) -> list[Quote]:
        """See `Gateway.estimate`."""
        return await self._engine.run(self.comparer.quotes_op(self._request(request, fields)))

    async def compare(
        self,
        request: RequestLike = None,
        /,
        *,
        run: bool = False,
        timeout: float | None = None,
        **fields: Unpack[RequestFields],
    ) -> list[Comparison]:
        """See `Gateway.compare`."""
        req = self._request(request, fields)
        rows = await self._engine.run(self.comparer.compare_op(req))
        if not run:
            return rows
        submitted: dict[str, Job] = {}
        errors: dict[str, str] = {}
        for name, pinned in self.comparer.runs(rows, req):
            try:
                submitted[name] = await self.submit(pinned)
            except VideoGWError as exc:
                errors[name] = str(exc)
        finished = await self.wait_all(submitted.values(), timeout=timeout)
        return self.comparer.result(rows, submitted, errors, finished)

    async def catalog(self, provider: str, kind: str) -> list[dict[str, Any]]:
        """See `Gateway.catalog`."""
        return await self._engine.run(self._catalog_op(provider, kind))

    async def delete_data(self, job: Job) -> None:
        """See `Gateway.delete_data`."""
        await self._engine.run(self._delete_op(job))

    async def confirm_webhook(self, job: Job, update: StatusUpdate) -> Job | None:
        """See `Gateway.confirm_webhook`."""
        return await self._engine.run(self.tracker.confirm_op(job, update))

    async def aclose(self) -> None:
        """Close the HTTP clients and the ledger this gateway opened."""
        await self._engine.aclose()
        self._close_store()

    async def download(
        self,
        job: Job,
        path: str | os.PathLike[str] | None = None,
        *,
        policy: DownloadPolicy | None = None,
        on_progress: DownloadProgress | None = None,
    ) -> Job:
        """`Gateway.download`, awaited."""
        policy = policy or _policy(self.config)
        saved = [
            await adownload(output, dest, policy=policy, on_progress=on_progress)
            for output, dest in zip(job.outputs, _paths(job, path), strict=True)
        ]
        return self._with_outputs(job, saved)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _policy(config: Config) -> DownloadPolicy:
    return DownloadPolicy(
        max_bytes=config.download.max_bytes, allow_private=config.download.allow_private
    )


def _paths(job: Job, path: str | os.PathLike[str] | None) -> list[Path]:
    if not job.outputs:
        raise UnsupportedOperationError(f"job {job.id} has no outputs ({job.status.value})")
    return output_paths(job.id, [output.url for output in job.outputs], path)
