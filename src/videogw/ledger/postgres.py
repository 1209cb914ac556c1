"""The ledger on PostgreSQL, for a fleet of processes on many machines.

Install with ``pip install 'videogw[postgres]'`` (psycopg 3 and its pool). Select it with
``[ledger] url = "postgresql://…"`` or ``VIDEOGW_LEDGER=postgresql://…``.

Layout: each `Job` is stored whole as ``jsonb`` next to indexed columns for the queries
videogw makes; attempts get a row each (money as ``numeric``, times as ``timestamptz``), so
statistics, budgets and holds count every attempt exactly.

Concurrency, the same contract as SQLite but across machines:

- every write is one transaction; `update` is a compare-and-swap
  (``UPDATE … WHERE id = %s AND version = %s``);
- an idempotency key is claimed first with ``INSERT … ON CONFLICT DO NOTHING``, so two
  concurrent creates of one key wait for each other and the second sees the first's job;
- leases are judged by the database's clock (``now()``), so machines whose clocks disagree
  still agree on who holds a job; `claim` takes batches with ``FOR UPDATE SKIP LOCKED``;
- a write carrying a `Budget` with a daily limit takes a transaction-scoped advisory lock
  keyed on the budget's scope (one client key, or all jobs) before it sums spend and holds,
  so concurrent submitters check one after the other and never pass the budget together;
- the schema is applied on open under an advisory lock, so many processes may open at once.

Errors are typed: a server that cannot be reached, a pool with no free connection in time,
a full disk or a failed connection is `LedgerUnavailableError`; any other database error is
a `LedgerError`; an unreadable row is skipped by `find` and raises `LedgerCorruptError` from
`get`. Deadlocks and serialization failures are retried a few times before they are
reported.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ..errors import (
    IdempotencyConflictError,
    LedgerCorruptError,
    LedgerError,
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
    is_claimable,
    request_record,
)
from .memory import check_budget
from .sql import SQLLedger

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg import sql
    from psycopg_pool import ConnectionPool
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg = None  # type: ignore[assignment]

__all__ = ["SCHEMA_VERSION", "PostgresLedger"]

log = logging.getLogger("videogw.ledger")
T = TypeVar("T")

# 2: client keys; 3: provider_standing; 4: the claim's index keyed by created_at (v3 keyed
# it by updated_at, which every status write changes: no write could be a HOT update, so
# each one added an entry to every index of the table)
SCHEMA_VERSION = 4
_RETRIES = 5  # deadlocks and serialization failures

# keys of transaction-scoped advisory locks (hashtext of these strings)
_SCHEMA_LOCK = "videogw.ledger.schema"
_BUDGET_LOCK = "videogw.ledger.budget:"
_IN_FLIGHT_LOCK = "videogw.ledger.in_flight:"

# ids and keys compare byte-wise ("C"), as in Python: prefix ranges use the index and
# "oldest first, then by id" orders as every other backend does
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS videogw_schema (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        version integer NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS jobs (
        id text COLLATE "C" PRIMARY KEY,
        status text NOT NULL,
        terminal boolean NOT NULL,
        provider text,
        model text NOT NULL,
        provider_job_id text,
        idempotency_key text NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        finished_at timestamptz,
        claimed_by text,
        claimed_until timestamptz,
        request jsonb,
        job jsonb NOT NULL,
        version integer NOT NULL DEFAULT 1,
        open boolean NOT NULL DEFAULT false
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at, id)",
    "CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (created_at) WHERE NOT terminal",
    "CREATE INDEX IF NOT EXISTS jobs_open ON jobs (created_at, id) WHERE open",
    "CREATE INDEX IF NOT EXISTS jobs_provider ON jobs (provider, model)",
    """CREATE TABLE IF NOT EXISTS idempotency_keys (
        key text COLLATE "C" PRIMARY KEY,
        job_id text COLLATE "C" NOT NULL,
        fingerprint text
    )""",
    """CREATE TABLE IF NOT EXISTS attempts (
        job_id text COLLATE "C" NOT NULL,
        n integer NOT NULL,
        provider text NOT NULL,
        model text NOT NULL,
        outcome text NOT NULL,
        status text,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        latency_s double precision,
        charged boolean,
        cost numeric,
        currency text,
        cost_usd numeric,
        estimate_usd numeric,
        client_key text,
        PRIMARY KEY (job_id, n)
    )""",
    "CREATE INDEX IF NOT EXISTS attempts_stats ON attempts (provider, model, ended_at)",
    "CREATE INDEX IF NOT EXISTS attempts_spend ON attempts (ended_at) WHERE charged",
    "CREATE INDEX IF NOT EXISTS attempts_open ON attempts (started_at) WHERE charged IS NULL",
    "CREATE INDEX IF NOT EXISTS attempts_client ON attempts (client_key, started_at)",
    """CREATE TABLE IF NOT EXISTS client_keys (
        id text COLLATE "C" PRIMARY KEY,
        name text NOT NULL,
        key_hash text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL,
        budget_usd_per_day numeric,
        revoked_at timestamptz
    )""",
    """CREATE TABLE IF NOT EXISTS provider_standing (
        provider text PRIMARY KEY,
        paused_until timestamptz,
        pause_reason text,
        disabled text,
        credit boolean NOT NULL DEFAULT false,
        learned_by text
    )""",
)

_INSERT_JOB = """
INSERT INTO jobs (id, status, terminal, provider, model, provider_job_id, idempotency_key,
                  created_at, updated_at, finished_at, claimed_by, claimed_until, request, job,
                  version, open)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
        CASE WHEN %s::float8 IS NULL THEN NULL
             ELSE now() + make_interval(secs => %s::float8) END,
        %s::jsonb, %s::jsonb, 1, %s)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

