"""The durable ledger on one SQLite file in WAL mode (the embedded default).

Each `Job` is stored whole as its JSON next to indexed columns for the queries videogw
makes; attempts get a row each, so statistics, budgets and holds count every attempt.

Across processes on one machine: every write is one ``BEGIN IMMEDIATE`` transaction, so
a compare-and-swap on the version, a lease taken, a batch claimed, or a budget checked
together with the hold it adds, is atomic against every other process on the file.

Durability: ``synchronous=FULL`` (the default) fsyncs every commit, so a committed write
survives a killed process and a power cut alike. The async engine group-commits (see
`videogw.ledger.base`): every write its operations make within one event-loop tick (and the
next) shares one transaction and one fsync, committed before any request that depends on it
leaves.
``synchronous=NORMAL`` skips the fsync: it still survives a killed process, but a power cut
may lose the commits since the last checkpoint.

Errors are typed: a lock held past the busy timeout, a full disk or an I/O error is
`LedgerUnavailableError`; a file deleted or replaced under the process is
`LedgerReplacedError` (checked before each write); an unreadable row is skipped by `find`
and raises `LedgerCorruptError` from `get`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import (
    ConfigurationError,
    IdempotencyConflictError,
    LedgerCorruptError,
    LedgerError,
    LedgerReplacedError,
    LedgerUnavailableError,
    StaleJobError,
)
from ..models import GenerationRequest, Job, JobStatus
from ..stats import MAX_SAMPLES, AttemptFact, ProviderStats, Sample, facts_from_job, summarize
from .base import (
    Budget,
    ClientKey,
    Lease,
    Standing,
    current_group,
    is_claimable,
    request_record,
)
from .memory import check_budget
from .sql import SQLLedger

__all__ = ["SQLiteLedger"]

log = logging.getLogger("videogw.ledger")
T = TypeVar("T")

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    terminal INTEGER NOT NULL,
    provider TEXT,
    model TEXT NOT NULL,
    provider_job_id TEXT,
    idempotency_key TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    claimed_by TEXT,
    claimed_until REAL,
    request TEXT,
    job TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    open INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
CREATE INDEX IF NOT EXISTS jobs_live ON jobs (created_at) WHERE terminal = 0 OR open = 1;

CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    fingerprint TEXT
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS attempts (
    job_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status TEXT,
    started_at REAL NOT NULL,
    ended_at REAL,
    latency_s REAL,
    charged INTEGER,
    cost TEXT,
    currency TEXT,
    cost_usd REAL,
    estimate_usd REAL,
    client_key TEXT,
    UNIQUE (job_id, n)
);
CREATE INDEX IF NOT EXISTS attempts_stats ON attempts (provider, model, ended_at);
CREATE INDEX IF NOT EXISTS attempts_spend ON attempts (ended_at) WHERE charged = 1;
CREATE INDEX IF NOT EXISTS attempts_open ON attempts (started_at) WHERE charged IS NULL;

CREATE TABLE IF NOT EXISTS client_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    budget_usd_per_day TEXT,
    revoked_at REAL
);

CREATE TABLE IF NOT EXISTS provider_standing (
    provider TEXT PRIMARY KEY,
    paused_until REAL,
    pause_reason TEXT,
    disabled TEXT,
    credit INTEGER NOT NULL DEFAULT 0,
    learned_by TEXT
);
"""

