"""The ledger conformance suite on PostgreSQL, and a daily budget held across processes.

Where PostgreSQL comes from: ``$VIDEOGW_TEST_POSTGRES_URL``; else a server answering on
127.0.0.1:5432 (user postgres); else a throwaway cluster from ``initdb``/``pg_ctl`` when they
are on PATH (as user nobody when running as root); else these tests skip, saying why. With
``VIDEOGW_REQUIRE_POSTGRES=1`` (CI sets it) a skip is a failure instead. Each test gets its
own schema, dropped afterwards.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from videogw.testing import LedgerContract


@pytest.fixture
def pg(postgres_url: str, schema: str) -> Iterator[Any]:
    from videogw.ledger.postgres import PostgresLedger

    led = PostgresLedger(postgres_url, schema=schema)
    yield led
    led.close()


class TestPostgresLedger(LedgerContract):
    @pytest.fixture
    def ledger(self, pg: Any) -> Any:
        return pg


def _submitter(url: str, schema: str, since: datetime, start: Any, tries: int) -> int:
    """Open the ledger (its schema perhaps not made yet), then create $0.10 held jobs
    against a $1.00 daily budget; return how many it let through."""
    from videogw.errors import BudgetExceededError
    from videogw.ledger import Budget
    from videogw.ledger.postgres import PostgresLedger
    from videogw.models import AttemptOutcome, JobStatus
    from videogw.testing import _attempt_job

    led = PostgresLedger(url, schema=schema, pool_size=1)
    budget = Budget(since=since, daily_usd=Decimal("1.00"))
    created = 0
    start.wait()
    try:
        for _ in range(tries):
            job = _attempt_job(outcome=AttemptOutcome.sending, status=JobStatus.unknown)
            try:
                led.create(job, budget=budget)
            except BudgetExceededError:
                continue
            created += 1
    finally:
        led.close()
    return created


@pytest.mark.slow
def test_a_daily_budget_holds_across_four_processes(postgres_url: str, schema: str) -> None:
    """4 processes open one new schema at once (the advisory lock on migration), then race
    to add $0.10 holds under a $1.00 daily budget: exactly 10 pass, whatever the
    interleaving (each check and its hold are one serialized transaction)."""
    from videogw.ledger.postgres import PostgresLedger

    since = datetime.now(UTC) - timedelta(hours=1)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Event()
    with ctx.Pool(4) as pool:
        results = [
            pool.apply_async(_submitter, (postgres_url, schema, since, start, 8)) for _ in range(4)
        ]
        start.set()
        created = [r.get(timeout=120) for r in results]
    led = PostgresLedger(postgres_url, schema=schema)
    try:
        assert sum(created) == 10, created
        assert led.committed_usd(since) == Decimal("1.00")
        assert len(led.find()) == 10
    finally:
        led.close()


def test_a_postgresql_url_selects_the_postgres_ledger(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg
    from psycopg import sql

    from videogw.config import LedgerConfig
    from videogw.ledger import default_ledger_path, open_ledger
    from videogw.ledger.postgres import PostgresLedger

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    sep = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    monkeypatch.setenv("VIDEOGW_LEDGER", url)
    assert default_ledger_path().name == "ledger.sqlite3"  # a URL is not a file name
    for config in (LedgerConfig(), LedgerConfig(url=url), LedgerConfig(backend="postgres")):
        led = open_ledger(config)
        try:
            assert isinstance(led, PostgresLedger)
            assert led.find() == []
        finally:
            led.close()
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchone()
    assert tables is not None
    assert tables[0] >= 3  # the ledger went where the URL's search_path said


def test_postgres_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from videogw.config import LedgerConfig
    from videogw.errors import ConfigurationError
    from videogw.ledger import open_ledger

    monkeypatch.setenv("VIDEOGW_LEDGER", "memory")
    with pytest.raises(ConfigurationError, match="needs url"):
        open_ledger(LedgerConfig(backend="postgres"))
    with pytest.raises(ValidationError, match="PostgreSQL URL"):
        LedgerConfig(url="mysql://db/videogw")


def test_an_unreachable_server_is_a_typed_error_without_the_password() -> None:
    pytest.importorskip("psycopg")
    from videogw.errors import LedgerUnavailableError
    from videogw.ledger.postgres import PostgresLedger

    for url in (
        "postgresql://u:s3cret@127.0.0.1:1/db",
        "postgresql://u@127.0.0.1:1/db?password=s3cret",
        "host=127.0.0.1 port=1 password=s3cret",
    ):
        with pytest.raises(LedgerUnavailableError, match="refused") as caught:
            PostgresLedger(url, connect_timeout_s=1)
        assert "s3cret" not in str(caught.value)
        assert "127.0.0.1" in str(caught.value)


def test_a_nul_in_provider_text_does_not_break_a_write(postgres_url: str, schema: str) -> None:
    """jsonb cannot hold U+0000: it is stored as U+FFFD, and an escaped backslash before
    "u0000" is left alone."""
    from videogw.ledger.postgres import PostgresLedger
    from videogw.testing import _attempt_job

    led = PostgresLedger(postgres_url, schema=schema)
    try:
        job = _attempt_job()
        job = job.model_copy(update={"labels": {"nul": "a\x00b", "text": "c\\u0000d\\\x00"}})
        stored = led.create(job)
        got = led.get(job.id)
        assert got is not None
        assert got.labels == {"nul": "a\ufffdb", "text": "c\\u0000d\\\ufffd"}
        assert led.update(stored).version == 2
    finally:
        led.close()


def test_a_write_that_changes_no_attempt_row_leaves_it_untouched(pg: Any) -> None:
    """The attempt upsert updates a row only when a column differs (numeric money and
    timestamptz read back compare equal): the row keeps its version (xmin)."""
    from routing_kit import finished_job, priced
    from videogw.models import JobStatus

    credits = priced("7", "credits", usd="0.07")
    stored = pg.create(finished_job("toy", 50, cost="8", currency="credits", estimate=credits))
    query = "SELECT xmin::text, status FROM attempts WHERE job_id = %s"
    (before,) = pg._read(query, (stored.id,))
    stored = pg.update(stored.model_copy(update={"progress": 1.0}))
    assert pg._read(query, (stored.id,)) == [before]
    pg.update(
        stored.model_copy(update={"status": JobStatus.failed})
    )  # the job's, not its attempt's
    assert pg._read(query, (stored.id,)) == [before]
    failed = stored.attempts[0].model_copy(update={"status": JobStatus.failed})
    pg.update(pg.get(stored.id).model_copy(update={"attempts": (failed,)}))
    ((xmin, status),) = pg._read(query, (stored.id,))
    assert (xmin != before[0], status) == (True, "failed")


def test_statistics_count_every_attempt(pg: Any) -> None:
    """As tests/test_ledger.py checks on SQLite: numeric money, timestamptz ordering."""
    from routing_kit import finished_job, priced
    from videogw.models import JobStatus

    for latency in (10, 20, 30, 40, 100):
        pg.create(finished_job("toy", latency, cost="0.10"))
    pg.create(finished_job("toy", 5, status=JobStatus.failed, charged=False, cost=None))
    pg.create(finished_job("toy", 5, status=JobStatus.cancelled, charged=False, cost=None))
    credits = priced("7", "credits", usd="0.07")
    pg.create(finished_job("toy", 50, cost="8", currency="credits", estimate=credits))
    stats = pg.stats("toy", "dop-lite")
    assert stats.samples == 8
    assert (stats.p50_s, stats.p95_s) == (pytest.approx(30), pytest.approx(100))
    assert stats.success_rate == pytest.approx(6 / 7)
    assert (stats.mean_cost, stats.cost_currency) == (Decimal("0.10"), "USD")
    assert stats.mean_cost_usd == pytest.approx((5 * Decimal("0.10") + Decimal("0.08")) / 6)
    assert pg.stats("toy2", "dop-lite").samples == 0


def test_spend_and_holds_are_exact_decimals(pg: Any) -> None:
    """As tests/test_budget_spend.py checks on SQLite: reported spend at the estimate's
    rate, and a charge the provider never reported held at its estimate."""
    from test_budget_spend import SINCE, charged_job

    pg.create(charged_job(Decimal(4), "credits"))
    assert pg.spend_usd(SINCE) == Decimal("0.25")
    assert pg.committed_usd(SINCE) == 0
    silent = charged_job(None, None).model_copy(update={"idempotency_key": "k-2"})
    pg.create(silent)
    assert pg.committed_usd(SINCE) == Decimal("0.125")
    assert pg.spend_usd(SINCE, client_key="nobody") == 0


def test_a_gateway_runs_on_it(pg: Any) -> None:
    """A refunded failure moves on to the next candidate; both attempts are on record."""
    import asyncio

    from routing_kit import Kit, request
    from videogw.emulator import FakeClock, FaultProfile

    kit = Kit(True, FakeClock())
    try:
        kit.emulator("toy").faults = FaultProfile.parse("failed")
        gw = kit.gateway({"candidates": ["toy", "toy2"], "retry_failed": True}, store=pg)
        job = gw.run(request())
        assert job.provider == "toy2"
        assert pg.get(job.id) == job
        toy, toy2 = pg.stats("toy", "dop-lite"), pg.stats("toy2", "dop-lite")
        assert (toy.samples, toy.success_rate) == (1, 0.0)
        assert (toy2.samples, toy2.success_rate, toy2.mean_cost) == (1, 1.0, Decimal("0.10"))
        assert pg.lease(job.id) is None  # let go once finished
    finally:
        asyncio.run(kit.close())


def _claimer(url: str, schema: str, start: Any) -> list[str]:
    """Claim batches of 7 until none are left; return the ids claimed."""
    from videogw.ledger.postgres import PostgresLedger

    led = PostgresLedger(url, schema=schema, pool_size=1)
    owner = f"worker-{os.getpid()}"
    taken: list[str] = []
    start.wait()
    try:
        while batch := led.claim(owner, 60, 7):
            taken.extend(job.id for job in batch)
    finally:
        led.close()
    return taken


@pytest.mark.slow
def test_processes_claim_disjoint_batches_with_skip_locked(pg: Any, postgres_url: str) -> None:
    """4 processes claim 120 open jobs at once: every job once, none twice."""
    from videogw.testing import _attempt_job

    ids = {pg.create(_attempt_job()).id for _ in range(120)}
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Event()
    with ctx.Pool(4) as pool:
        results = [pool.apply_async(_claimer, (postgres_url, pg.schema, start)) for _ in range(4)]
        start.set()
        claimed = [r.get(timeout=120) for r in results]
    every = [job_id for batch in claimed for job_id in batch]
    assert len(every) == len(set(every)) == 120
    assert set(every) == ids
    assert all(pg.lease(job_id) is not None for job_id in ids)


def test_concurrent_creates_of_one_key_make_one_job(pg: Any) -> None:
    """Threads on separate pooled connections create the same key at once: one job, and
    every caller gets it back (the loser waits on the key's row, then reads it)."""
    from concurrent.futures import ThreadPoolExecutor

    from videogw.models import GenerationRequest
    from videogw.testing import _attempt_job

    request = GenerationRequest(model="dop-lite", prompt="a cat", idempotency_key="k-race")
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: pg.create(_attempt_job(key="k-race"), request), range(8)))
    assert len({job.id for job in made}) == 1
    assert len(pg.find()) == 1


