"""`Gateway` and `AsyncGateway`: submit, status, cancel, wait, run, estimate, compare,
wait_all, resume.

All logic lives in `videogw.core` as generator operations; these two classes only choose
the driver (`SyncEngine` or `AsyncEngine`). A job is written to the store before its first
submit and after every change, so a `Job` read back from the store (or from its JSON) is
all a new process needs to carry on tracking it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

from .compare import Comparison, Quote
from .config import Config
from .core import ProgressCallback, ResumeReport, _GatewayCore
from .download import DownloadPolicy, adownload, download, output_paths
from .download import ProgressCallback as DownloadProgress
from .engine import AsyncEngine, SyncEngine
from .errors import UnsupportedOperationError, VideoGWError
from .models import GenerationRequest, Job
from .poller import Tracked, drive_async, drive_sync

__all__ = ["AsyncGateway", "Gateway", "ProgressCallback", "Quote", "ResumeReport"]


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

    def wait_all(
        self,
        jobs: Iterable[Job],
        *,
        timeout: float | None = None,
        first_delay: float | None = None,
    ) -> list[Job]:
        """Track many jobs with one scheduler until each is finished (or `timeout` passes);
        returns them as last seen, in the order given. A job whose reads keep failing is
        returned as it was (it lives on at the provider; `resume()` picks it up later)."""
        jobs = list(jobs)
        poller = self._new_poller()
        poller.add_all(jobs, first_delay=first_delay)
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        self._pollers.append(poller)
        try:
            drive_sync(
                poller,
                lambda entry: self._engine.run(self._track_step_op(poller, entry)),
                monotonic=self.clock.monotonic,
                sleep=self.clock.sleep,
                deadline=deadline,
            )
        finally:
            self._pollers.remove(poller)
        return poller.results(job.id for job in jobs)

    def resume(self, *, timeout: float | None = None) -> ResumeReport:
        """After a restart: track every job that is not finished and has a provider job id
        until it finishes; list (never touch) the submits whose outcome is unknown."""
        jobs, unknown = self._resume_lists()
        done = self.wait_all(jobs, timeout=timeout, first_delay=0.0)
        return ResumeReport(done, unknown)

    def estimate(
        self, request: GenerationRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> list[Quote]:
        return self._engine.run(self._quotes_op(self._request(request, fields)))

    def compare(
        self,
        request: GenerationRequest | Mapping[str, Any] | None = None,
        /,
        *,
        run: bool = False,
        timeout: float | None = None,
        **fields: Any,
    ) -> list[Comparison]:
        """A row per provider: candidate or why not, estimate, and the ledger's figures.
        ``run=True`` spends money: it runs the request on every candidate and adds the
        measured latency and actual cost."""
        req = self._request(request, fields)
        rows = self._engine.run(self._compare_op(req))
        if not run:
            return rows
        submitted: dict[str, Job] = {}
        errors: dict[str, str] = {}
        for name, pinned in self._compare_runs(rows, req):
            try:
                submitted[name] = self.submit(pinned)
            except VideoGWError as exc:
                errors[name] = str(exc)
        finished = self.wait_all(submitted.values(), timeout=timeout)
        return self._compare_result(rows, submitted, errors, finished)

    def catalog(self, provider: str, kind: str) -> list[dict[str, Any]]:
        return self._engine.run(self._catalog_op(provider, kind))

    def close(self) -> None:
        self._engine.close()
        self._close_store()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        job = job.model_copy(update={"outputs": tuple(saved)})
        self.store.save(job)
        return job


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

    async def wait_all(
        self,
        jobs: Iterable[Job],
        *,
        timeout: float | None = None,
        first_delay: float | None = None,
    ) -> list[Job]:
        """Track many jobs concurrently with one scheduler and a bounded set of workers
        (each provider's `max_concurrency`); see `Gateway.wait_all`."""
        jobs = list(jobs)
        poller = self._new_poller()
        poller.add_all(jobs, first_delay=first_delay)
        deadline = None if timeout is None else self.clock.monotonic() + timeout

        async def step(entry: Tracked) -> None:
            await self._engine.run(self._track_step_op(poller, entry))

        self._pollers.append(poller)
        try:
            await drive_async(
                poller,
                step,
                monotonic=self.clock.monotonic,
                asleep=self.clock.asleep,
                limits=self._limits(jobs),
                deadline=deadline,
            )
        finally:
            self._pollers.remove(poller)
        return poller.results(job.id for job in jobs)

    async def resume(self, *, timeout: float | None = None) -> ResumeReport:
        jobs, unknown = self._resume_lists()
        done = await self.wait_all(jobs, timeout=timeout, first_delay=0.0)
        return ResumeReport(done, unknown)

    async def estimate(
        self, request: GenerationRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> list[Quote]:
        return await self._engine.run(self._quotes_op(self._request(request, fields)))

    async def compare(
        self,
        request: GenerationRequest | Mapping[str, Any] | None = None,
        /,
        *,
        run: bool = False,
        timeout: float | None = None,
        **fields: Any,
    ) -> list[Comparison]:
        req = self._request(request, fields)
        rows = await self._engine.run(self._compare_op(req))
        if not run:
            return rows
        submitted: dict[str, Job] = {}
        errors: dict[str, str] = {}
        for name, pinned in self._compare_runs(rows, req):
            try:
                submitted[name] = await self.submit(pinned)
            except VideoGWError as exc:
                errors[name] = str(exc)
        finished = await self.wait_all(submitted.values(), timeout=timeout)
        return self._compare_result(rows, submitted, errors, finished)

    async def catalog(self, provider: str, kind: str) -> list[dict[str, Any]]:
        return await self._engine.run(self._catalog_op(provider, kind))

    async def aclose(self) -> None:
        await self._engine.aclose()
        self._close_store()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

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
        job = job.model_copy(update={"outputs": tuple(saved)})
        self.store.save(job)
        return job


def _policy(config: Config) -> DownloadPolicy:
    return DownloadPolicy(
        max_bytes=config.download.max_bytes, allow_private=config.download.allow_private
    )


def _paths(job: Job, path: str | os.PathLike[str] | None) -> list[Path]:
    if not job.outputs:
        raise UnsupportedOperationError(f"job {job.id} has no outputs ({job.status.value})")
    return output_paths(job.id, [output.url for output in job.outputs], path)