_UPDATE_JOB = """
UPDATE jobs SET status = %s, terminal = %s, provider = %s, model = %s, provider_job_id = %s,
    updated_at = %s, finished_at = %s, job = %s::jsonb, open = %s, version = version + 1
WHERE id = %s AND version = %s
"""
# the same, giving up the lease when the owner bound first holds it (`release`): the
# right-hand sides read the row as it was, so both CASEs test the old claimed_by
_UPDATE_JOB_RELEASE = """
UPDATE jobs SET claimed_by = CASE WHEN claimed_by = %s THEN NULL ELSE claimed_by END,
    claimed_until = CASE WHEN claimed_by = %s THEN NULL ELSE claimed_until END,
    status = %s, terminal = %s, provider = %s, model = %s, provider_job_id = %s,
    updated_at = %s, finished_at = %s, job = %s::jsonb, open = %s, version = version + 1
WHERE id = %s AND version = %s
"""

# updates a row only when a column differs: an unchanged attempt keeps its tuple (no dead
# row, no index entries, no WAL) on a status write that leaves it as it was
_UPSERT_ATTEMPT = """
INSERT INTO attempts (job_id, n, provider, model, outcome, status, started_at, ended_at,
    latency_s, charged, cost, currency, cost_usd, estimate_usd, client_key)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (job_id, n) DO UPDATE SET provider = EXCLUDED.provider, model = EXCLUDED.model,
    outcome = EXCLUDED.outcome, status = EXCLUDED.status, started_at = EXCLUDED.started_at,
    ended_at = EXCLUDED.ended_at, latency_s = EXCLUDED.latency_s, charged = EXCLUDED.charged,
    cost = EXCLUDED.cost, currency = EXCLUDED.currency, cost_usd = EXCLUDED.cost_usd,
    estimate_usd = EXCLUDED.estimate_usd, client_key = EXCLUDED.client_key
WHERE (attempts.provider, attempts.model, attempts.outcome, attempts.status,
       attempts.started_at, attempts.ended_at, attempts.latency_s, attempts.charged,
       attempts.cost, attempts.currency, attempts.cost_usd, attempts.estimate_usd,
       attempts.client_key)
   IS DISTINCT FROM (EXCLUDED.provider, EXCLUDED.model, EXCLUDED.outcome, EXCLUDED.status,
       EXCLUDED.started_at, EXCLUDED.ended_at, EXCLUDED.latency_s, EXCLUDED.charged,
       EXCLUDED.cost, EXCLUDED.currency, EXCLUDED.cost_usd, EXCLUDED.estimate_usd,
       EXCLUDED.client_key)
"""

