"""The ledger is the truth: each way the 0.1 gateway paid twice or lost a paid job, as a
test. Multi-process claims run real processes on one ledger file (tests/money_worker.py);
crash claims send real SIGKILLs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import money_worker
from routing_kit import Kit, request, submit_one
from toy import SecondToyProvider, ToyProvider
from videogw import AttemptOutcome, JobStatus, StatusUpdate
from videogw.emulator import FakeClock, FaultProfile, SyncEmulatorTransport, Timing
from videogw.emulator.server import LoopbackServer
from videogw.errors import (
    AcceptanceNotRecordedError,
    ConfigurationError,
    IdempotencyConflictError,
    LedgerReplacedError,
)
from videogw.ledger import MemoryLedger, SQLiteLedger

WORKER = Path(money_worker.__file__)
CAT = "https://example.com/cat.jpg"
TIMING = Timing(queue_s=0.1, run_s=0.2)


@pytest.fixture
def servers() -> Iterator[dict[str, LoopbackServer]]:
    found = {
        cls.name: LoopbackServer(cls.emulator(timing=TIMING)).start()
        for cls in (ToyProvider, SecondToyProvider)
    }
    yield found
    for server in found.values():
        server.stop()


def urls(servers: dict[str, LoopbackServer]) -> dict[str, str]:
    return {name: server.base_url for name, server in servers.items()}


def spawn(command: str, ledger: Path, servers: dict[str, LoopbackServer], *args: str) -> Any:
    return subprocess.Popen(
        [sys.executable, str(WORKER), command, str(ledger), json.dumps(urls(servers)), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: Any, timeout: float = 90) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return str(out)


# -- 1. two resumes (or two waiting threads) never resubmit one refunded failure twice -----
@pytest.mark.slow
def test_two_resume_processes_move_each_refunded_failure_on_once(
    servers: dict[str, LoopbackServer], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    jobs = 20
    with money_worker.gateway(str(ledger), urls(servers)) as gw:
        submitted = [
            gw.submit(model="dop-lite", prompt=f"job {i} emulate:failed", image=CAT)
            for i in range(jobs)
        ]
    assert {job.provider for job in submitted} == {"toy"}
    time.sleep(0.5)  # every toy job has failed (refunded) by now
    both = [spawn("resume", ledger, servers) for _ in range(2)]
    outputs = [finish(p) for p in both]
    toy2 = servers["toy2"].app
    assert toy2.count("submit") == jobs, outputs  # each failure moved on exactly once
    on_record = SQLiteLedger(ledger)
    for job in on_record.find():
        assert [a.provider for a in job.attempts] == ["toy", "toy2"], job
        assert job.attempts[1].provider_job_id in toy2.jobs  # the paid job is on record
    on_record.close()


def test_two_threads_waiting_on_one_job_resubmit_it_once(
    servers: dict[str, LoopbackServer], tmp_path: Path
) -> None:
    with money_worker.gateway(str(tmp_path / "l.sqlite3"), urls(servers)) as gw:
        job = gw.submit(model="dop-lite", prompt="emulate:failed", image=CAT)
        time.sleep(0.5)
        results: list[Any] = []
        threads = [
            threading.Thread(target=lambda: results.append(gw.wait(job, timeout=30)))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        final = gw.get(job.id)
    assert servers["toy2"].app.count("submit") == 1
    assert [a.provider for a in final.attempts] == ["toy", "toy2"]
    assert len(results) == 2


# -- 2. a stale copy (a webhook receiver's) never overwrites a newer record ----------------
def test_a_stale_copy_confirmed_later_never_hides_the_newer_attempt(
    servers: dict[str, LoopbackServer], tmp_path: Path
) -> None:
    ledger = str(tmp_path / "l.sqlite3")
    with money_worker.gateway(ledger, urls(servers)) as worker:
        job = worker.submit(model="dop-lite", prompt="emulate:failed", image=CAT)
        stale = job  # what a receiver in another process read before the resubmit
        time.sleep(0.5)
        moved = worker.wait(job, timeout=30)
    assert [a.provider for a in moved.attempts] == ["toy", "toy2"]
    with money_worker.gateway(ledger, urls(servers)) as receiver:
        late = StatusUpdate(status=JobStatus.failed, raw_status="failed", charged=False)
        kept = receiver.record_update(stale, late)
        read = receiver.status(stale)  # a confirming read of the stale copy
        final = receiver.get(job.id)
    assert kept.attempts[-1].provider == "toy2"
    assert read.provider == "toy2"
    assert final.attempts[-1].provider_job_id == moved.attempts[-1].provider_job_id
    assert final.attempts[-1].provider_job_id in servers["toy2"].app.jobs


# -- 3. unknown is sticky: a refused replay never turns a lost answer into "not sent" ------
@pytest.mark.parametrize("replay", ["503", "429", "401", "422"])
async def test_a_refused_replay_after_a_lost_answer_stays_unknown(replay: str) -> None:
    kit = Kit(sync=True, clock=FakeClock())
    kit.emulator("toy-idem").faults = FaultProfile.parse(
        f"submit:drop_after_accept*1 submit:{replay}*10"
    )
    gw = kit.gateway({"candidates": ["toy-idem", "toy2"]})
    job = gw.submit(request())
    assert job.status is JobStatus.unknown
    assert [a.outcome for a in job.attempts] == [AttemptOutcome.unknown]
    assert job.attempts[0].provider == "toy-idem"
    assert kit.emulator("toy2").count("submit") == 0  # never paid twice
    assert [j.id for j in gw.unknown_submits()] == [job.id]  # listed for reconciliation
    await kit.close()


# -- 4. an idempotency key is one logical job, across processes ----------------------------
@pytest.mark.slow
def test_the_same_idempotency_key_from_two_processes_is_one_job(
    servers: dict[str, LoopbackServer], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    outputs = [finish(p) for p in [spawn("submit_key", ledger, servers, "K-1") for _ in range(3)]]
    assert len({line.split()[1] for line in outputs}) == 1, outputs
    assert servers["toy"].app.count("submit") == 1
    with (
        money_worker.gateway(str(ledger), urls(servers)) as gw,
        pytest.raises(IdempotencyConflictError, match="K-1"),
    ):
        gw.submit(model="dop-lite", prompt="another", image=CAT, idempotency_key="K-1")
    assert servers["toy"].app.count("submit") == 1


# -- 5. a SIGKILL mid-failover leaves the provider that may hold the job on record ---------
@pytest.mark.slow
def test_sigkill_during_a_failover_submit_names_the_provider_on_record(
    servers: dict[str, LoopbackServer], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    servers["toy"].app.faults = FaultProfile.parse("submit:503*100")
    servers["toy2"].app.faults = FaultProfile.parse("submit:slow/30*1")
    worker = spawn("failover", ledger, servers)
    try:
        started = time.monotonic()
        while servers["toy2"].app.count("submit") < 1:
            assert time.monotonic() - started < 20, "the failover never reached toy2"
            time.sleep(0.01)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    on_record = SQLiteLedger(ledger)
    (job,) = on_record.find()
    unknown = on_record.unknown_submits()
    on_record.close()
    assert job.provider == "toy2"
    assert [(a.provider, a.outcome) for a in job.attempts] == [
        ("toy", AttemptOutcome.rejected),
        ("toy2", AttemptOutcome.sending),
    ]
    assert [j.id for j in unknown] == [job.id]


# -- 6. a ledger that cannot record an acceptance never loses the provider job id ----------
class LockingTransport(SyncEmulatorTransport):
    """Takes the ledger's write lock from another connection as the submit goes out."""

    def __init__(self, app: Any, path: Path) -> None:
        super().__init__(app)
        self.path = path
        self.holder: sqlite3.Connection | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self.holder is None:
            self.holder = sqlite3.connect(self.path, isolation_level=None)
            self.holder.execute("BEGIN EXCLUSIVE")
        return super().handle_request(request)


