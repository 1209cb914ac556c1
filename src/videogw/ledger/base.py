"""The ledger contract: the single source of truth for jobs, shared by every process.

Every backend (memory, SQLite, PostgreSQL) implements all of `Ledger`, and
`videogw.testing.LedgerContract` is the one conformance suite they all pass. What it
promises:

- **Versioned records.** `create` stores a job at version 1; `update` is a compare-and-swap
  on the version the job was read at (`Job.version`) and returns it at the next version. A
  stale writer gets `StaleJobError`, re-reads and re-applies its change (the `Recorder`
  does this). There is no blind upsert.
- **Idempotency keys are unique per ledger.** `create` of a known key returns the stored
  job when the request is the same and raises `IdempotencyConflictError` when it differs.
- **Leases.** `acquire` / `release` / `claim`: whoever acts on an accepted job holds its
  lease; an expired lease may be taken over. `claim` takes a batch of open jobs atomically.
- **Holds.** An attempt that may still be charged (sending, accepted and live, or unknown)
  holds its estimate; a `Budget` passed with a write is checked in the same transaction
  that adds the hold, so concurrent submitters never pass it together.
- **Client keys.** The server's bearer keys are kept hashed (never the secret): `add_key`,
  `list_keys`, `key_by_hash`, `revoke_key`. A key id is what a job's ``labels["client_key"]``
  names.
- **Typed failures.** Every backend error is a `LedgerError`; a row that cannot be read
  is reported and skipped by `find`, and raises `LedgerCorruptError` from `get`.
- **Group commit.** Writes made inside `grouped(group)` may be left in an open
  transaction (SQLite does; the others commit each write at once); `commit()` makes them
  durable together, one fsync for the lot. The async engine groups every write an
  operation makes between two of its effects and commits them before a request leaves,
  before a result is returned, by the end of the next event-loop tick, so many concurrent
  submits and status reads share one commit. Until committed, a write is visible to this
  process only: nothing that depends on it has left the process yet.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from ..models import AttemptOutcome, GenerationRequest, Job, JobStatus, Media
from ..stats import ProviderStats, facts_from_job

__all__ = [
    "Budget",
    "ClientKey",
    "Group",
    "Lease",
    "Ledger",
    "Listening",
    "Standing",
    "dump_request",
    "exposure_usd",
    "fingerprint",
    "grouped",
    "is_claimable",
    "is_resumable",
    "is_unknown_submit",
    "job_query",
    "load_request",
    "new_owner",
]

_MEDIA = ("image", "end_image", "audio")
# outcomes of an attempt that may still be charged while its status is not terminal
HOLDING = frozenset({AttemptOutcome.accepted, AttemptOutcome.unknown, AttemptOutcome.sending})
HOLDING_VALUES = frozenset(o.value for o in HOLDING)


@dataclass(frozen=True)
class Budget:
    """Limits checked in the transaction that adds a hold (a new attempt's estimate).

    `daily_usd`: spend plus holds since `since` (the start of the day), over every job, or
    over one client key's jobs when `client_key` is set. `overall_daily_usd`: the same over
    every job, checked as well when `daily_usd` is a client key's. `per_job_usd`: what one
    logical job may have charged or held across its attempts. `max_in_flight`: how many
    attempts may be live at `provider` at once, this one included (a provider's
    concurrent-job limit per account), over every process sharing the ledger."""

    since: datetime
    daily_usd: Decimal | None = None
    per_job_usd: Decimal | None = None
    client_key: str | None = None
    overall_daily_usd: Decimal | None = None
    # at most this many attempts live at `provider` (`Ledger.in_flight`), fleet-wide
    provider: str | None = None
    max_in_flight: int | None = None


@dataclass(frozen=True)
class ClientKey:
    """A server client key as the ledger keeps it: the secret's SHA-256, never the secret."""

    id: str
    name: str
    key_hash: str
    created_at: datetime
    budget_usd_per_day: Decimal | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Standing:
    """What the fleet learned about a provider (shared through the ledger): no submits to
    it for `paused_s` more seconds (a Retry-After, an open circuit breaker), or none at all
    until it is reset (`disabled`: out of credit, or its key was refused)."""

    provider: str
    paused_s: float = 0.0
    pause_reason: str | None = None
    disabled: str | None = None
    credit: bool = False
    by: str | None = None  # who recorded the latest of it (a process's token)


@dataclass(frozen=True)
class Lease:
    owner: str
    until: float  # seconds since the epoch


class Listening(Protocol):
    """A subscription made by `Ledger.listen`."""

    def close(self) -> None: ...


@dataclass
class Group:
    """One operation's share of a group commit: whether it wrote since its last commit, and
    the acceptances among those writes (a provider job id that must not be lost: if the
    commit fails they are reported by `AcceptanceNotRecordedError`)."""

    wrote: bool = False
    acceptances: list[tuple[str, str, str]] = field(default_factory=list)  # job, provider, id
    # what the operation believes because of its writes since the last commit (a lease it
    # took), to forget if the commit fails
    undo: list[Callable[[], None]] = field(default_factory=list)

    def committed(self) -> None:
        self.wrote = False
        self.acceptances.clear()
        self.undo.clear()

    def lost(self) -> None:
        """The commit failed: forget what the lost writes made the operation believe."""
        for forget in self.undo:
            forget()
        self.committed()


_GROUP: ContextVar[Group | None] = ContextVar("videogw_ledger_group", default=None)


@contextmanager
def grouped(group: Group | None) -> Iterator[None]:
    """Writes made inside may stay uncommitted until `Ledger.commit()` (see "Group commit"
    above); `grouped(None)` changes nothing."""
    if group is None:
        yield
        return
    token = _GROUP.set(group)
    try:
        yield
    finally:
        _GROUP.reset(token)


def join_group(group: Group | None) -> Token[Group | None]:
    """`grouped()` without the context manager, for the engine's hot loop: pair it with
    `leave_group(token)` in a ``finally``."""
    return _GROUP.set(group)


def leave_group(token: Token[Group | None]) -> None:
    _GROUP.reset(token)


def current_group() -> Group | None:
    """The group the calling operation's writes join, if any."""
    return _GROUP.get()


def new_owner(kind: str = "op") -> str:
    """A lease owner id: host, process and a fresh token (two threads never share one)."""
    return f"{socket.gethostname()}:{os.getpid()}:{kind}:{uuid.uuid4().hex[:8]}"


def is_resumable(job: Job) -> bool:
    return not job.status.is_terminal and job.provider_job_id is not None


def is_unknown_submit(job: Job) -> bool:
    """Not finished and no provider job id: a submit may have created a paid job."""
    return not job.status.is_terminal and job.provider_job_id is None


def is_claimable(job: Job) -> bool:
    """Open for tracking: accepted and live, or finished with aftercare still to do."""
    return is_resumable(job) or job.aftercare is not None


def exposure_usd(job: Job) -> Decimal:
    """What one logical job has charged or may still be charged, in USD (estimates stand
    in where the provider reports no figure)."""
    total = Decimal(0)
    for fact in facts_from_job(job):
        if fact.charged:
            total += fact.cost_usd if fact.cost_usd is not None else fact.estimate_usd or 0
        elif (
            fact.charged is None
            and fact.outcome in HOLDING_VALUES
            and (fact.status is None or not JobStatus(fact.status).is_terminal)
        ):
            total += fact.estimate_usd or 0
    return total


def _request_data(request: GenerationRequest) -> dict[str, Any]:
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
    return data


def dump_request(request: GenerationRequest) -> str:
    """JSON for a request, bytes included (base64), so a resubmit survives a restart."""
    return json.dumps(_request_data(request), separators=(",", ":"), sort_keys=True)


def load_request(text: str) -> GenerationRequest:
    data = json.loads(text)
    for name in _MEDIA:
        item = data.get(name)
        if isinstance(item, dict) and "data_b64" in item:
            item["data"] = base64.b64decode(item.pop("data_b64"))
    return GenerationRequest.model_validate(data)


def fingerprint(request: GenerationRequest | None) -> str | None:
    """What makes two submits "the same request" for an idempotency key: everything but
    the key itself."""
    return None if request is None else _fingerprint(_request_data(request))


def _fingerprint(data: dict[str, Any]) -> str:
    # The same text as hashing `dump_request` re-read without the key (what ledgers
    # already hold), without the JSON round trip: it ran on every submit.
    keyless = {name: value for name, value in data.items() if name != "idempotency_key"}
    text = json.dumps(keyless, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def request_record(request: GenerationRequest | None) -> tuple[str | None, str | None]:
    """`dump_request` and `fingerprint` of one request, its fields read once (a create
    stores both)."""
    if request is None:
        return None, None
    data = _request_data(request)
    return json.dumps(data, separators=(",", ":"), sort_keys=True), _fingerprint(data)


def job_query(
    select: str,
    mark: str,
    *,
    statuses: Iterable[JobStatus] | None = None,
    provider: str | None = None,
    model: str | None = None,
    id_prefix: str | None = None,
    newest_first: bool = False,
    limit: int | None = None,
) -> tuple[str, list[Any]] | None:
    """The SQL of `Ledger.find` for a backend whose parameter mark is `mark` (``?`` or
    ``%s``), and its arguments; None when nothing can match."""
    where: list[str] = []
    args: list[Any] = []
    if statuses is not None:
        wanted = [JobStatus(s).value for s in statuses]
        if not wanted:
            return None
        where.append(f"status IN ({', '.join([mark] * len(wanted))})")
        args.extend(wanted)
    if provider is not None:
        where.append(f"provider = {mark}")
        args.append(provider)
    if model is not None:
        where.append(f"model = {mark}")
        args.append(model)
    if id_prefix is not None:
        # ids are hex (compared byte-wise): a range on the primary key, not a LIKE scan
        where.append(f"id >= {mark} AND id < {mark}")
        args.extend([id_prefix, id_prefix + "\U0010ffff"])
    query = select + (" WHERE " + " AND ".join(where) if where else "")
    query += " ORDER BY created_at DESC, id DESC" if newest_first else " ORDER BY created_at, id"
    if limit is not None:
        query += f" LIMIT {max(0, min(int(limit), 2**62))}"
    return query, args


class Ledger(ABC):
    """Where jobs are kept: see the module docstring for the contract."""

    # -- jobs -------------------------------------------------------------------------
    @abstractmethod
    def create(
        self,
        job: Job,
        request: GenerationRequest | None = None,
        *,
        lease: tuple[str, float] | None = None,
        budget: Budget | None = None,
    ) -> Job:
        """Store a new job at version 1, with its request, and optionally a lease for its
        creator (`lease=(owner, ttl_s)`). A known idempotency key returns the stored job
        unchanged when `request` is the same, and raises `IdempotencyConflictError` when
        it differs."""

    @abstractmethod
    def update(self, job: Job, *, budget: Budget | None = None, release: str | None = None) -> Job:
        """Write `job` if the stored version is still `job.version`; return it at the next
        version. Raises `StaleJobError` otherwise, `BudgetExceededError` when `budget`
        would be passed by the holds this write adds. `release`: give up the job's lease
        in the same write when that owner holds it (`release()` folded in: a refused write
        keeps it)."""

    @abstractmethod
    def get(self, job_id: str) -> Job | None: ...

    @abstractmethod
    def get_by_key(self, idempotency_key: str) -> Job | None: ...

    @abstractmethod
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
        `limit`. A row that cannot be read is logged and skipped."""

    @abstractmethod
    def load_request(self, job_id: str) -> GenerationRequest | None: ...

    # -- leases -----------------------------------------------------------------------
    @abstractmethod
    def acquire(self, job_id: str, owner: str, ttl_s: float) -> bool:
        """Take (or renew) the job's lease for `ttl_s`; False when another owner holds a
        lease that has not expired."""

    @abstractmethod
    def acquire_many(self, job_ids: Iterable[str], owner: str, ttl_s: float) -> set[str]:
        """`acquire` for many jobs in one transaction; returns the ids now held."""

    @abstractmethod
    def release(self, job_id: str, owner: str) -> None:
        """Give the lease up, if `owner` holds it."""

    @abstractmethod
    def lease(self, job_id: str) -> Lease | None:
        """The live lease on a job, if any."""

    @abstractmethod
    def claim(self, owner: str, ttl_s: float, limit: int) -> list[Job]:
        """Lease up to `limit` open jobs (accepted and live, or with aftercare to do) that
        nobody holds, atomically, oldest first (by creation: the order no status write
        changes, so the index serving it is not rewritten by every write)."""

    # -- reading for routing, budgets and recovery --------------------------------------
    @abstractmethod
    def unknown_submits(self) -> list[Job]:
        """Jobs not finished without a provider job id: a submit may have created one."""

    @abstractmethod
    def resumable(self) -> list[Job]:
        """Jobs not finished that have a provider job id (a read: nothing is claimed)."""

    @abstractmethod
    def stats(self, provider: str, model: str) -> ProviderStats: ...

    @abstractmethod
    def spend_usd(self, since: datetime, *, client_key: str | None = None) -> Decimal:
        """USD charged by attempts that ended since `since` (where a USD figure is known)."""

    @abstractmethod
    def committed_usd(self, since: datetime, *, client_key: str | None = None) -> Decimal:
        """Holds: estimated USD of attempts started since `since` that may still be charged,
        and of charged attempts whose provider never reported a figure."""

    # -- client keys (the server's) -------------------------------------------------------
    @abstractmethod
    def add_key(self, key: ClientKey) -> ClientKey:
        """Store a new client key (its id and hash are unique)."""

    @abstractmethod
    def list_keys(self) -> list[ClientKey]:
        """Every client key, revoked ones included, oldest first."""

    @abstractmethod
    def key_by_hash(self, key_hash: str) -> ClientKey | None:
        """The key whose secret hashes to `key_hash` (revoked or not)."""

    @abstractmethod
    def revoke_key(self, id_or_name: str, at: datetime) -> list[ClientKey]:
        """Revoke the active keys with this id or name; returns them as revoked."""

    @abstractmethod
    def in_flight(self, provider: str) -> int:
        """Attempts at `provider` being sent or accepted and not finished (unknown outcomes
        are not counted: they await reconciliation). `Budget.max_in_flight` bounds it."""

    # -- provider standing, shared by the fleet ------------------------------------------
    @abstractmethod
    def pause(self, provider: str, seconds: float, reason: str, *, by: str | None = None) -> None:
        """No submits to `provider` for `seconds` (judged by the ledger's clock; a longer
        pause already recorded stands). `by` names the process that learned it."""

    @abstractmethod
    def disable(self, provider: str, reason: str, *, credit: bool, by: str | None = None) -> None:
        """No submits to `provider` until `reset_standing` (out of credit, key refused)."""

    @abstractmethod
    def reset_standing(self, provider: str | None = None) -> None:
        """Forget pauses and disables (of one provider, or all)."""

    @abstractmethod
    def standings(self) -> dict[str, Standing]:
        """Every provider paused now or disabled."""

    # -- group commit ----------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        """Are there grouped writes not yet committed?"""
        return False

    def commit(self) -> None:
        """Make every grouped write durable (one transaction). A backend that commits each
        write at once has nothing to do."""
        return None

    # -- telling the fleet ---------------------------------------------------------------
    def notify(self, job_id: str) -> None:
        """Tell the process tracking `job_id` that news about it was recorded (a webhook):
        PostgreSQL sends a NOTIFY; elsewhere this does nothing (one process hears its own
        news through its pollers)."""
        return None

    def listen(self, callback: Callable[[str], None]) -> Listening | None:
        """Call `callback(job_id)` (from another thread) for every `notify` made by any
        process, until the returned handle is closed; None where there is no such channel."""
        return None

    @abstractmethod
    def close(self) -> None: ...

    @property
    def location(self) -> str:
        """Where the ledger is, for messages."""
        return type(self).__name__
