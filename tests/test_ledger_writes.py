"""What a SQLite ledger write costs (issue 17): the statements each hot-path write runs,
counted with SQLite's trace hook, and the rows they leave when they refuse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from videogw import GenerationRequest, Job, JobStatus, StatusUpdate
from videogw.errors import BudgetExceededError, IdempotencyConflictError, StaleJobError
from videogw.events import EventBus
from videogw.ledger import Budget, Group, SQLiteLedger, grouped
from videogw.lifecycle import apply_update
from videogw.recorder import Recorder
from videogw.testing import _attempt_job

CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SQLiteLedger]:
    led = SQLiteLedger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


class Statements:
    """The statements a ledger runs (transaction control left out), by their first word."""

    def __init__(self, ledger: SQLiteLedger) -> None:
        self.seen: list[str] = []
        ledger._db.set_trace_callback(self._add)

    def _add(self, text: str) -> None:
        text = " ".join(text.split())
        if not text.startswith(CONTROL):
            self.seen.append(text)

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return seen


def test_a_create_of_a_new_key_is_three_statements(ledger: SQLiteLedger) -> None:
    request = GenerationRequest(model="dop-lite", prompt="a cat", idempotency_key="k-1")
    statements = Statements(ledger)
    stored = ledger.create(_attempt_job(key="k-1"), request)
    seen = statements.take()
    # the key claimed, the job, its one attempt row: no reads first
    assert [s.split()[0] for s in seen] == ["INSERT"] * 3, seen
    assert "idempotency_keys" in seen[0]
    # a known key: the claim changes nothing, then one read answers it
    again = ledger.create(_attempt_job(key="k-1"), request)
    assert again == stored
    assert [s.split()[0] for s in statements.take()] == ["INSERT", "SELECT"]
    with pytest.raises(IdempotencyConflictError):
        ledger.create(_attempt_job(key="k-1"), request.model_copy(update={"prompt": "a dog"}))


def test_a_grouped_create_of_a_known_job_id_leaves_no_key_row(ledger: SQLiteLedger) -> None:
    """Inside a group the open transaction is not rolled back for a refused write: the
    create undoes the key it claimed itself, and the group's other writes stand."""
    stored = ledger.create(_attempt_job())
    with grouped(Group()):
        kept = ledger.create(_attempt_job(key="k-kept"))
        twin = _attempt_job(key="k-twin").model_copy(update={"id": stored.id})
        with pytest.raises(StaleJobError) as caught:
            ledger.create(twin)
    assert (caught.value.expected, caught.value.found) == (0, 1)
    assert ledger.pending
    ledger.commit()
    keys = {k for (k,) in ledger._db.execute("SELECT key FROM idempotency_keys")}
    assert keys == {stored.idempotency_key, "k-kept"}
    assert ledger.get(kept.id) == kept


def _progress(job: Job, progress: float) -> Job:
    """A status read that changes the job (its progress) but none of its attempt rows."""
    update = StatusUpdate(job.status, "PROCESSING", progress=progress)
    return apply_update(job, update, now=job.updated_at + timedelta(seconds=5))


def test_a_write_that_changes_no_attempt_row_updates_only_the_job(ledger: SQLiteLedger) -> None:
    db = ledger._db
    stored = ledger.create(_attempt_job())
    before = db.execute("SELECT * FROM attempts").fetchall()
    changes = db.total_changes
    stored = ledger.update(_progress(stored, 0.5))
    assert db.total_changes - changes == 1  # the job's row; its attempt row untouched
    assert db.execute("SELECT * FROM attempts").fetchall() == before
    # a status change rewrites the attempt (its status, its end)
    done = apply_update(stored, StatusUpdate(JobStatus.succeeded), now=stored.updated_at)
    changes = db.total_changes
    ledger.update(done)
    assert db.total_changes - changes == 2
    ((status, ended),) = db.execute("SELECT status, ended_at FROM attempts").fetchall()
    assert status == "succeeded"
    assert ended is not None


def test_a_budget_is_checked_on_a_write_that_changes_no_attempt_row(
    ledger: SQLiteLedger,
) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    stored = ledger.create(_attempt_job(estimate_usd="0.50"))
    # the job's own hold already passes this cap: the write is refused, not skipped
    with pytest.raises(BudgetExceededError):
        ledger.update(_progress(stored, 0.5), budget=Budget(since=since, daily_usd=Decimal("0.40")))
    assert ledger.get(stored.id) == stored


def test_a_change_with_nothing_to_write_still_gives_the_lease_up(ledger: SQLiteLedger) -> None:
    recorder = Recorder(ledger, EventBus())
    stored = ledger.create(_attempt_job(), lease=("me", 60))
    assert recorder.change(stored, lambda job: None, release="me") == stored
    assert ledger.lease(stored.id) is None
    ledger.acquire(stored.id, "me", 60)
    assert recorder.change(stored, lambda job: job, release="me") == stored
    assert ledger.lease(stored.id) is None
    assert ledger.get(stored.id) == stored  # nothing written


class _OlderLedger(SQLiteLedger):
    """A third-party ledger written before `update(release=...)`: no such keyword."""

    def update(self, job: Job, *, budget: Budget | None = None) -> Job:  # type: ignore[override]
        return super().update(job, budget=budget)


def test_a_ledger_without_the_release_keyword_still_gives_the_lease_up(tmp_path: Path) -> None:
    # the recorder used to pass release= to every ledger: a TypeError on each acceptance
    older = _OlderLedger(tmp_path / "older.sqlite3")
    recorder = Recorder(older, EventBus())
    stored = older.create(_attempt_job(), lease=("me", 60))
    written = recorder.change(stored, lambda job: _progress(job, 0.5), release="me")
    assert written.version == stored.version + 1
    assert written.progress == 0.5
    assert older.lease(stored.id) is None  # released by a write of its own
    older.close()