async def test_a_locked_ledger_at_acceptance_raises_with_the_provider_job_id(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    kit = Kit(sync=True, clock=FakeClock(), names=("toy",))
    locking = LockingTransport(kit.emulator("toy"), path)
    store = SQLiteLedger(path, busy_timeout_s=0.02)
    gw = kit.gateway(transports={"toy": locking}, store=store)
    with pytest.raises(AcceptanceNotRecordedError) as caught:
        gw.submit(request())
    (created,) = kit.emulator("toy").jobs
    assert caught.value.provider == "toy"
    assert caught.value.provider_job_id == created
    assert created in str(caught.value)
    assert "locked" in str(caught.value)  # the first error, not a ROLLBACK's
    assert locking.holder is not None
    locking.holder.execute("ROLLBACK")
    (job,) = store.find()  # the write-ahead attempt names the provider
    assert job.attempts[-1].provider == "toy"
    await kit.close()


# -- 7. budgets hold under concurrency: holds are taken with the attempt -------------------
@pytest.mark.slow
def test_a_daily_budget_holds_across_four_processes(
    servers: dict[str, LoopbackServer], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    runs = [spawn("submit", ledger, servers, "10", "0.55") for _ in range(4)]
    accepted = sum(int(finish(p).split()[1]) for p in runs)
    assert accepted == 5  # 5 x $0.10 <= $0.55; a sixth would pass it
    assert len(servers["toy"].app.jobs) == 5


async def test_twenty_concurrent_async_submits_stay_within_the_budget(
    servers: dict[str, LoopbackServer], tmp_path: Path
) -> None:
    import asyncio

    from videogw import AsyncGateway
    from videogw.testing import registry_with

    config = money_worker.config(str(tmp_path / "l.sqlite3"), urls(servers), budget="1.00")
    async with AsyncGateway(config, registry=registry_with(ToyProvider, SecondToyProvider)) as gw:
        done = await asyncio.gather(
            *(gw.submit(model="toy:dop-lite", prompt=f"n{i}", image=CAT) for i in range(20)),
            return_exceptions=True,
        )
    accepted = [job for job in done if not isinstance(job, BaseException)]
    assert len(accepted) == 10  # 10 x $0.10 = the $1.00 budget
    assert len(servers["toy"].app.jobs) == 10


# -- 9. the smaller ones ---------------------------------------------------------------------
def test_a_corrupt_row_is_reported_and_skipped(tmp_path: Path, caplog: Any) -> None:
    from routing_kit import finished_job

    ledger = SQLiteLedger(tmp_path / "l.sqlite3")
    good = ledger.create(finished_job("toy", 3))
    bad = ledger.create(finished_job("toy", 3))
    ledger._db.execute("UPDATE jobs SET job = substr(job, 1, 40) WHERE id = ?", (bad.id,))
    assert [j.id for j in ledger.find()] == [good.id]
    assert bad.id in caplog.text
    from videogw.errors import LedgerCorruptError

    with pytest.raises(LedgerCorruptError, match=bad.id):
        ledger.get(bad.id)
    ledger.close()


def test_a_ledger_deleted_or_replaced_under_a_process_fails_loudly(tmp_path: Path) -> None:
    from routing_kit import finished_job

    path = tmp_path / "l.sqlite3"
    ledger = SQLiteLedger(path)
    ledger.create(finished_job("toy", 3))
    for name in os.listdir(tmp_path):
        os.remove(tmp_path / name)
    with pytest.raises(LedgerReplacedError, match="deleted"):
        ledger.create(finished_job("toy", 3))
    SQLiteLedger(path).close()  # another file now sits at the path
    with pytest.raises(LedgerReplacedError, match="replaced"):
        ledger.create(finished_job("toy", 3))


def test_a_ledger_path_that_is_a_directory_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="directory"):
        SQLiteLedger(tmp_path)


async def test_a_wall_clock_stepped_back_never_records_a_negative_latency() -> None:
    clock = FakeClock()
    kit = Kit(sync=True, clock=clock, names=("toy",))
    store = MemoryLedger()
    gw = kit.gateway(store=store)
    # a job in the timing sample: the others record no latency at all (`schedule.timed`)
    job = await submit_one(gw, sampled=True)
    clock.advance(60)
    # the wall clock jumps back an hour while the job runs (NTP, a VM restore)
    original = clock.now
    clock.now = lambda: original() - timedelta(hours=1)  # type: ignore[method-assign]
    done = gw.wait(job, timeout=600)
    assert done.status is JobStatus.succeeded
    # first read 60 s after submit, 24x E, nothing read before it: no latency at all
    # (`Tracker.record_update`); where one is recorded, it is never negative
    latency = done.attempts[-1].latency_s
    assert latency is None or latency >= 0
    stats = store.stats("toy", "dop-lite")
    assert stats.p50_s is None or stats.p50_s >= 0
    await kit.close()


def test_spend_figures_are_decimals() -> None:
    assert MemoryLedger().spend_usd(datetime.now(UTC)) == Decimal(0)