@pytest.mark.slow
def test_a_throwaway_cluster_starts_from_initdb_when_nothing_answers() -> None:
    """What the `postgres_url` fixture falls back to (here started even though a server may
    answer, to prove the path works on this machine)."""
    import shutil

    import psycopg

    from pg_cluster import throwaway_cluster

    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("initdb and pg_ctl are not on PATH")
    cluster = throwaway_cluster()
    assert cluster is not None
    try:
        with psycopg.connect(cluster.url, connect_timeout=5) as conn:
            row = conn.execute("SELECT current_user").fetchone()
        assert row == ("postgres",)
    finally:
        cluster.stop()
    assert not cluster.dir.exists()


def _job_indexes(pg: Any) -> dict[str, str]:
    rows = pg._read(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'jobs'",
        (pg.schema,),
    )
    return {name: definition for name, definition in rows}


def test_no_index_of_jobs_names_updated_at(pg: Any) -> None:
    """Every status write changes updated_at: an index on it (v3's claim index) made every
    write a non-HOT update, adding an entry to each of the table's indexes."""
    indexes = _job_indexes(pg)
    assert "jobs_open" in indexes
    assert not [d for d in indexes.values() if "updated_at" in d]
    plan = "\n".join(
        row[0]
        for row in pg._read(
            "EXPLAIN SELECT id FROM jobs WHERE open AND (claimed_until IS NULL OR "
            "claimed_until <= now()) ORDER BY created_at, id LIMIT 5"
        )
    )
    assert "jobs_open" in plan or "Seq Scan" in plan  # a tiny table may be scanned


def test_a_v3_ledger_is_migrated_to_v4(postgres_url: str, schema: str) -> None:
    from routing_kit import finished_job
    from videogw.ledger.postgres import PostgresLedger

    led = PostgresLedger(postgres_url, schema=schema)
    job = led.create(finished_job("toy", 50))
    # what v3 left: its claim index keyed by updated_at, no jobs_open
    with led._pool.connection() as conn, conn.transaction():
        conn.execute("DROP INDEX jobs_open")
        conn.execute("CREATE INDEX jobs_claimable ON jobs (updated_at) WHERE open")
        conn.execute("UPDATE videogw_schema SET version = 3")
    led.close()

    led = PostgresLedger(postgres_url, schema=schema)
    try:
        indexes = _job_indexes(led)
        assert "jobs_claimable" not in indexes
        assert "jobs_open" in indexes
        assert led._read("SELECT version FROM videogw_schema") == [(4,)]
        assert led.get(job.id) is not None
    finally:
        led.close()
