"""The in-memory ledger: the whole contract on dicts, for tests and throwaway scripts.
Nothing survives the process; one lock makes it safe to share between threads."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

from ..errors import (
    BudgetExceededError,
    IdempotencyConflictError,
    InFlightLimitError,
    LedgerError,
    StaleJobError,
)
from ..models import GenerationRequest, Job, JobStatus
from ..stats import MAX_SAMPLES, AttemptFact, ProviderStats, facts_from_job, sample_of, summarize
from .base import (
    HOLDING_VALUES,
    Budget,
    ClientKey,
    Lease,
    Ledger,
    Standing,
    exposure_usd,
    fingerprint,
    is_claimable,
    is_resumable,
    is_unknown_submit,
)

__all__ = ["MemoryLedger", "check_budget"]


def check_budget(
    budget: Budget,
    job: Job,
    spent: Callable[[datetime, str | None], Decimal],
    live: Callable[[str], int] | None = None,
) -> None:
    """Raise `BudgetExceededError` when `job` (as about to be written) passes `budget`;
    `spent(since, client_key)` is the ledger's spend plus holds, `live(provider)` its
    attempts in flight, this write included."""
    if budget.max_in_flight is not None and budget.provider is not None and live is not None:
        count = live(budget.provider)
        if count > budget.max_in_flight:
            raise InFlightLimitError(budget.provider, budget.max_in_flight)
    if budget.per_job_usd is not None:
        exposure = exposure_usd(job)
        if exposure > budget.per_job_usd:
            raise BudgetExceededError(
                f"over budget: this job would have ${exposure} charged or held > "
                f"max_cost_usd ${budget.per_job_usd}",
                limit_usd=budget.per_job_usd,
                spent_usd=exposure,
            )
    if budget.overall_daily_usd is not None:
        _check_daily(budget.overall_daily_usd, spent(budget.since, None), None)
    if budget.daily_usd is not None:
        _check_daily(budget.daily_usd, spent(budget.since, budget.client_key), budget.client_key)


def _check_daily(limit: Decimal, total: Decimal, client_key: str | None) -> None:
    if total > limit:
        who = f" for client key {client_key}" if client_key else ""
        raise BudgetExceededError(
            f"over daily budget{who}: ${total} spent or held today with this job > ${limit}",
            limit_usd=limit,
            spent_usd=total,
        )


def _live(fact: AttemptFact) -> bool:
    """Sent or accepted, not finished: a slot taken at the provider."""
    live = fact.status is None or not JobStatus(fact.status).is_terminal
    return live and fact.outcome in ("accepted", "sending")


def _committed(fact: AttemptFact, cutoff: float) -> bool:
    if fact.started_at < cutoff or fact.estimate_usd is None:
        return False
    live = fact.status is None or not JobStatus(fact.status).is_terminal
    held = fact.charged is None and fact.outcome in HOLDING_VALUES and live
    # charged, but the provider never said what it billed
    return held or (fact.charged is True and fact.cost_usd is None)


class MemoryLedger(Ledger):
    """`Ledger` on dicts."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._paused: dict[str, tuple[float, str]] = {}
        self._disabled: dict[str, tuple[str, bool]] = {}
        self._by: dict[str, str | None] = {}
        self._jobs: dict[str, Job] = {}
        self._requests: dict[str, GenerationRequest] = {}
        self._keys: dict[str, tuple[str, str | None]] = {}  # key -> (job id, fingerprint)
        self._leases: dict[str, Lease] = {}
        self._client_keys: dict[str, ClientKey] = {}
        self._clock = clock

    def __repr__(self) -> str:
        return f"<MemoryLedger {len(self._jobs)} jobs>"

    @property
    def location(self) -> str:
        return "memory (nothing is kept after the process ends)"

    # -- jobs -------------------------------------------------------------------------
    def create(
        self,
        job: Job,
        request: GenerationRequest | None = None,
        *,
        lease: tuple[str, float] | None = None,
        budget: Budget | None = None,
    ) -> Job:
        with self._lock:
            known = self._keys.get(job.idempotency_key)
            if known is not None:
                if known[1] != fingerprint(request):
                    raise IdempotencyConflictError(job.idempotency_key, known[0])
                return self._jobs[known[0]]
            if job.id in self._jobs:
                raise StaleJobError(job.id, 0, self._jobs[job.id].version)
            stored = job.model_copy(update={"version": 1})
            self._jobs[job.id] = stored
            try:
                if budget is not None:
                    check_budget(budget, stored, self._spent, self.in_flight)
            except BaseException:
                del self._jobs[job.id]
                raise
            self._keys[job.idempotency_key] = (job.id, fingerprint(request))
            if request is not None:
                self._requests[job.id] = request
            if lease is not None:
                self._leases[job.id] = Lease(lease[0], self._clock() + lease[1])
            return stored

    def update(self, job: Job, *, budget: Budget | None = None, release: str | None = None) -> Job:
        with self._lock:
            current = self._jobs.get(job.id)
            if current is None or current.version != job.version:
                raise StaleJobError(job.id, job.version, current.version if current else None)
            stored = job.model_copy(update={"version": job.version + 1})
            self._jobs[job.id] = stored
            try:
                if budget is not None:
                    check_budget(budget, stored, self._spent, self.in_flight)
            except BaseException:
                self._jobs[job.id] = current
                raise
            if release is not None:
                self._let_go(job.id, release)
            return stored

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def get_by_key(self, idempotency_key: str) -> Job | None:
        with self._lock:
            known = self._keys.get(idempotency_key)
            return self._jobs.get(known[0]) if known is not None else None

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
        with self._lock:
            jobs = list(self._jobs.values())
        found = [
            job
            for job in jobs
            if (wanted is None or job.status in wanted)
            and (provider is None or job.provider == provider)
            and (model is None or job.model == model)
            and (id_prefix is None or job.id.startswith(id_prefix))
        ]
        found.sort(key=lambda job: (job.created_at, job.id), reverse=newest_first)
        return found[:limit] if limit is not None else found

    def load_request(self, job_id: str) -> GenerationRequest | None:
        with self._lock:
            return self._requests.get(job_id)

    # -- leases -----------------------------------------------------------------------
    def acquire(self, job_id: str, owner: str, ttl_s: float) -> bool:
        with self._lock:
            if job_id not in self._jobs:
                return False
            now = self._clock()
            held = self._leases.get(job_id)
            if held is not None and held.owner != owner and held.until > now:
                return False
            self._leases[job_id] = Lease(owner, now + ttl_s)
            return True

    def acquire_many(self, job_ids: Iterable[str], owner: str, ttl_s: float) -> set[str]:
        with self._lock:
            return {job_id for job_id in job_ids if self.acquire(job_id, owner, ttl_s)}

    def release(self, job_id: str, owner: str) -> None:
        with self._lock:
            self._let_go(job_id, owner)

    def _let_go(self, job_id: str, owner: str) -> None:
        held = self._leases.get(job_id)
        if held is not None and held.owner == owner:
            del self._leases[job_id]

    def lease(self, job_id: str) -> Lease | None:
        with self._lock:
            held = self._leases.get(job_id)
            return held if held is not None and held.until > self._clock() else None

    def claim(self, owner: str, ttl_s: float, limit: int) -> list[Job]:
        with self._lock:
            now = self._clock()
            free = [
                job
                for job in self._jobs.values()
                if is_claimable(job)
                and (job.id not in self._leases or self._leases[job.id].until <= now)
            ]
            free.sort(key=lambda job: (job.created_at, job.id))  # oldest first, as SQL ledgers
            taken = free[: max(0, limit)]
            for job in taken:
                self._leases[job.id] = Lease(owner, now + ttl_s)
            return taken

    # -- reading ----------------------------------------------------------------------
    def unknown_submits(self) -> list[Job]:
        return [job for job in self.find() if is_unknown_submit(job)]

    def resumable(self) -> list[Job]:
        return [job for job in self.find() if is_resumable(job)]

    def _facts(self, client_key: str | None = None) -> list[AttemptFact]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [
            fact
            for job in jobs
            if client_key is None or job.labels.get("client_key") == client_key
            for fact in facts_from_job(job)
        ]

    def stats(self, provider: str, model: str) -> ProviderStats:
        facts = [f for f in self._facts() if f.provider == provider and f.model == model]
        facts.sort(key=lambda f: f.ended_at or 0.0, reverse=True)
        samples = [s for s in map(sample_of, facts) if s is not None][:MAX_SAMPLES]
        return summarize(provider, model, samples)

    def spend_usd(self, since: datetime, *, client_key: str | None = None) -> Decimal:
        cutoff = since.timestamp()
        return sum(
            (
                f.cost_usd
                for f in self._facts(client_key)
                if f.charged and f.cost_usd is not None and (f.ended_at or 0.0) >= cutoff
            ),
            start=Decimal(0),
        )

    def committed_usd(self, since: datetime, *, client_key: str | None = None) -> Decimal:
        cutoff = since.timestamp()
        return sum(
            (
                f.estimate_usd or Decimal(0)
                for f in self._facts(client_key)
                if _committed(f, cutoff)
            ),
            start=Decimal(0),
        )

    def _spent(self, since: datetime, client_key: str | None) -> Decimal:
        return self.spend_usd(since, client_key=client_key) + self.committed_usd(
            since, client_key=client_key
        )

    # -- client keys --------------------------------------------------------------------
    def add_key(self, key: ClientKey) -> ClientKey:
        with self._lock:
            if key.id in self._client_keys or self.key_by_hash(key.key_hash) is not None:
                raise LedgerError(f"client key {key.id} already exists")
            self._client_keys[key.id] = key
            return key

    def list_keys(self) -> list[ClientKey]:
        with self._lock:
            return sorted(self._client_keys.values(), key=lambda k: (k.created_at, k.id))

    def key_by_hash(self, key_hash: str) -> ClientKey | None:
        with self._lock:
            return next((k for k in self._client_keys.values() if k.key_hash == key_hash), None)

    def revoke_key(self, id_or_name: str, at: datetime) -> list[ClientKey]:
        with self._lock:
            revoked = []
            for key in self.list_keys():
                if key.active and id_or_name in (key.id, key.name):
                    key = dataclasses.replace(key, revoked_at=at)
                    self._client_keys[key.id] = key
                    revoked.append(key)
            return revoked

    def in_flight(self, provider: str) -> int:
        with self._lock:
            return sum(1 for f in self._facts() if f.provider == provider and _live(f))

    def pause(self, provider: str, seconds: float, reason: str, *, by: str | None = None) -> None:
        with self._lock:
            until = self._clock() + seconds
            if until > self._paused.get(provider, (0.0, ""))[0]:
                self._paused[provider] = (until, reason)
                self._by[provider] = by

    def disable(self, provider: str, reason: str, *, credit: bool, by: str | None = None) -> None:
        with self._lock:
            self._disabled[provider] = (reason, credit)
            self._by[provider] = by

    def reset_standing(self, provider: str | None = None) -> None:
        with self._lock:
            for table in (self._paused, self._disabled, self._by):
                for name in list(table):
                    if provider is None or name == provider:
                        del table[name]

    def standings(self) -> dict[str, Standing]:
        with self._lock:
            now = self._clock()
            names = {n for n, (until, _) in self._paused.items() if until > now}
            names |= set(self._disabled)
            found = {}
            for name in names:
                until, why = self._paused.get(name, (0.0, None))
                reason, credit = self._disabled.get(name, (None, False))
                found[name] = Standing(
                    name, max(0.0, until - now), why, reason, credit, self._by.get(name)
                )
            return found

    def close(self) -> None:
        pass
