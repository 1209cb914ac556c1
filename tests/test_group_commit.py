"""Group commit (issue 17): an `AsyncGateway` on SQLite shares one commit (one fsync with
the default ``synchronous=FULL``) among the writes of concurrent operations, yet every
money rule still holds at the instant a request leaves: the write-ahead attempt is already
committed, so another process sees it; a result handed back is durable; a commit that fails
stops the operation before anything it recorded since leaves the process, and a provider
job id among the lost writes is raised as `AcceptanceNotRecordedError`."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from routing_kit import NAMES, Kit, finished_job, request
from videogw import AttemptOutcome, JobStatus
from videogw.emulator import FakeClock
from videogw.engine import AsyncEngine, Op, Sleep
from videogw.errors import AcceptanceNotRecordedError, LedgerUnavailableError
from videogw.ledger import Group, SQLiteLedger, grouped


class Witness(httpx.AsyncBaseTransport):
    """Passes requests to the emulator, and at the instant each submit leaves, reads the
    ledger file through a second connection (what another process would see)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, path: Path) -> None:
        self.inner = inner
        self.other = SQLiteLedger(path)
        self.seen: list[tuple[str, list[AttemptOutcome]]] = []
        self.submits = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.submits += 1
            prompt = request.content.decode()
            for job in self.other.find():
                stored = self.other.load_request(job.id)
                if stored is not None and stored.prompt and stored.prompt in prompt:
                    self.seen.append((job.id, [a.outcome for a in job.attempts]))
        return await self.inner.handle_async_request(request)


def fail_commit(monkeypatch: pytest.MonkeyPatch, ledger: SQLiteLedger, nth: int, why: str) -> None:
    """The `nth` group commit fails as a refusing disk makes it: its writes are gone."""
    real = ledger.commit
    calls = {"n": 0}

    def commit() -> None:
        calls["n"] += 1
        if calls["n"] == nth:
            ledger._db.execute("ROLLBACK")
            ledger._grouped = False
            raise LedgerUnavailableError(f"ledger: {why} (test)")
        real()

    monkeypatch.setattr(ledger, "commit", commit)


@pytest.fixture
def kit() -> Kit:
    return Kit(sync=False, clock=FakeClock(), names=NAMES)


def _witnessed(kit: Kit, path: Path) -> tuple[Any, Witness, SQLiteLedger]:
    ledger = SQLiteLedger(path)
    inner = kit.emulated.transports(sync=False)["toy"]
    witness = Witness(inner, path)
    gw = kit.gateway(transports={"toy": witness}, store=ledger)
    return gw, witness, ledger


