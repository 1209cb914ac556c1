"""What a SQLite ledger write costs (issue 17): the statements each hot-path write runs,
counted with SQLite's trace hook, and the rows they leave when they refuse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from videogw import GenerationRequest
from videogw.errors import IdempotencyConflictError, StaleJobError
from videogw.ledger import Group, SQLiteLedger, grouped
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