# v1 (videogw 0.1) had no versions, keys table, open flag or client keys: add them
# Status writes, cheaper in v3 (a write's dirty pages are what a commit copies to the WAL,
# fsyncs and later checkpoints):
# - v2 had two partial indexes for live jobs, one keyed by updated_at, which every status
#   write changes; v3 has one, keyed by created_at, which never changes. The unfinished-job
#   queries (terminal = 0) and the claim (open = 1) both use it.
# - v2 clustered attempts by job id (WITHOUT ROWID): random ids put every write on another
#   page. v3 keeps them in insertion order (rowid) with a unique index on (job_id, n), which
#   an update does not change, so concurrent jobs' writes share pages.
_MIGRATE_V2 = (
    "DROP INDEX IF EXISTS jobs_claimable",
    "DROP INDEX IF EXISTS jobs_unfinished",
    "DROP INDEX IF EXISTS attempts_stats",
    "DROP INDEX IF EXISTS attempts_spend",
    "DROP INDEX IF EXISTS attempts_open",
    "ALTER TABLE attempts RENAME TO attempts_v2",
)
_MIGRATE_V2_AFTER = (
    "INSERT INTO attempts (job_id, n, provider, model, outcome, status, started_at, ended_at, "
    "latency_s, charged, cost, currency, cost_usd, estimate_usd, client_key) "
    "SELECT job_id, n, provider, model, outcome, status, started_at, ended_at, latency_s, "
    "charged, cost, currency, cost_usd, estimate_usd, client_key FROM attempts_v2 ORDER BY "
    "started_at",
    "DROP TABLE attempts_v2",
)

_MIGRATE_V1 = (
    "ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE jobs ADD COLUMN open INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE attempts ADD COLUMN client_key TEXT",
    "UPDATE jobs SET open = 1 WHERE terminal = 0 AND provider_job_id IS NOT NULL",
    "INSERT OR IGNORE INTO idempotency_keys (key, job_id) SELECT idempotency_key, id FROM jobs",
)

_INSERT_JOB = """
INSERT INTO jobs (id, status, terminal, provider, model, provider_job_id, idempotency_key,
                  created_at, updated_at, finished_at, claimed_by, claimed_until, request, job,
                  version, open)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
ON CONFLICT (id) DO NOTHING
"""

# claims a new idempotency key; changes no row when the key is known
_CLAIM_KEY = (
    "INSERT INTO idempotency_keys (key, job_id, fingerprint) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO NOTHING"
)

_UPDATE_JOB = """
UPDATE jobs SET status = ?, terminal = ?, provider = ?, model = ?, provider_job_id = ?,
    updated_at = ?, finished_at = ?, job = ?, open = ?, version = version + 1
WHERE id = ? AND version = ?
"""
# the same, giving up the lease when the owner bound first holds it (`release`): the
# right-hand sides read the row as it was, so both CASEs test the old claimed_by
_UPDATE_JOB_RELEASE = """
UPDATE jobs SET claimed_by = CASE WHEN claimed_by = ? THEN NULL ELSE claimed_by END,
    claimed_until = CASE WHEN claimed_by = ? THEN NULL ELSE claimed_until END,
    status = ?, terminal = ?, provider = ?, model = ?, provider_job_id = ?,
    updated_at = ?, finished_at = ?, job = ?, open = ?, version = version + 1
WHERE id = ? AND version = ?
"""

# An upsert, not INSERT OR REPLACE: a replace deletes and re-inserts the row, rewriting every
# index entry; an update touches only the indexes whose columns changed. It updates only a
# row that differs (IS NOT: null-safe), so a status write that leaves an attempt as it was
# (a progress read, an earlier attempt of a failed-over job) dirties none of its pages.
# (Measured against skipping the statement in Python by comparing with the rows of the
# version replaced: that costs a second `_attempt_rows` on every write, more than it saves
# on the status writes that do change the attempt, the common ones.)
_UPSERT_ATTEMPT = """
INSERT INTO attempts (job_id, n, provider, model, outcome, status, started_at,
    ended_at, latency_s, charged, cost, currency, cost_usd, estimate_usd, client_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id, n) DO UPDATE SET provider = excluded.provider, model = excluded.model,
    outcome = excluded.outcome, status = excluded.status, started_at = excluded.started_at,
    ended_at = excluded.ended_at, latency_s = excluded.latency_s, charged = excluded.charged,
    cost = excluded.cost, currency = excluded.currency, cost_usd = excluded.cost_usd,
    estimate_usd = excluded.estimate_usd, client_key = excluded.client_key
WHERE (attempts.provider, attempts.model, attempts.outcome, attempts.status,
       attempts.started_at, attempts.ended_at, attempts.latency_s, attempts.charged,
       attempts.cost, attempts.currency, attempts.cost_usd, attempts.estimate_usd,
       attempts.client_key)
   IS NOT (excluded.provider, excluded.model, excluded.outcome, excluded.status,
       excluded.started_at, excluded.ended_at, excluded.latency_s, excluded.charged,
       excluded.cost, excluded.currency, excluded.cost_usd, excluded.estimate_usd,
       excluded.client_key)
"""

