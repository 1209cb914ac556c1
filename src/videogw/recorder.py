"""The one writer of jobs.

Every change to a job — a submit's write-ahead attempt and its answer, a status read, a
webhook delivery, a cancel, a resubmit — is a pure transition (`videogw.lifecycle`)
handed to `Recorder.change`, which writes it as a compare-and-swap on the version it was
computed from. When another process or thread wrote first, the recorder re-reads the job
and re-applies the transition to the newer copy, or drops it when the transition says the
newer state already covers it (returns ``None``). Observers hear of every status change
from here, whoever made it.

A write that fails because the ledger is busy or the disk is full is retried; a provider's
acceptance that still cannot be written raises `AcceptanceNotRecordedError`, which carries
the provider and its job id, so a paid job is never lost silently — also when the write
was grouped and its group commit fails (`videogw.engine.AsyncEngine` raises it then).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import (
    AcceptanceNotRecordedError,
    LedgerError,
    LedgerUnavailableError,
    StaleJobError,
    VideoGWError,
)
from .events import EventBus, Finished, StatusChanged
from .ledger import Budget, Ledger, current_group
from .models import GenerationRequest, Job

__all__ = ["Change", "Recorder"]

T = TypeVar("T")

log = logging.getLogger("videogw")

Change = Callable[[Job], Job | None]
MAX_CONFLICTS = 50  # re-reads before a write gives up: only a storm of writers gets there
UNAVAILABLE_RETRIES = (0.05, 0.2, 0.5, 1.0)  # pauses between tries of a busy ledger


class Recorder:
    def __init__(
        self,
        ledger: Ledger,
        events: EventBus,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ledger = ledger
        # A ledger written before `update(release=...)` existed takes no such keyword: its
        # lease is then given up by a `release()` of its own, right after the write.
        self._folds_release = _takes_keyword(ledger.update, "release")
        self.events = events
        self._sleep = sleep

    def create(
        self,
        job: Job,
        request: GenerationRequest | None,
        *,
        lease: tuple[str, float] | None = None,
        budget: Budget | None = None,
    ) -> Job:
        """Store a new job (or get the one its idempotency key already names)."""
        return self._retrying(lambda: self.ledger.create(job, request, lease=lease, budget=budget))

    def change(
        self,
        job: Job,
        transition: Change,
        *,
        budget: Budget | None = None,
        accepted: tuple[str, str] | None = None,
        release: str | None = None,
    ) -> Job:
        """Apply `transition` to `job` and write the result conditionally on `job.version`;
        on a conflict, re-read and re-apply. Returns the job as stored (or as read, when the
        transition changes nothing). `accepted=(provider, provider_job_id)` marks the write
        of an acceptance: if it cannot be written, `AcceptanceNotRecordedError` says so.
        `release=owner`: that owner's lease on the job is given up in the same write (or on
        its own when there is nothing to write) once this returns; kept when it raises."""
        current = job
        try:
            for _ in range(MAX_CONFLICTS):
                new = transition(current)
                if new is None or new == current:
                    if release is not None:
                        self.release(job.id, release)
                    return current
                try:
                    stored = self._update(new, budget, release)
                except StaleJobError:
                    fresh = self._retrying(lambda: self.ledger.get(job.id))
                    if fresh is None:
                        # a job this ledger never held (read from JSON, another ledger):
                        # from now on it is recorded here
                        stored = self._adopt(new.model_copy(update={"version": 0}))
                        self._announce(current, stored)
                        if accepted is not None:
                            self._note_acceptance(job.id, accepted)
                        return stored
                    current = fresh
                    continue
                self._announce(current, stored)
                if accepted is not None:
                    self._note_acceptance(job.id, accepted)
                return stored
            raise LedgerError(f"job {job.id}: {MAX_CONFLICTS} conflicting writes in a row")
        except LedgerError as exc:
            if accepted is None or isinstance(exc, AcceptanceNotRecordedError):
                raise
            provider, provider_job_id = accepted
            log.critical(
                "job %s: %s accepted it as %s but the ledger could not record it: %s",
                job.id,
                provider,
                provider_job_id,
                exc,
            )
            raise AcceptanceNotRecordedError(job.id, provider, provider_job_id, str(exc)) from exc

    @staticmethod
    def _note_acceptance(job_id: str, accepted: tuple[str, str]) -> None:
        # a grouped write is durable only at the group commit: if that fails, the engine
        # raises AcceptanceNotRecordedError with this provider job id
        group = current_group()
        if group is not None:
            group.acceptances.append((job_id, *accepted))

    def _adopt(self, job: Job) -> Job:
        return self._retrying(lambda: self.ledger.create(job, None))

    def _update(self, job: Job, budget: Budget | None, release: str | None) -> Job:
        if release is None:  # the common call, as every ledger takes it
            return self._retrying(lambda: self.ledger.update(job, budget=budget))
        if not self._folds_release:
            stored = self._retrying(lambda: self.ledger.update(job, budget=budget))
            self.release(job.id, release)
            return stored
        return self._retrying(lambda: self.ledger.update(job, budget=budget, release=release))

    def release(self, job_id: str, owner: str) -> None:
        """Give `owner`'s lease on the job up; a ledger that cannot is only logged (the
        lease expires on its own)."""
        try:
            self.ledger.release(job_id, owner)
        except VideoGWError as exc:
            log.warning("job %s: could not release its lease: %s", job_id, exc)

    def _retrying(self, write: Callable[[], T]) -> T:
        for pause in (*UNAVAILABLE_RETRIES, None):
            try:
                return write()
            except LedgerUnavailableError as exc:
                if pause is None:
                    raise
                log.warning("ledger busy (%s); trying again in %.2f s", exc, pause)
                self._sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    def _announce(self, old: Job, new: Job) -> None:
        if old.status is not new.status:
            self.events.emit(StatusChanged(new, old.status))
            if new.status.is_terminal:
                self.events.emit(Finished(new))


def _takes_keyword(method: Callable[..., object], name: str) -> bool:
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a C callable): assume current
        return True
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        or (p.name == name and p.kind is not inspect.Parameter.POSITIONAL_ONLY)
        for p in parameters
    )