async def test_concurrent_submits_share_commits_and_every_attempt_is_on_record_first(
    kit: Kit, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.sqlite3"
    gw, witness, ledger = _witnessed(kit, path)
    jobs = await asyncio.gather(
        *(gw.submit(request(model="toy:dop-lite", prompt=f"unique-{i:03d}")) for i in range(40))
    )
    committer = gw._engine.group_commit
    assert committer is not None
    # 40 submits write 80 times (write-ahead, acceptance): far fewer commits than that
    assert 0 < committer.commits <= 40, committer.commits
    # at the instant each submit left, another connection already saw its attempt
    assert witness.submits == 40
    seen = {job_id: outcomes for job_id, outcomes in witness.seen}
    for job in jobs:
        assert seen.get(job.id) == [AttemptOutcome.sending], (job.id, seen.get(job.id))
    # what was returned is durable: another connection reads every acceptance
    for job in jobs:
        stored = witness.other.get(job.id)
        assert stored is not None
        assert stored.provider_job_id == job.provider_job_id
    assert not ledger.pending
    witness.other.close()
    await kit.close()


async def test_a_failed_group_commit_stops_the_submit_before_it_is_sent(
    kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, witness, ledger = _witnessed(kit, tmp_path / "ledger.sqlite3")
    fail_commit(monkeypatch, ledger, 1, "disk I/O error")
    with pytest.raises(LedgerUnavailableError, match="disk I/O"):
        await gw.submit(request(model="toy:dop-lite", prompt="never-sent"))
    assert witness.submits == 0  # the write-ahead was not durable: nothing left
    assert ledger.find() == []
    # the next submit works (a new transaction)
    job = await gw.submit(request(model="toy:dop-lite", prompt="sent"))
    assert job.status is JobStatus.queued or job.provider_job_id is not None
    assert witness.submits == 1
    witness.other.close()
    await kit.close()


async def test_a_lost_acceptance_is_raised_with_the_provider_job_id(
    kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, witness, ledger = _witnessed(kit, tmp_path / "ledger.sqlite3")
    # the first commit is the write-ahead's, the second the acceptance's
    fail_commit(monkeypatch, ledger, 2, "disk full")
    with pytest.raises(AcceptanceNotRecordedError) as caught:
        await gw.submit(request(model="toy:dop-lite", prompt="paid"))
    assert witness.submits == 1
    error = caught.value
    assert error.provider == "toy"
    assert error.provider_job_id  # the paid job's id survives in the error
    emulated = kit.emulator("toy").jobs
    assert error.provider_job_id in emulated
    witness.other.close()
    await kit.close()


def test_grouped_writes_stay_private_until_committed(tmp_path: Path) -> None:
    from routing_kit import finished_job

    path = tmp_path / "ledger.sqlite3"
    ledger = SQLiteLedger(path)
    other = SQLiteLedger(path, busy_timeout_s=0.05)
    group = Group()
    with grouped(group):
        a = ledger.create(finished_job("toy", 3))
        b = ledger.create(finished_job("toy", 4))
    assert group.wrote
    assert ledger.pending
    assert other.get(a.id) is None  # not durable yet: nobody else may see it
    assert ledger.get(a.id) is not None  # this process reads its own writes
    ledger.commit()
    assert not ledger.pending
    assert other.get(a.id) is not None
    assert other.get(b.id) is not None
    # a write outside any group commits at once (and carries an open group with it)
    with grouped(Group()):
        c = ledger.create(finished_job("toy", 5))
    d = ledger.create(finished_job("toy", 6))
    assert not ledger.pending
    assert other.get(c.id) is not None
    assert other.get(d.id) is not None
    other.close()
    ledger.close()


def test_a_failed_grouped_write_rolls_back_alone(tmp_path: Path) -> None:
    from routing_kit import finished_job
    from videogw.errors import StaleJobError

    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    first = ledger.create(finished_job("toy", 3))
    with grouped(Group()):
        kept = ledger.create(finished_job("toy", 4))
        with pytest.raises(StaleJobError):
            ledger.update(first.model_copy(update={"version": 7}))
    ledger.commit()
    other = SQLiteLedger(tmp_path / "ledger.sqlite3")
    assert other.get(kept.id) is not None
    other.close()
    ledger.close()


def test_one_index_serves_live_jobs_and_none_moves_with_status_writes(tmp_path: Path) -> None:
    """Fewer indexes (issue 17): a status write changes no indexed column of `jobs`, and
    the claim, resume and reconciliation queries all use the one index of live jobs."""
    path = tmp_path / "ledger.sqlite3"
    ledger = SQLiteLedger(path)
    db = ledger._db
    indexes = {
        name
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' "
            "AND sql IS NOT NULL"
        )
    }
    assert indexes == {"jobs_created", "jobs_live"}
    for query in (
        "SELECT id FROM jobs WHERE open = 1 AND claimed_until IS NULL ORDER BY created_at",
        "SELECT id FROM jobs WHERE terminal = 0 AND provider_job_id IS NULL",
        "SELECT id FROM jobs WHERE terminal = 0 AND provider_job_id IS NOT NULL",
    ):
        plan = " ".join(str(row) for row in db.execute("EXPLAIN QUERY PLAN " + query))
        assert "jobs_live" in plan, (query, plan)
    ledger.close()


V2_ATTEMPTS = """
CREATE TABLE attempts (
    job_id TEXT NOT NULL, n INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
    outcome TEXT NOT NULL, status TEXT, started_at REAL NOT NULL, ended_at REAL,
    latency_s REAL, charged INTEGER, cost TEXT, currency TEXT, cost_usd REAL,
    estimate_usd REAL, client_key TEXT, PRIMARY KEY (job_id, n)
) WITHOUT ROWID"""


def test_a_version_2_ledger_is_migrated_with_its_attempts(tmp_path: Path) -> None:
    """v2 files (videogw before issue 17) get v3's indexes and attempts table on opening,
    with every attempt, statistic and spend figure kept."""
    from datetime import UTC, datetime

    from routing_kit import finished_job

    path = tmp_path / "ledger.sqlite3"
    ledger = SQLiteLedger(path)
    jobs = [ledger.create(finished_job("toy", 3 + i, cost="0.10")) for i in range(5)]
    since = datetime(2000, 1, 1, tzinfo=UTC)
    stats, spend = ledger.stats("toy", "dop-lite"), ledger.spend_usd(since)
    db = ledger._db
    # back to the v2 layout, as videogw 0.2 left it
    for statement in (
        "DROP INDEX jobs_live",
        "CREATE INDEX jobs_unfinished ON jobs (created_at) WHERE terminal = 0",
        "CREATE INDEX jobs_claimable ON jobs (updated_at) WHERE open = 1",
        "ALTER TABLE attempts RENAME TO attempts_v3",
        "DROP INDEX attempts_stats",
        "DROP INDEX attempts_spend",
        "DROP INDEX attempts_open",
        V2_ATTEMPTS,
        "INSERT INTO attempts SELECT * FROM attempts_v3",
        "DROP TABLE attempts_v3",
        "CREATE INDEX attempts_stats ON attempts (provider, model, ended_at)",
        "CREATE INDEX attempts_spend ON attempts (ended_at) WHERE charged = 1",
        "CREATE INDEX attempts_open ON attempts (started_at) WHERE charged IS NULL",
        "PRAGMA user_version=2",
    ):
        db.execute(statement)
    ledger.close()
    reopened = SQLiteLedger(path)
    names = {n for (n,) in reopened._db.execute("SELECT name FROM sqlite_master")}
    assert "jobs_claimable" not in names
    assert "jobs_unfinished" not in names
    assert "attempts_v2" not in names
    assert {"jobs_live", "attempts_stats", "attempts_spend", "attempts_open"} <= names
    (sql,) = reopened._db.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'attempts'"
    ).fetchone()
    assert "WITHOUT ROWID" not in sql
    assert reopened._db.execute("PRAGMA user_version").fetchone()[0] == 3
    assert [reopened.get(job.id) for job in jobs] == jobs
    assert reopened.stats("toy", "dop-lite") == stats
    assert reopened.spend_usd(since) == spend
    # and it takes new writes, attempts upserted on the new unique key
    more = reopened.create(finished_job("toy", 9, cost="0.10"))
    assert reopened.stats("toy", "dop-lite").samples == stats.samples + 1
    assert reopened.get(more.id) == more
    reopened.close()


async def test_two_gateways_on_one_file_in_one_event_loop_do_not_wait_on_each_other(
    kit: Kit, tmp_path: Path
) -> None:
    """A grouped transaction is committed at the end of its tick, by the event loop; a
    second ledger on the same file in the same loop must not wait for it inside SQLite's
    busy handler (that blocks the loop, so the commit it waits for never comes)."""
    import time

    path = tmp_path / "ledger.sqlite3"
    first = kit.gateway(store=SQLiteLedger(path, busy_timeout_s=3.0))
    second = kit.gateway(store=SQLiteLedger(path, busy_timeout_s=3.0))
    started = time.monotonic()
    jobs = await asyncio.gather(
        *(
            gw.submit(request(model="toy:dop-lite", prompt=f"two-{i}"))
            for i in range(10)
            for gw in (first, second)
        )
    )
    assert time.monotonic() - started < 2.0
    assert len({job.id for job in jobs}) == 20
    check = SQLiteLedger(path)
    assert len(check.find()) == 20
    check.close()
    await kit.close()


class RefusingCommit:
    """A connection whose next COMMIT fails as a failing disk makes it (SQLite rolls the
    transaction back); everything else goes through."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.armed = True

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.armed:
            self.armed = False
            self.db.execute("ROLLBACK")
            raise sqlite3.OperationalError("disk I/O error")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_a_failed_commit_of_a_lone_write_still_fails_the_group_it_carried(
    tmp_path: Path,
) -> None:
    from routing_kit import finished_job

    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    group = Group()
    with grouped(group):
        ledger.create(finished_job("toy", 3))
    real = ledger._db
    ledger._db = RefusingCommit(real)  # type: ignore[assignment]
    with pytest.raises(LedgerUnavailableError):
        ledger.create(finished_job("toy", 4))  # commits the group with it, and fails
    # the grouped write was lost with it: the group's own commit must say so
    assert ledger.pending
    with pytest.raises(LedgerUnavailableError, match="disk I/O"):
        ledger.commit()
    assert not ledger.pending
    ledger._db = real
    assert ledger.find() == []
    ledger.create(finished_job("toy", 5))  # and the ledger goes on
    assert len(ledger.find()) == 1
    ledger.close()


async def test_a_lease_taken_in_a_failed_group_commit_is_not_trusted_afterwards(
    kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lease is renewed at most every half lease: the tracker remembers when it last
    took it. If the commit of the write that took it fails, the lease was never taken:
    another process may take it, and this one must not go on trusting its memory (it
    would track, and resubmit, a job someone else holds)."""
    path = tmp_path / "ledger.sqlite3"
    gw, witness, ledger = _witnessed(kit, path)
    job = await gw.submit(request(model="toy:dop-lite", prompt="leased"))
    tracker = gw.tracker
    fail_commit(monkeypatch, ledger, 1, "disk I/O error")

    def hold_then_act() -> Op[None]:
        assert tracker.hold(job.id, "me")
        yield Sleep(0)  # an effect: the hold must be durable first, and its commit fails

    with pytest.raises(LedgerUnavailableError, match="disk I/O"):
        await gw._engine.run(hold_then_act())
    other = SQLiteLedger(path)
    assert other.acquire(job.id, "another process", 30)  # the lease was never taken
    assert not tracker.hold(job.id, "me")  # ...and this process knows it
    other.close()
    witness.other.close()
    await kit.close()


async def test_writes_of_one_tick_and_the_next_share_one_commit(tmp_path: Path) -> None:
    # the commit waits one more turn of the loop, so the answers that arrive meanwhile
    # join it (fewer fsyncs per submit, measured in GroupCommit's docstring)
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    engine = AsyncEngine(ledger=ledger)
    committer = engine.group_commit
    assert committer is not None

    def write(n: int) -> Op[None]:
        ledger.create(finished_job("toy", n))
        return
        yield  # a generator: the engine drives it

    async def after(ticks: int, n: int) -> None:
        for _ in range(ticks):
            await asyncio.sleep(0)
        await engine.run(write(n))

    await asyncio.gather(after(0, 1), after(1, 2))
    assert committer.commits == 1
    assert not ledger.pending
    other = SQLiteLedger(tmp_path / "ledger.sqlite3")
    assert len(other.find()) == 2  # both durable, seen by another connection
    other.close()
    ledger.close()
