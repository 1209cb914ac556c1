"""The SQLite ledger: exact round trips, indexed queries, statistics, durability settings,
and which store a gateway opens from its config."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from routing_kit import Kit, finished_job, priced, request
from videogw import GenerationRequest, Job, JobStatus, Task
from videogw.config import LEDGER_ENV, LedgerConfig
from videogw.emulator import FakeClock, FaultProfile
from videogw.ledger import SQLiteLedger, default_ledger_path, open_store
from videogw.store import JobStore, Ledger, MemoryStore, dump_request, load_request


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SQLiteLedger]:
    store = SQLiteLedger(tmp_path / "ledger.sqlite3")
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kit(clock: FakeClock) -> Iterator[Kit]:
    kit = Kit(True, clock)
    yield kit
    asyncio.run(kit.close())


def test_it_is_a_ledger_and_a_job_store(ledger: SQLiteLedger) -> None:
    assert isinstance(ledger, JobStore)
    assert isinstance(ledger, Ledger)
    assert isinstance(MemoryStore(), Ledger)


def test_wal_mode_and_synchronous_setting(tmp_path: Path) -> None:
    # power-loss durable by default (issue 17): FULL fsyncs every commit
    full = SQLiteLedger(tmp_path / "b.sqlite3")
    normal = SQLiteLedger(tmp_path / "a.sqlite3", synchronous="NORMAL")
    assert normal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert normal._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert full._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert LedgerConfig().synchronous == "FULL"
    normal.close()
    full.close()


def test_a_job_round_trips_exactly_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    job = finished_job("toy", 42, cost="0.123456789")
    job = job.model_copy(update={"labels": {"run": "7"}, "provider_data": {"url": "x"}})
    first = SQLiteLedger(path)
    stored = first.create(job)
    first.close()
    again = SQLiteLedger(path)
    assert again.get(job.id) == stored == job.model_copy(update={"version": 1})
    assert again.get("nope") is None
    again.close()


def test_every_state_change_is_one_row_updated_in_place(ledger: SQLiteLedger) -> None:
    job = finished_job("toy", 10, status=JobStatus.queued, charged=None, cost=None)
    job = ledger.create(job)
    for status in (JobStatus.running, JobStatus.succeeded):
        job = ledger.update(job.model_copy(update={"status": status}))
    assert ledger._db.execute("SELECT count(*), max(status) FROM jobs").fetchone() == (
        1,
        "succeeded",
    )
    assert ledger.get(job.id) == job


def test_find_filters_on_indexed_columns(ledger: SQLiteLedger) -> None:
    a = finished_job("toy", 1)
    b = finished_job("toy2", 1, status=JobStatus.failed, charged=False)
    c = finished_job("toy", 1, status=JobStatus.running, charged=None, cost=None)
    for job in (a, b, c):
        ledger.create(job)
    assert {j.id for j in ledger.find(provider="toy")} == {a.id, c.id}
    assert [j.id for j in ledger.find(statuses=[JobStatus.failed])] == [b.id]
    assert ledger.find(statuses=[]) == []
    assert len(ledger.find(limit=2)) == 2
    assert len(ledger.find(limit=10**30)) == 3  # a huge limit is no overflow


def test_resumable_and_unknown_submits(ledger: SQLiteLedger) -> None:
    live = finished_job("toy", 1, status=JobStatus.running, charged=None, cost=None)
    done = finished_job("toy", 1)
    intent = Job(model="dop-lite", task=Task.image_to_video, idempotency_key="k-1")
    unmapped = live.model_copy(
        update={"id": "u1", "status": JobStatus.unknown, "idempotency_key": "k-u1"}
    )
    for job in (live, done, intent, unmapped):
        ledger.create(job)
    assert {j.id for j in ledger.resumable()} == {live.id, "u1"}  # has an id: keep polling
    assert [j.id for j in ledger.unknown_submits()] == [intent.id]  # none: reconcile


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_statistics_count_every_attempt(backend: str, tmp_path: Path) -> None:
    store: Any = MemoryStore() if backend == "memory" else SQLiteLedger(tmp_path / "s.sqlite3")
    for latency in (10, 20, 30, 40, 100):
        store.create(finished_job("toy", latency, cost="0.10"))
    store.create(finished_job("toy", 5, status=JobStatus.failed, charged=False, cost=None))
    store.create(finished_job("toy", 5, status=JobStatus.cancelled, charged=False, cost=None))
    credits = priced("7", "credits", usd="0.07")
    store.create(finished_job("toy", 50, cost="8", currency="credits", estimate=credits))
    stats = store.stats("toy", "dop-lite")
    assert stats.samples == 8
    # successful latencies 10 20 30 40 50 100: nearest-rank p50 is 30, p95 is 100
    assert (stats.p50_s, stats.p95_s) == (pytest.approx(30), pytest.approx(100))
    assert stats.success_rate == pytest.approx(6 / 7)  # the cancellation is not a failure
    assert (stats.mean_cost, stats.cost_currency) == (Decimal("0.10"), "USD")
    # 8 credits at the estimate's rate of $0.01 each is $0.08
    assert stats.mean_cost_usd == pytest.approx((5 * Decimal("0.10") + Decimal("0.08")) / 6)
    assert store.stats("toy2", "dop-lite").samples == 0


def test_a_refunded_first_attempt_counts_against_its_own_provider(kit: Kit, tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "l.sqlite3")
    kit.emulator("toy").faults = FaultProfile.parse("failed")
    gw = kit.gateway({"candidates": ["toy", "toy2"], "retry_failed": True}, store=ledger)
    job = gw.run(request())
    assert job.provider == "toy2"
    toy, toy2 = ledger.stats("toy", "dop-lite"), ledger.stats("toy2", "dop-lite")
    assert (toy.samples, toy.success_rate) == (1, 0.0)
    assert (toy2.samples, toy2.success_rate, toy2.mean_cost) == (1, 1.0, Decimal("0.10"))
    rows = ledger._db.execute("SELECT n, provider, charged FROM attempts ORDER BY n").fetchall()
    assert rows == [(0, "toy", 0), (1, "toy2", 1)]


def test_requests_round_trip_with_bytes_and_paths(tmp_path: Path) -> None:
    image = tmp_path / "in.png"
    image.write_bytes(b"\x89PNG")
    req = GenerationRequest.model_validate(
        {"model": "dop-lite", "image": str(image), "audio": b"\x00\xff\xfe", "seed": 7}
    )
    assert load_request(dump_request(req)) == req
    ledger = SQLiteLedger(tmp_path / "l.sqlite3")
    job = finished_job("toy", 1)
    ledger.create(job, req)
    assert ledger.load_request(job.id) == req
    assert ledger.load_request("nope") is None


def test_intent_and_request_are_written_before_the_first_submit(kit: Kit, tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "l.sqlite3")
    seen: list[tuple[int, bool]] = []
    original = kit.emulator("toy").submit

    async def spy(req: Any) -> Any:
        row = ledger._db.execute("SELECT count(*), max(request IS NOT NULL) FROM jobs").fetchone()
        seen.append((row[0], bool(row[1])))
        return await original(req)

    kit.emulator("toy")._routes[0].handler = spy
    gw = kit.gateway({"candidates": ["toy"]}, store=ledger)
    gw.submit(request())
    assert seen == [(1, True)]


def test_gateway_opens_the_configured_ledger(kit: Kit, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ledger.sqlite3"
    gw = kit.gateway({"candidates": ["toy"]}, ledger={"path": str(path)})
    assert isinstance(gw.store, SQLiteLedger)
    assert gw.store.path == path
    job = gw.submit(request())
    gw.close()
    reopened = SQLiteLedger(path)
    assert reopened.get(job.id) == job
    memory = kit.gateway(ledger={"backend": "memory"})
    assert isinstance(memory.store, MemoryStore)


def test_default_ledger_path_is_the_platform_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LEDGER_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_ledger_path() == tmp_path / "videogw" / "ledger.sqlite3"
    store = open_store(LedgerConfig())
    assert isinstance(store, SQLiteLedger)
    assert store.path.is_relative_to(tmp_path)
    store.close()
    monkeypatch.setenv(LEDGER_ENV, str(tmp_path / "env.sqlite3"))
    assert default_ledger_path() == tmp_path / "env.sqlite3"
    monkeypatch.setenv(LEDGER_ENV, "memory")
    assert isinstance(open_store(LedgerConfig()), MemoryStore)


def test_the_file_is_readable_by_plain_sqlite(ledger: SQLiteLedger) -> None:
    job = ledger.create(finished_job("toy", 12))
    with sqlite3.connect(ledger.path) as other:
        (text,) = other.execute("SELECT job FROM jobs WHERE id = ?", (job.id,)).fetchone()
    assert Job.model_validate_json(text) == job


def test_spend_converts_credits_with_the_estimates_rate(ledger: SQLiteLedger) -> None:
    credits = priced("7", "credits", usd="0.07")
    job = finished_job("toy", 3, cost="10", currency="credits", estimate=credits)
    ledger.create(job)
    since = job.finished_at - timedelta(hours=1)  # type: ignore[operator]
    assert ledger.spend_usd(since) == Decimal("0.1")
