"""Where jobs are kept. The gateway writes a job before its first submit and on every
change; `videogw.ledger` provides the durable SQLite store, this module the interfaces
and an in-memory store for tests and throwaway scripts.

`JobStore` is the minimum (save/get/find/close). `Ledger` adds what routing, budgets,
`compare` and `resume` read; the gateway uses each extra only when the store has it, so a
plain `JobStore` still works (without observed latency, daily budgets or retry_failed
after a restart).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from .models import GenerationRequest, Job, JobStatus, Media
from .stats import MAX_SAMPLES, ProviderStats, facts_from_job, sample_of, summarize

__all__ = [
    "JobStore",
    "Ledger",
    "MemoryStore",
    "dump_request",
    "is_resumable",
    "is_unknown_submit",
    "load_request",
]

_MEDIA = ("image", "end_image", "audio")


@runtime_checkable
class JobStore(Protocol):
    def save(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def find(
        self,
        *,
        statuses: Iterable[JobStatus] | None = None,
        provider: str | None = None,
        model: str | None = None,
        id_prefix: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[Job]:
        """Matching jobs by creation time (oldest first unless `newest_first`), at most
        `limit` of them."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Ledger(JobStore, Protocol):
    """A `JobStore` that also answers what routing, budgets and recovery need."""

    def save_request(self, job_id: str, request: GenerationRequest) -> None: ...

    def load_request(self, job_id: str) -> GenerationRequest | None: ...

    def stats(self, provider: str, model: str) -> ProviderStats: ...

    def spend_usd(self, since: datetime) -> Decimal:
        """USD charged by attempts that ended since `since` (where a USD figure is known)."""
        ...

    def committed_usd(self, since: datetime) -> Decimal:
        """Estimated USD of attempts started since `since` that may still be charged (live,
        or with an unknown outcome)."""
        ...

    def resumable(self) -> list[Job]:
        """Jobs not terminal that have a provider job id: tracking can continue."""
        ...

    def unknown_submits(self) -> list[Job]:
        """Jobs not terminal without a provider job id: a submit may have created one."""
        ...


def is_resumable(job: Job) -> bool:
    return not job.status.is_terminal and job.provider_job_id is not None


def is_unknown_submit(job: Job) -> bool:
    return not job.status.is_terminal and job.provider_job_id is None


def dump_request(request: GenerationRequest) -> str:
    """JSON for a request, bytes included (base64), so a resubmit survives a restart."""
    data: dict[str, Any] = request.model_dump(mode="json", exclude=set(_MEDIA))
    for name in _MEDIA:
        media: Media | None = getattr(request, name)
        if media is None:
            continue
        item: dict[str, Any] = {"content_type": media.content_type}
        if media.url is not None:
            item["url"] = media.url
        elif media.path is not None:
            item["path"] = str(media.path)
        elif media.data is not None:
            item["data_b64"] = base64.b64encode(media.data).decode()
        data[name] = item
    return json.dumps(data, separators=(",", ":"))


def load_request(text: str) -> GenerationRequest:
    data = json.loads(text)
    for name in _MEDIA:
        item = data.get(name)
        if isinstance(item, dict) and "data_b64" in item:
            item["data"] = base64.b64decode(item.pop("data_b64"))
    return GenerationRequest.model_validate(data)


class MemoryStore:
    """Keeps jobs in a dict: nothing survives the process."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._requests: dict[str, GenerationRequest] = {}

    def save(self, job: Job) -> None:
        self._jobs[job.id] = job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def find(
        self,
        *,
        statuses: Iterable[JobStatus] | None = None,
        provider: str | None = None,
        model: str | None = None,
        id_prefix: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[Job]:
        wanted = set(statuses) if statuses is not None else None
        found = [
            job
            for job in self._jobs.values()
            if (wanted is None or job.status in wanted)
            and (provider is None or job.provider == provider)
            and (model is None or job.model == model)
            and (id_prefix is None or job.id.startswith(id_prefix))
        ]
        found.sort(key=lambda job: (job.created_at, job.id), reverse=newest_first)
        return found[:limit] if limit is not None else found

    def close(self) -> None:
        pass

    # -- Ledger ------------------------------------------------------------------------
    def save_request(self, job_id: str, request: GenerationRequest) -> None:
        self._requests[job_id] = request

    def load_request(self, job_id: str) -> GenerationRequest | None:
        return self._requests.get(job_id)

    def _facts(self) -> Iterable[Any]:
        for job in self._jobs.values():
            yield from facts_from_job(job)

    def stats(self, provider: str, model: str) -> ProviderStats:
        facts = [f for f in self._facts() if f.provider == provider and f.model == model]
        facts.sort(key=lambda f: f.ended_at or 0.0, reverse=True)
        samples = [s for s in map(sample_of, facts) if s is not None][:MAX_SAMPLES]
        return summarize(provider, model, samples)

    def spend_usd(self, since: datetime) -> Decimal:
        cutoff = since.timestamp()
        return sum(
            (
                f.cost_usd
                for f in self._facts()
                if f.charged and f.cost_usd is not None and (f.ended_at or 0.0) >= cutoff
            ),
            start=Decimal(0),
        )

    def committed_usd(self, since: datetime) -> Decimal:
        cutoff = since.timestamp()
        return sum(
            (
                f.estimate_usd
                for f in self._facts()
                if f.started_at >= cutoff
                and f.estimate_usd is not None
                and (
                    (
                        f.charged is None
                        and f.outcome in ("accepted", "unknown")
                        and not (f.status is not None and JobStatus(f.status).is_terminal)
                    )
                    # charged, but the provider never said what it billed
                    or (f.charged is True and f.cost_usd is None)
                )
            ),
            start=Decimal(0),
        )

    def resumable(self) -> list[Job]:
        return [job for job in self.find() if is_resumable(job)]

    def unknown_submits(self) -> list[Job]:
        return [job for job in self.find() if is_unknown_submit(job)]