_TERMINAL = [s.value for s in JobStatus if s.is_terminal]

_STATS = (
    "SELECT status, latency_s, charged, cost, currency, cost_usd FROM attempts "
    "WHERE provider = %s AND model = %s AND outcome = 'accepted' "
    "AND status = ANY(%s) AND ended_at IS NOT NULL "
    "ORDER BY ended_at DESC LIMIT %s"
)
_SPEND = "SELECT SUM(cost_usd) FROM attempts WHERE charged AND ended_at >= %s"
# Holds: attempts that may still be charged (sending, live, unknown), and charged attempts
# whose provider never says what it billed: their estimate stands in (as on SQLite).
_COMMITTED = (
    "SELECT SUM(estimate_usd) FROM attempts WHERE started_at >= %s AND ("
    "(charged IS NULL AND outcome IN ('accepted', 'unknown', 'sending') "
    "AND (status IS NULL OR NOT status = ANY(%s))) "
    "OR (charged AND cost_usd IS NULL))"
)
_BY_CLIENT = " AND client_key = %s"
# attempts holding a slot at a provider: sent or accepted, not finished
_IN_FLIGHT = (
    "SELECT count(*) FROM attempts WHERE provider = %s "
    "AND outcome IN ('accepted', 'sending') AND (status IS NULL OR NOT status = ANY(%s))"
)