_TERMINAL = tuple(s.value for s in JobStatus if s.is_terminal)
_IN_TERMINAL = f"({','.join('?' * len(_TERMINAL))})"  # placeholders only, values bound

_STATS = (
    "SELECT status, latency_s, charged, cost, currency, cost_usd FROM attempts "  # noqa: S608
    "WHERE provider = ? AND model = ? AND outcome = 'accepted' "
    f"AND status IN {_IN_TERMINAL} AND ended_at IS NOT NULL "
    f"ORDER BY ended_at DESC LIMIT {MAX_SAMPLES}"
)
_SPEND = "SELECT SUM(cost_usd) FROM attempts WHERE charged = 1 AND ended_at >= ?"
# Holds: attempts that may still be charged (sending, live, unknown), and charged attempts
# whose provider never says what it billed (Higgsfield bills credits silently): their
# estimate stands in, so a budget never treats a paid job as free.
_COMMITTED = (
    "SELECT SUM(estimate_usd) FROM attempts WHERE started_at >= ? AND ("  # noqa: S608
    "(charged IS NULL AND outcome IN ('accepted', 'unknown', 'sending') "
    f"AND (status IS NULL OR status NOT IN {_IN_TERMINAL})) "
    "OR (charged = 1 AND cost_usd IS NULL))"
)
_BY_CLIENT = " AND client_key = ?"
# attempts holding a slot at a provider: sent or accepted, not finished
_IN_FLIGHT = (
    "SELECT count(*) FROM attempts WHERE provider = ? "  # noqa: S608
    "AND outcome IN ('accepted', 'sending') "
    f"AND (status IS NULL OR status NOT IN {_IN_TERMINAL})"
)


