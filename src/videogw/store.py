"""Where jobs are kept. The gateway writes a job before its first submit and on every
change; `videogw.ledger` provides the durable SQLite store, this module the interface
and an in-memory store for tests and throwaway scripts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from .models import Job, JobStatus

__all__ = ["JobStore", "MemoryStore"]


@runtime_checkable
class JobStore(Protocol):
    def save(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def find(
        self,
        *,
        statuses: Iterable[JobStatus] | None = None,
        provider: str | None = None,
        limit: int | None = None,
    ) -> list[Job]: ...

    def close(self) -> None: ...


class MemoryStore:
    """Keeps jobs in a dict: nothing survives the process."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    def save(self, job: Job) -> None:
        self._jobs[job.id] = job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def find(
        self,
        *,
        statuses: Iterable[JobStatus] | None = None,
        provider: str | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        wanted = set(statuses) if statuses is not None else None
        found = [
            job
            for job in self._jobs.values()
            if (wanted is None or job.status in wanted)
            and (provider is None or job.provider == provider)
        ]
        found.sort(key=lambda job: job.created_at)
        return found[:limit] if limit is not None else found

    def close(self) -> None:
        pass