def _ts(value: datetime | float | None) -> datetime | None:
    """An aware UTC datetime (naive datetimes are local time, as `datetime.timestamp`)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.astimezone(UTC)
    return datetime.fromtimestamp(value, UTC)


# jsonb cannot hold U+0000: an escaped NUL (not an escaped backslash before "u0000") in a
# provider's text becomes U+FFFD, rather than the write failing
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _jsonb(text: str) -> str:
    return _JSON_NUL.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def _money(value: Decimal | None) -> Decimal:
    return Decimal(0) if value is None else value


_PASSWORD_PARAM = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)


def redact(url: str) -> str:
    """`url` (a URL or a ``key=value`` conninfo string) without its password, for
    messages."""
    text = _PASSWORD_PARAM.sub(r"\1***", url)
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return "<unparseable PostgreSQL URL>"
    if password is None:
        return text
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _job_row(job: Job) -> tuple[Any, ...]:
    return (
        job.status.value,
        job.status.is_terminal,
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
        _ts(f.started_at),
        _ts(f.ended_at),
        f.latency_s,
        f.charged,
        f.cost,
        f.currency,
        f.cost_usd,
        f.estimate_usd,
        client,
    )


class PostgresLedger(SQLLedger):
    """`Ledger` on one PostgreSQL database (optionally in its own `schema`), shared by any
    number of processes on any number of machines.

    `url` is a libpq URL or conninfo string; `pool_size` connections at most are opened
    by this process; `connect_timeout_s` bounds waiting for the server or a free pooled
    connection (then `LedgerUnavailableError`)."""

    PLACEHOLDER = "%s"
    JOB_TEXT = "job::text"
    REQUEST_TEXT = "request::text"

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        pool_size: int = 4,
        connect_timeout_s: float = 10.0,
    ) -> None:
        if psycopg is None:  # pragma: no cover - exercised only without the extra
            raise LedgerUnavailableError(
                "the PostgreSQL ledger needs psycopg: pip install 'videogw[postgres]'"
            )
        self.url = url
        self.schema = schema
        self._where = redact(url) + (f" (schema {schema})" if schema else "")

        def configure(conn: psycopg.Connection[Any]) -> None:
            if schema is not None:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))

        connect_kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, round(connect_timeout_s)),
        }
        try:
            # one direct connection first: it applies the schema, and a server that cannot
            # be reached or refuses us is reported with libpq's own reason
            with psycopg.connect(url, **connect_kwargs) as conn:
                configure(conn)
                with conn.transaction():
                    self._migrate(conn)
            self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                url,
                min_size=1,
                max_size=max(1, pool_size),
                kwargs=connect_kwargs,
                configure=configure,
                timeout=connect_timeout_s,
                name="videogw-ledger",
                open=False,
            )
        except psycopg.Error as exc:
            raise self._error(exc) from exc
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except BaseException as exc:
            self._pool.close()
            if isinstance(exc, psycopg.Error):
                raise self._error(exc) from exc
            raise

    def __repr__(self) -> str:
        return f"<PostgresLedger {self._where}>"

    @property
    def location(self) -> str:
        return self._where

    # -- plumbing ---------------------------------------------------------------------
    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_SCHEMA_LOCK,))
        if self.schema is not None:
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
        row = conn.execute("SELECT to_regclass('videogw_schema') IS NOT NULL").fetchone()
        version = 0
        if row is not None and row[0]:
            found = conn.execute("SELECT version FROM videogw_schema").fetchone()
            version = found[0] if found is not None else 0
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"ledger {self._where} has schema version {version}, newer than this "
                f"videogw knows ({SCHEMA_VERSION}); upgrade videogw"
            )
        if version == SCHEMA_VERSION:
            return
        if version and version < 4:
            conn.execute("DROP INDEX IF EXISTS jobs_claimable")
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO videogw_schema (version) VALUES (%s) "
            "ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version",
            (SCHEMA_VERSION,),
        )

    def _error(self, exc: BaseException) -> LedgerError:
        text = str(exc).strip() or type(exc).__name__
        if isinstance(exc, psycopg.OperationalError | pg_errors.DiskFull):
            error: LedgerError = LedgerUnavailableError(f"ledger {self._where}: {text}")
        else:
            error = LedgerError(f"ledger {self._where}: {type(exc).__name__}: {text}")
        error.__cause__ = exc
        return error

    def _write(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """`work` in one transaction, retried on deadlock or serialization failure."""
        for attempt in range(_RETRIES):
            try:
                with self._pool.connection() as conn, conn.transaction():
                    return work(conn)
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure) as exc:
                if attempt == _RETRIES - 1:
                    raise self._error(exc) from exc
                log.debug("ledger %s: %s; retrying", self._where, exc)
            except psycopg.Error as exc:
                raise self._error(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, query: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            with self._pool.connection() as conn:
                return conn.execute(query, list(args)).fetchall()
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def _spent(self, conn: psycopg.Connection[Any], since: datetime, client: str | None) -> Decimal:
        extra = _BY_CLIENT if client is not None else ""
        args: tuple[Any, ...] = (client,) if client is not None else ()
        row = conn.execute(_SPEND + extra, (_ts(since), *args)).fetchone()
        spent = row[0] if row is not None else None
        row = conn.execute(_COMMITTED + extra, (_ts(since), _TERMINAL, *args)).fetchone()
        held = row[0] if row is not None else None
        return _money(spent) + _money(held)

    def _attempts_and_budget(
        self, conn: psycopg.Connection[Any], stored: Job, budget: Budget | None
    ) -> None:
        """The rest of a job's write: its attempt rows (holds and statistics), then the
        budget, checked against the holds this very write adds."""
        rows = _attempt_rows(stored)
        if rows:
            with conn.cursor() as cur:
                cur.executemany(_UPSERT_ATTEMPT, rows)
        if budget is not None:
            self._check_budget(conn, budget, stored)

    def _check_budget(self, conn: psycopg.Connection[Any], budget: Budget, job: Job) -> None:
        # one check at a time per scope: a concurrent writer's hold is committed (and
        # visible to the sums below) before this transaction gets the lock; the overall
        # scope is always taken first, so two scopes never deadlock
        scopes = []
        if budget.overall_daily_usd is not None or (
            budget.daily_usd is not None and budget.client_key is None
        ):
            scopes.append(_BUDGET_LOCK + "*")
        if budget.daily_usd is not None and budget.client_key is not None:
            scopes.append(_BUDGET_LOCK + budget.client_key)
        for scope in scopes:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (scope,))
        if budget.max_in_flight is not None and budget.provider is not None:
            # likewise one count at a time per provider
            key = _IN_FLIGHT_LOCK + budget.provider
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
        check_budget(
            budget,
            job,
            lambda since, c: self._spent(conn, since, c),
            lambda provider: self._in_flight(conn, provider),
        )

    def _in_flight(self, conn: psycopg.Connection[Any], provider: str) -> int:
        row = conn.execute(_IN_FLIGHT, (provider, _TERMINAL)).fetchone()
        return int(row[0]) if row is not None else 0

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
        dumped, print_ = request_record(request)
        request_text = _jsonb(dumped) if dumped is not None else None
        job_text = _jsonb(stored.model_dump_json())

        def work(conn: psycopg.Connection[Any]) -> Job:
            # the key first: a concurrent create of the same key waits here for ours
            taken = conn.execute(
                "INSERT INTO idempotency_keys (key, job_id, fingerprint) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO NOTHING RETURNING job_id",
                (job.idempotency_key, job.id, print_),
            ).fetchone()
            if taken is None:
                known = conn.execute(
                    "SELECT k.job_id, k.fingerprint, j.job::text FROM idempotency_keys k "
                    "LEFT JOIN jobs j ON j.id = k.job_id WHERE k.key = %s",
                    (job.idempotency_key,),
                ).fetchone()
                if known is None or known[2] is None:
                    raise LedgerCorruptError(job.id, "its idempotency key names no stored job")
                if known[1] != print_:
                    raise IdempotencyConflictError(job.idempotency_key, known[0])
                return self._parse(known[0], known[2])
            ttl = lease[1] if lease else None
            inserted = conn.execute(
                _INSERT_JOB,
                (
                    job.id,
                    *_job_row(stored),
                    job.idempotency_key,
                    _ts(job.created_at),
                    _ts(job.updated_at),
                    _ts(job.finished_at),
                    lease[0] if lease else None,
                    ttl,
                    ttl,
                    request_text,
                    job_text,
                    is_claimable(stored),
                ),
            ).fetchone()
            if inserted is None:
                found = conn.execute("SELECT version FROM jobs WHERE id = %s", (job.id,))
                row = found.fetchone()
                raise StaleJobError(job.id, 0, row[0] if row else None)
            self._attempts_and_budget(conn, stored, budget)
            return stored

        return self._write(work)

    def update(self, job: Job, *, budget: Budget | None = None, release: str | None = None) -> Job:
        stored = job.model_copy(update={"version": job.version + 1})
        job_text = _jsonb(stored.model_dump_json())
        sql, owner = (_UPDATE_JOB, ()) if release is None else (_UPDATE_JOB_RELEASE, (release,) * 2)

        def work(conn: psycopg.Connection[Any]) -> Job:
            changed = conn.execute(
                sql,
                (
                    *owner,
                    *_job_row(stored),
                    _ts(stored.updated_at),
                    _ts(stored.finished_at),
                    job_text,
                    is_claimable(stored),
                    job.id,
                    job.version,
                ),
            ).rowcount
            if changed != 1:
                row = conn.execute("SELECT version FROM jobs WHERE id = %s", (job.id,)).fetchone()
                raise StaleJobError(job.id, job.version, row[0] if row else None)
            self._attempts_and_budget(conn, stored, budget)
            return stored

        return self._write(work)

    # -- leases -----------------------------------------------------------------------
    _ACQUIRE = (
        "UPDATE jobs SET claimed_by = %s, claimed_until = now() + make_interval(secs => %s) "
        "WHERE id = ANY(%s) AND (claimed_by IS NULL OR claimed_by = %s OR claimed_until <= now()) "
        "RETURNING id"
    )

    def acquire(self, job_id: str, owner: str, ttl_s: float) -> bool:
        return job_id in self.acquire_many([job_id], owner, ttl_s)

    def acquire_many(self, job_ids: Iterable[str], owner: str, ttl_s: float) -> set[str]:
        # sorted: two overlapping batches lock their rows in one order (no deadlock)
        wanted = sorted(set(job_ids))
        if not wanted:
            return set()

        def work(conn: psycopg.Connection[Any]) -> set[str]:
            rows = conn.execute(self._ACQUIRE, (owner, float(ttl_s), wanted, owner)).fetchall()
            return {row[0] for row in rows}

        return self._write(work)

    def release(self, job_id: str, owner: str) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE jobs SET claimed_by = NULL, claimed_until = NULL "
                "WHERE id = %s AND claimed_by = %s",
                (job_id, owner),
            )
        )

    def lease(self, job_id: str) -> Lease | None:
        rows = self._read(
            "SELECT claimed_by, extract(epoch FROM claimed_until)::float8 FROM jobs "
            "WHERE id = %s AND claimed_until > now()",
            (job_id,),
        )
        return Lease(rows[0][0], rows[0][1]) if rows and rows[0][0] else None

    def claim(self, owner: str, ttl_s: float, limit: int) -> list[Job]:
        def work(conn: psycopg.Connection[Any]) -> list[tuple[str, str, datetime]]:
            rows: list[tuple[str, str, datetime]] = conn.execute(
                "WITH picked AS (SELECT id FROM jobs WHERE open AND "
                "(claimed_until IS NULL OR claimed_until <= now()) "
                "ORDER BY created_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
                "UPDATE jobs SET claimed_by = %s, "
                "claimed_until = now() + make_interval(secs => %s) "
                "FROM picked WHERE jobs.id = picked.id "
                "RETURNING jobs.id, jobs.job::text, jobs.created_at",
                (max(0, int(limit)), owner, float(ttl_s)),
            ).fetchall()
            return rows

        return self._parse_rows(sorted(self._write(work), key=lambda r: (r[2], r[0])))

    # -- reading ----------------------------------------------------------------------
    def unknown_submits(self) -> list[Job]:
        return self._jobs(
            self.select_jobs
            + " WHERE NOT terminal AND provider_job_id IS NULL ORDER BY created_at, id"
        )

    def resumable(self) -> list[Job]:
        return self._jobs(
            self.select_jobs
            + " WHERE NOT terminal AND provider_job_id IS NOT NULL ORDER BY created_at, id"
        )

    def stats(self, provider: str, model: str) -> ProviderStats:
        rows = self._read(_STATS, (provider, model, _TERMINAL, MAX_SAMPLES))
        samples = [
            Sample(status, latency, charged, cost, currency, cost_usd)
            for status, latency, charged, cost, currency, cost_usd in rows
        ]
        return summarize(provider, model, samples)

    def spend_usd(self, since: datetime, *, client_key: str | None = None) -> Decimal:
        extra = _BY_CLIENT if client_key is not None else ""
        args = (client_key,) if client_key is not None else ()
        ((total,),) = self._read(_SPEND + extra, (_ts(since), *args))
        return _money(total)

    def committed_usd(self, since: datetime, *, client_key: str | None = None) -> Decimal:
        extra = _BY_CLIENT if client_key is not None else ""
        args = (client_key,) if client_key is not None else ()
        ((total,),) = self._read(_COMMITTED + extra, (_ts(since), _TERMINAL, *args))
        return _money(total)

    # -- client keys --------------------------------------------------------------------
    def add_key(self, key: ClientKey) -> ClientKey:
        def work(conn: psycopg.Connection[Any]) -> ClientKey:
            added = conn.execute(
                "INSERT INTO client_keys (id, name, key_hash, created_at, budget_usd_per_day, "
                "revoked_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
                (
                    key.id,
                    key.name,
                    key.key_hash,
                    key.created_at,
                    key.budget_usd_per_day,
                    key.revoked_at,
                ),
            ).fetchone()
            if added is None:
                raise LedgerError(f"client key {key.id} already exists")
            return key

        return self._write(work)

    def list_keys(self) -> list[ClientKey]:
        return [_key_of(row) for row in self._read(_SELECT_KEYS + " ORDER BY created_at, id")]

    def key_by_hash(self, key_hash: str) -> ClientKey | None:
        rows = self._read(_SELECT_KEYS + " WHERE key_hash = %s", (key_hash,))
        return _key_of(rows[0]) if rows else None

    def revoke_key(self, id_or_name: str, at: datetime) -> list[ClientKey]:
        def work(conn: psycopg.Connection[Any]) -> list[ClientKey]:
            rows = conn.execute(
                "UPDATE client_keys SET revoked_at = %s WHERE (id = %s OR name = %s) "
                "AND revoked_at IS NULL RETURNING id, name, key_hash, created_at, "
                "budget_usd_per_day, revoked_at",
                (at, id_or_name, id_or_name),
            ).fetchall()
            return sorted((_key_of(row) for row in rows), key=lambda k: (k.created_at, k.id))

        return self._write(work)

    def in_flight(self, provider: str) -> int:
        ((count,),) = self._read(_IN_FLIGHT, (provider, _TERMINAL))
        return int(count)

    # -- provider standing (times by the database's clock) ------------------------------
    def pause(self, provider: str, seconds: float, reason: str, *, by: str | None = None) -> None:
        self._write(
            lambda conn: conn.execute(
                "INSERT INTO provider_standing AS s "
                "(provider, paused_until, pause_reason, learned_by) "
                "VALUES (%s, now() + make_interval(secs => %s), %s, %s) "
                "ON CONFLICT (provider) DO UPDATE SET paused_until = EXCLUDED.paused_until, "
                "pause_reason = EXCLUDED.pause_reason, learned_by = EXCLUDED.learned_by "
                "WHERE s.paused_until IS NULL OR s.paused_until < EXCLUDED.paused_until",
                (provider, float(seconds), reason, by),
            )
        )

    def disable(self, provider: str, reason: str, *, credit: bool, by: str | None = None) -> None:
        self._write(
            lambda conn: conn.execute(
                "INSERT INTO provider_standing (provider, disabled, credit, learned_by) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (provider) DO UPDATE SET "
                "disabled = EXCLUDED.disabled, credit = EXCLUDED.credit, "
                "learned_by = EXCLUDED.learned_by",
                (provider, reason, credit, by),
            )
        )

    def reset_standing(self, provider: str | None = None) -> None:
        if provider is None:
            self._write(lambda conn: conn.execute("DELETE FROM provider_standing"))
        else:
            self._write(
                lambda conn: conn.execute(
                    "DELETE FROM provider_standing WHERE provider = %s", (provider,)
                )
            )

    def standings(self) -> dict[str, Standing]:
        rows = self._read(
            "SELECT provider, "
            "greatest(0, extract(epoch FROM paused_until - now()))::float8, "
            "pause_reason, disabled, credit, learned_by FROM provider_standing "
            "WHERE disabled IS NOT NULL OR paused_until > now()"
        )
        found = {}
        for name, left, why, disabled, credit, by in rows:
            left = float(left or 0.0)
            found[name] = Standing(
                name, left, why if left > 0 else None, disabled, bool(credit), by
            )
        return found

    # -- telling the fleet ---------------------------------------------------------------
    @property
    def channel(self) -> str:
        """The NOTIFY channel of this ledger (one per schema)."""
        return _channel(self.schema)

    def notify(self, job_id: str) -> None:
        self._write(lambda conn: conn.execute("SELECT pg_notify(%s, %s)", (self.channel, job_id)))

    def listen(self, callback: Callable[[str], None]) -> Listener:
        return Listener(self.url, self.channel, callback)

    def close(self) -> None:
        self._pool.close()


_SELECT_KEYS = (
    "SELECT id, name, key_hash, created_at, budget_usd_per_day, revoked_at FROM client_keys"
)


def _key_of(row: Sequence[Any]) -> ClientKey:
    budget = row[4]
    return ClientKey(
        id=row[0],
        name=row[1],
        key_hash=row[2],
        created_at=row[3],
        budget_usd_per_day=Decimal(budget) if budget is not None else None,
        revoked_at=row[5],
    )


def _channel(schema: str | None) -> str:
    return ("videogw_jobs" + (f"_{schema}" if schema else ""))[:63]


class Listener:
    """A dedicated connection LISTENing on the ledger's channel, in a daemon thread (psycopg
    3.2+: `notifies(timeout=)`); it reconnects after a lost connection (news missed
    meanwhile is picked up by the next scheduled read)."""

    def __init__(self, url: str, channel: str, callback: Callable[[str], None]) -> None:
        self.url = url
        self.channel = channel
        self.callback = callback
        self._closed = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="videogw-listen", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self._ready.set()
                    while not self._closed.is_set():
                        for note in conn.notifies(timeout=0.5):
                            try:
                                self.callback(note.payload)
                            except Exception:  # a listener's bug must not stop listening
                                log.exception("ledger notification callback failed")
            except psycopg.Error as exc:
                if self._closed.is_set():
                    return
                log.warning("ledger LISTEN connection lost (%s); reconnecting", exc)
                self._ready.set()
                self._closed.wait(1.0)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
