"""`JobStore.find`: filters, newest first, and id prefixes, the same on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from videogw import Job, JobStatus, MemoryStore, Task
from videogw.ledger import SQLiteLedger

T0 = datetime(2026, 11, 21, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    store = MemoryStore() if request.param == "memory" else SQLiteLedger(tmp_path / "l.sqlite3")
    for n in range(6):
        store.create(
            Job(
                id=f"{'ab' if n < 3 else 'cd'}{n:030x}",
                model="dop-lite" if n % 2 else "soul",
                task=Task.image_to_video,
                idempotency_key=f"k{n}",
                status=JobStatus.succeeded if n < 4 else JobStatus.queued,
                provider="pixazo" if n < 5 else "segmind",
                created_at=T0 + timedelta(minutes=n),
            )
        )
    return store


def ids(jobs: list[Job]) -> list[int]:
    return [int(job.id[2:], 16) for job in jobs]


def test_oldest_first_by_default(store: Any) -> None:
    assert ids(store.find()) == [0, 1, 2, 3, 4, 5]


def test_newest_first_with_a_limit_reads_only_the_newest(store: Any) -> None:
    assert ids(store.find(newest_first=True, limit=2)) == [5, 4]


def test_filters_combine(store: Any) -> None:
    assert ids(store.find(model="dop-lite", provider="pixazo")) == [1, 3]
    assert ids(store.find(statuses=[JobStatus.queued])) == [4, 5]
    assert ids(store.find(id_prefix="cd", newest_first=True)) == [5, 4, 3]
    assert store.find(id_prefix="ef") == []