def _opt(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _decimal(value: float | None) -> Decimal:
    # SQLite sums REALs; round back to a sensible number of places for money
    return Decimal(0) if value is None else Decimal(str(round(value, 9))).normalize()


def _unavailable(exc: sqlite3.Error, path: object) -> LedgerError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        hint = "another process held the ledger locked for longer than the busy timeout"
    elif "full" in text:
        hint = "the disk is full"
    else:
        hint = type(exc).__name__
    error = LedgerUnavailableError(f"ledger {path}: {text} ({hint})")
    error.__cause__ = exc
    return error


def _job_row(job: Job) -> tuple[Any, ...]:
    return (
        job.status,  # a StrEnum is a str: `.value` costs an enum descriptor per write
        int(job.status.is_terminal),
        job.provider,
        job.model,
        job.provider_job_id,
    )


def _attempt_rows(job: Job) -> list[tuple[Any, ...]]:
    client = job.labels.get("client_key")
    return [_attempt_row(f, client) for f in facts_from_job(job)]


def _attempt_row(f: AttemptFact, client: str | None) -> tuple[Any, ...]:
    return (
        f.job_id,
        f.n,
        f.provider,
        f.model,
        f.outcome,
        f.status,
        f.started_at,
        f.ended_at,
        f.latency_s,
        None if f.charged is None else int(f.charged),
        str(f.cost) if f.cost is not None else None,
        f.currency,
        _opt(f.cost_usd),
        _opt(f.estimate_usd),
        client,
    )


# Every open ledger of this process, by file: a grouped transaction is committed by its
# event loop at the end of a tick, so another connection to the file that waited for it in
# SQLite's busy handler on the same loop would wait for ever; it commits it first instead.
_OPEN: dict[tuple[int, int], weakref.WeakSet[SQLiteLedger]] = {}
_OPEN_LOCK = threading.Lock()


class SQLiteLedger(SQLLedger):
    """`Ledger` on one SQLite file (or ``":memory:"``)."""

    PLACEHOLDER = "?"
    JOB_TEXT = "job"
    REQUEST_TEXT = "request"

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "FULL",
        busy_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        memory = str(path) == ":memory:"
        if not memory:
            if self.path.is_dir():
                raise ConfigurationError(
                    f"ledger path {self.path} is a directory: name a file in it (e.g. "
                    f"{self.path / 'ledger.sqlite3'})"
                )
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LedgerUnavailableError(f"ledger {self.path}: {exc}") from exc
        try:
            self._db = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, cached_statements=64
            )
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._migrate()
        except sqlite3.Error as exc:
            raise _unavailable(exc, self.path) from exc
        self._identity = None if memory else self._stat()
        self._grouped = False  # grouped writes in the open transaction, not yet committed
        self._lost: LedgerError | None = None  # they were rolled back: tell their commit
        if self._identity is not None:
            with _OPEN_LOCK:
                _OPEN.setdefault(self._identity, weakref.WeakSet()).add(self)

    def __repr__(self) -> str:
        return f"<SQLiteLedger {str(self.path)!r}>"

    @property
    def location(self) -> str:
        return str(self.path)

    def _migrate(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            existing = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
            ).fetchone()
            if existing and version < 2:
                for statement in _MIGRATE_V1[:3]:
                    db.execute(statement)
            if existing and version < 3:
                for statement in _MIGRATE_V2:
                    db.execute(statement)
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            if existing and version < 3:
                for statement in _MIGRATE_V2_AFTER:
                    db.execute(statement)
            if existing and version < 2:
                for statement in _MIGRATE_V1[3:]:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- plumbing ---------------------------------------------------------------------
    def _stat(self) -> tuple[int, int]:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            raise LedgerReplacedError(
                f"ledger {self.path} was deleted while this process had it open; nothing "
                "more is written there (restore it, or start again on a new ledger)"
            ) from None
        return info.st_dev, info.st_ino

    def _check_file(self) -> None:
        if self._identity is not None and self._stat() != self._identity:
            raise LedgerReplacedError(
                f"ledger {self.path} was replaced by another file while this process had "
                "it open; nothing more is written (restart to use the new file)"
            )

    def _write(self, work: Callable[[sqlite3.Connection], T], *, guarded: bool = False) -> T:
        """One write, under the write lock taken up front (BEGIN IMMEDIATE), so what `work`
        reads and checks still holds when it commits.

        Inside `grouped(...)` the write joins a transaction left open for the group commit
        (`commit()`). Outside, it commits at once, with any grouped writes still open
        (committing early is safe). `guarded`: `work` may raise after changing rows (a
        budget check), so it runs in a savepoint and a refusal undoes it alone; other
        writes raise only before they change anything (a compare-and-swap that matched no
        row). A database error mid-write undoes the whole open transaction."""
        group = current_group()
        if not self._db.in_transaction:
            self._commit_peers()
        with self._lock:
            if self._lost is not None:
                raise self._lost  # until the group that lost its writes has heard of it
            db = self._db
            try:
                if not db.in_transaction:
                    self._check_file()
                    db.execute("BEGIN IMMEDIATE")
                if guarded:
                    db.execute("SAVEPOINT w")
                try:
                    result = work(db)
                except sqlite3.Error:
                    raise
                except BaseException:
                    if guarded:
                        db.execute("ROLLBACK TO w")
                        db.execute("RELEASE w")
                    if not self._grouped:
                        db.execute("ROLLBACK")  # nothing else rides on it: free the lock
                    raise
                if guarded:
                    db.execute("RELEASE w")
                if group is None:
                    self._end_with_group()
            except sqlite3.Error as exc:
                error = _unavailable(exc, self.path)
                if self._grouped:
                    # the grouped writes before this one go with it; their commit says so
                    self._lost = LedgerUnavailableError(
                        f"ledger {self.path}: uncommitted writes were rolled back ({error})"
                    )
                with contextlib.suppress(sqlite3.Error):
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                raise error from exc
            if group is not None:
                group.wrote = True
                self._grouped = True
            return result

    def _end_with_group(self) -> None:
        """Commit a write made outside any group, and the grouped writes it rides with: if
        that fails, their own commit must still say so to the operations that made them."""
        grouped = self._grouped
        try:
            self._end()
        except LedgerError as exc:
            if grouped:
                self._lost, self._grouped = exc, True
            raise

    def _end(self) -> None:
        """Commit the open transaction, grouped writes and all."""
        lost, self._lost, self._grouped = self._lost, None, False
        db = self._db
        if lost is not None:
            with contextlib.suppress(sqlite3.Error):
                if db.in_transaction:
                    db.execute("ROLLBACK")
            raise lost
        if not db.in_transaction:
            return
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                if db.in_transaction:
                    db.execute("ROLLBACK")
            raise _unavailable(exc, self.path) from exc

    def _commit_peers(self) -> None:
        """Commit the grouped writes other ledgers of this process hold open on this file
        (committing early is always safe), so the write lock is not held by a transaction
        whose commit waits for this very thread's event loop."""
        if self._identity is None or len(_OPEN.get(self._identity, ())) < 2:
            return  # the usual case, on every write: this ledger is the file's only one here
        with _OPEN_LOCK:
            peers = [p for p in _OPEN.get(self._identity, ()) if p is not self and p._grouped]
        for peer in peers:
            peer._commit_early()

    def _commit_early(self) -> None:
        with self._lock:
            if not self._grouped or self._lost is not None:
                return
            try:
                self._end()
            except LedgerError as exc:
                # its own commit must still report it to the operations that wrote
                self._lost, self._grouped = exc, True

    @property
    def pending(self) -> bool:
        return self._grouped

    def commit(self) -> None:
        with self._lock:
            self._end()

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, list(args)).fetchall()
            except sqlite3.Error as exc:
                raise _unavailable(exc, self.path) from exc

    def _spent(self, db: sqlite3.Connection, since: datetime, client: str | None) -> Decimal:
        extra = _BY_CLIENT if client is not None else ""
        args: tuple[Any, ...] = (client,) if client is not None else ()
        (spent,) = db.execute(_SPEND + extra, (since.timestamp(), *args)).fetchone()
        (held,) = db.execute(_COMMITTED + extra, (since.timestamp(), *_TERMINAL, *args)).fetchone()
        return _decimal(spent) + _decimal(held)

    def _attempts_and_budget(
        self, db: sqlite3.Connection, stored: Job, budget: Budget | None
    ) -> None:
        """The rest of a job's write: its attempt rows (holds and statistics), then the
        budget, checked against the holds this very write adds."""
        rows = _attempt_rows(stored)
        if rows:
            db.executemany(_UPSERT_ATTEMPT, rows)
        if budget is not None:
            check_budget(
                budget,
                stored,
                lambda since, c: self._spent(db, since, c),
                lambda provider: self._in_flight(db, provider),
            )

    # -- jobs -------------------------------------------------------------------------
    def create(
        self,
        job: Job,
        request: GenerationRequest | None = None,
        *,
        lease: tuple[str, float] | None = None,
        budget: Budget | None = None,
    ) -> Job:
        stored = job.model_copy(update={"version": 1})
        request_text, print_ = request_record(request)

        def work(db: sqlite3.Connection) -> Job:
            # the key first: one statement claims it in the common case (a new key)
            if not db.execute(_CLAIM_KEY, (job.idempotency_key, job.id, print_)).rowcount:
                known = db.execute(
                    "SELECT k.job_id, k.fingerprint, j.job FROM idempotency_keys k "
                    "LEFT JOIN jobs j ON j.id = k.job_id WHERE k.key = ?",
                    (job.idempotency_key,),
                ).fetchone()
                if known[1] != print_:
                    raise IdempotencyConflictError(job.idempotency_key, known[0])
                if known[2] is None:
                    raise LedgerCorruptError(job.id, "its idempotency key names no stored job")
                return self._parse(known[0], known[2])
            inserted = db.execute(
                _INSERT_JOB,
                (
                    job.id,
                    *_job_row(stored),
                    job.idempotency_key,
                    job.created_at.timestamp(),
                    job.updated_at.timestamp(),
                    job.finished_at.timestamp() if job.finished_at else None,
                    lease[0] if lease else None,
                    self._clock() + lease[1] if lease else None,
                    request_text,
                    stored.model_dump_json(),
                    int(is_claimable(stored)),
                ),
            ).rowcount
            if not inserted:
                # a job id already on file: undo the key claimed above before raising (an
                # unguarded write may raise only with its own changes undone, see _write)
                db.execute("DELETE FROM idempotency_keys WHERE key = ?", (job.idempotency_key,))
                (found,) = db.execute("SELECT version FROM jobs WHERE id = ?", (job.id,)).fetchone()
                raise StaleJobError(job.id, 0, found)
            self._attempts_and_budget(db, stored, budget)
            return stored

        return self._write(work, guarded=budget is not None)

    def update(self, job: Job, *, budget: Budget | None = None, release: str | None = None) -> Job:
        stored = job.model_copy(update={"version": job.version + 1})
        sql, owner = (_UPDATE_JOB, ()) if release is None else (_UPDATE_JOB_RELEASE, (release,) * 2)

        def work(db: sqlite3.Connection) -> Job:
            changed = db.execute(
                sql,
                (
                    *owner,
                    *_job_row(stored),
                    stored.updated_at.timestamp(),
                    stored.finished_at.timestamp() if stored.finished_at else None,
                    stored.model_dump_json(),
                    int(is_claimable(stored)),
                    job.id,
                    job.version,
                ),
            ).rowcount
            if changed != 1:
                found = db.execute("SELECT version FROM jobs WHERE id = ?", (job.id,)).fetchone()
                raise StaleJobError(job.id, job.version, found[0] if found else None)
            self._attempts_and_budget(db, stored, budget)
            return stored

        return self._write(work, guarded=budget is not None)

    # -- leases -----------------------------------------------------------------------
    def acquire(self, job_id: str, owner: str, ttl_s: float) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            now = self._clock()
            return (
                db.execute(
                    "UPDATE jobs SET claimed_by = ?, claimed_until = ? WHERE id = ? AND "
                    "(claimed_by IS NULL OR claimed_by = ? OR claimed_until <= ?)",
                    (owner, now + ttl_s, job_id, owner, now),
                ).rowcount
                == 1
            )

        return self._write(work)

    def acquire_many(self, job_ids: Iterable[str], owner: str, ttl_s: float) -> set[str]:
        wanted = list(job_ids)

        def work(db: sqlite3.Connection) -> set[str]:
            now = self._clock()
            held = set()
            for job_id in wanted:
                taken = db.execute(
                    "UPDATE jobs SET claimed_by = ?, claimed_until = ? WHERE id = ? AND "
                    "(claimed_by IS NULL OR claimed_by = ? OR claimed_until <= ?)",
                    (owner, now + ttl_s, job_id, owner, now),
                ).rowcount
                if taken:
                    held.add(job_id)
            return held

        return self._write(work) if wanted else set()

    def release(self, job_id: str, owner: str) -> None:
        self._write(
            lambda db: db.execute(
                "UPDATE jobs SET claimed_by = NULL, claimed_until = NULL "
                "WHERE id = ? AND claimed_by = ?",
                (job_id, owner),
            )
        )

    def lease(self, job_id: str) -> Lease | None:
        rows = self._read(
            "SELECT claimed_by, claimed_until FROM jobs WHERE id = ? AND claimed_until > ?",
            (job_id, self._clock()),
        )
        return Lease(rows[0][0], rows[0][1]) if rows and rows[0][0] else None

    def claim(self, owner: str, ttl_s: float, limit: int) -> list[Job]:
        def work(db: sqlite3.Connection) -> list[tuple[str, str]]:
            now = self._clock()
            rows: list[tuple[str, str]] = db.execute(
                "SELECT id, job FROM jobs WHERE open = 1 AND "
                "(claimed_until IS NULL OR claimed_until <= ?) ORDER BY created_at LIMIT ?",
                (now, max(0, int(limit))),
            ).fetchall()
            db.executemany(
                "UPDATE jobs SET claimed_by = ?, claimed_until = ? WHERE id = ?",
                [(owner, now + ttl_s, job_id) for job_id, _ in rows],
            )
            return rows

        return self._parse_rows(self._write(work))

    # -- reading ----------------------------------------------------------------------
    def unknown_submits(self) -> list[Job]:
        return self._jobs(
            self.select_jobs
            + " WHERE terminal = 0 AND provider_job_id IS NULL ORDER BY created_at, id"
        )

    def resumable(self) -> list[Job]:
        return self._jobs(
            self.select_jobs
            + " WHERE terminal = 0 AND provider_job_id IS NOT NULL ORDER BY created_at, id"
        )

    def stats(self, provider: str, model: str) -> ProviderStats:
        rows = self._read(_STATS, (provider, model, *_TERMINAL))
        samples = [
            Sample(
                status,
                latency,
                None if charged is None else bool(charged),
                Decimal(cost) if cost is not None else None,
                currency,
                _decimal(cost_usd) if cost_usd is not None else None,
            )
            for status, latency, charged, cost, currency, cost_usd in rows
        ]
        return summarize(provider, model, samples)

    def spend_usd(self, since: datetime, *, client_key: str | None = None) -> Decimal:
        extra = _BY_CLIENT if client_key is not None else ""
        args = (client_key,) if client_key is not None else ()
        ((total,),) = self._read(_SPEND + extra, (since.timestamp(), *args))
        return _decimal(total)

    def committed_usd(self, since: datetime, *, client_key: str | None = None) -> Decimal:
        extra = _BY_CLIENT if client_key is not None else ""
        args = (client_key,) if client_key is not None else ()
        ((total,),) = self._read(_COMMITTED + extra, (since.timestamp(), *_TERMINAL, *args))
        return _decimal(total)

    # -- client keys --------------------------------------------------------------------
    def add_key(self, key: ClientKey) -> ClientKey:
        def work(db: sqlite3.Connection) -> ClientKey:
            try:
                db.execute(
                    "INSERT INTO client_keys (id, name, key_hash, created_at, budget_usd_per_day,"
                    " revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
                    _key_row(key),
                )
            except sqlite3.IntegrityError:
                raise LedgerError(f"client key {key.id} already exists") from None
            return key

        return self._write(work)

    def list_keys(self) -> list[ClientKey]:
        return [_key_of(row) for row in self._read(_SELECT_KEYS + " ORDER BY created_at, id")]

    def key_by_hash(self, key_hash: str) -> ClientKey | None:
        rows = self._read(_SELECT_KEYS + " WHERE key_hash = ?", (key_hash,))
        return _key_of(rows[0]) if rows else None

    def revoke_key(self, id_or_name: str, at: datetime) -> list[ClientKey]:
        def work(db: sqlite3.Connection) -> list[ClientKey]:
            rows = db.execute(
                _SELECT_KEYS + " WHERE (id = ? OR name = ?) AND revoked_at IS NULL",
                (id_or_name, id_or_name),
            ).fetchall()
            db.execute(
                "UPDATE client_keys SET revoked_at = ? "
                "WHERE (id = ? OR name = ?) AND revoked_at IS NULL",
                (at.timestamp(), id_or_name, id_or_name),
            )
            return [dataclasses.replace(_key_of(row), revoked_at=at) for row in rows]

        return self._write(work)

    def _in_flight(self, db: sqlite3.Connection, provider: str) -> int:
        (count,) = db.execute(_IN_FLIGHT, (provider, *_TERMINAL)).fetchone()
        return int(count)

    def in_flight(self, provider: str) -> int:
        ((count,),) = self._read(_IN_FLIGHT, (provider, *_TERMINAL))
        return int(count)

    # -- provider standing ------------------------------------------------------------
    def pause(self, provider: str, seconds: float, reason: str, *, by: str | None = None) -> None:
        until = self._clock() + seconds
        self._write(
            lambda db: db.execute(
                "INSERT INTO provider_standing "
                "(provider, paused_until, pause_reason, learned_by) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (provider) DO UPDATE SET "
                "paused_until = excluded.paused_until, pause_reason = excluded.pause_reason, "
                "learned_by = excluded.learned_by "
                "WHERE paused_until IS NULL OR paused_until < excluded.paused_until",
                (provider, until, reason, by),
            )
        )

    def disable(self, provider: str, reason: str, *, credit: bool, by: str | None = None) -> None:
        self._write(
            lambda db: db.execute(
                "INSERT INTO provider_standing (provider, disabled, credit, learned_by) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (provider) DO UPDATE SET "
                "disabled = excluded.disabled, credit = excluded.credit, "
                "learned_by = excluded.learned_by",
                (provider, reason, int(credit), by),
            )
        )

    def reset_standing(self, provider: str | None = None) -> None:
        if provider is None:
            self._write(lambda db: db.execute("DELETE FROM provider_standing"))
        else:
            self._write(
                lambda db: db.execute(
                    "DELETE FROM provider_standing WHERE provider = ?", (provider,)
                )
            )

    def standings(self) -> dict[str, Standing]:
        now = self._clock()
        rows = self._read(
            "SELECT provider, paused_until, pause_reason, disabled, credit, learned_by "
            "FROM provider_standing WHERE disabled IS NOT NULL OR paused_until > ?",
            (now,),
        )
        found = {}
        for name, until, why, disabled, credit, by in rows:
            live = until is not None and until > now
            found[name] = Standing(
                name,
                max(0.0, until - now) if live else 0.0,
                why if live else None,
                disabled,
                bool(credit),
                by,
            )
        return found

    def close(self) -> None:
        with self._lock:
            try:
                if self._grouped:
                    self._end()
            finally:
                self._db.close()
                if self._identity is not None:
                    with _OPEN_LOCK:
                        peers = _OPEN.get(self._identity)
                        if peers is not None:
                            peers.discard(self)
                            if not peers:
                                del _OPEN[self._identity]


_SELECT_KEYS = (
    "SELECT id, name, key_hash, created_at, budget_usd_per_day, revoked_at FROM client_keys"
)


def _key_row(key: ClientKey) -> tuple[Any, ...]:
    budget = str(key.budget_usd_per_day) if key.budget_usd_per_day is not None else None
    revoked = key.revoked_at.timestamp() if key.revoked_at is not None else None
    return (key.id, key.name, key.key_hash, key.created_at.timestamp(), budget, revoked)


def _key_of(row: Sequence[Any]) -> ClientKey:
    return ClientKey(
        id=row[0],
        name=row[1],
        key_hash=row[2],
        created_at=datetime.fromtimestamp(row[3], UTC),
        budget_usd_per_day=Decimal(row[4]) if row[4] is not None else None,
        revoked_at=datetime.fromtimestamp(row[5], UTC) if row[5] is not None else None,
    )
