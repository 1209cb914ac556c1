"""`videogw worker`: claims open jobs, tracks them under renewed leases, applies the money
rules after acceptance, and on SIGTERM finishes what is in flight and releases the rest
(on SQLite and PostgreSQL); on PostgreSQL a webhook recorded by another process wakes the
worker holding the job (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fleet_worker
from toy import SecondToyProvider, ToyProvider
from videogw import Gateway, JobStatus, StatusUpdate
from videogw.emulator import Timing
from videogw.emulator.server import LoopbackServer
from videogw.ledger import Ledger, SQLiteLedger
from videogw.testing import registry_with
from videogw.worker import Worker

WORKER = Path(fleet_worker.__file__)
CAT = "https://example.com/cat.jpg"


def start_servers(timing: Timing) -> dict[str, LoopbackServer]:
    return {
        cls.name: LoopbackServer(cls.emulator(timing=timing)).start()
        for cls in (ToyProvider, SecondToyProvider)
    }


@pytest.fixture
def servers() -> Iterator[dict[str, LoopbackServer]]:
    found = start_servers(Timing(queue_s=0.1, run_s=0.3))
    yield found
    for server in found.values():
        server.stop()


@pytest.fixture
def slow_servers() -> Iterator[dict[str, LoopbackServer]]:
    found = start_servers(Timing(queue_s=0.5, run_s=30.0))
    yield found
    for server in found.values():
        server.stop()


def urls(servers: dict[str, LoopbackServer]) -> dict[str, str]:
    return {name: server.base_url for name, server in servers.items()}


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_spec(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "sqlite":
        return {"path": str(tmp_path / "ledger.sqlite3")}
    url = request.getfixturevalue("postgres_url")
    return {"url": url, "schema": request.getfixturevalue("schema")}


def submit(ledger: Ledger, servers: dict[str, LoopbackServer], prompts: list[str]) -> list[str]:
    """Submit through a gateway that then exits: tracking is left to the fleet."""
    with Gateway(
        fleet_worker.config(urls(servers)),
        store=ledger,
        registry=registry_with(ToyProvider, SecondToyProvider),
    ) as gw:
        return [gw.submit(model="dop-lite", prompt=p, image=CAT).id for p in prompts]


def test_a_worker_tracks_submitted_jobs_to_the_end_and_moves_refunded_failures_on(
    servers: dict[str, LoopbackServer], tmp_path: Path
) -> None:
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    prompts = [f"clip {i}" for i in range(8)] + ["emulate:failed", "emulate:failed"]
    ids = submit(ledger, servers, prompts)
    assert all(ledger.lease(job_id) is None for job_id in ids)  # submit released them
    lines: list[str] = []

    async def work() -> Any:
        async with fleet_worker.gateway(ledger, urls(servers)) as gw:
            worker = Worker(gw, concurrency=4, batch=3, exit_when_idle=True, idle_s=0.1)
            worker._on_line = lines.append
            return await asyncio.wait_for(worker.run(), 60)

    stats = asyncio.run(work())
    jobs = [job for job in (ledger.get(job_id) for job_id in ids) if job is not None]
    assert all(job.status is JobStatus.succeeded for job in jobs[:8])
    # "emulate:failed" fails everywhere: refunded at toy, moved on to toy2, failed there
    for job in jobs[8:]:
        assert [a.provider for a in job.attempts] == ["toy", "toy2"]
        assert job.status is JobStatus.failed
        assert job.aftercare is None
    assert stats.claimed >= 10
    assert stats.finished >= 10
    assert any("-> succeeded" in line for line in lines)
    assert any("failed over toy -> toy2" in line for line in lines)
    assert all(ledger.lease(job_id) is None for job_id in ids)
    ledger.close()


def test_a_claimed_job_with_aftercare_left_by_a_dead_process_is_carried_out(
    servers: dict[str, LoopbackServer], tmp_path: Path
) -> None:
    """A process recorded a refunded failure (marked for resubmit in the same write) and
    died before resubmitting: the worker that claims the job resubmits it."""
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    (job_id,) = submit(ledger, servers, ["emulate:failed"])
    with Gateway(
        fleet_worker.config(urls(servers)),
        store=ledger,
        registry=registry_with(ToyProvider, SecondToyProvider),
    ) as gw:
        deadline = time.monotonic() + 20
        job = gw.get(job_id)
        while job.aftercare is None and time.monotonic() < deadline:
            time.sleep(0.1)
            job = gw.status(job)  # records the failure and marks it; nothing more
    assert job.status is JobStatus.failed
    assert job.aftercare == "resubmit"

    async def work() -> Any:
        async with fleet_worker.gateway(ledger, urls(servers)) as gw:
            worker = Worker(gw, exit_when_idle=True, idle_s=0.1, on_line=lambda _l: None)
            return await asyncio.wait_for(worker.run(), 60)

    asyncio.run(work())
    done = ledger.get(job_id)
    assert done is not None
    assert [a.provider for a in done.attempts] == ["toy", "toy2"]
    assert done.aftercare is None
    assert done.status.is_terminal
    ledger.close()


@pytest.mark.slow
def test_sigterm_finishes_in_flight_releases_the_rest_and_another_worker_takes_them(
    slow_servers: dict[str, LoopbackServer], ledger_spec: dict[str, Any]
) -> None:
    ledger = fleet_worker.open_ledger(ledger_spec)
    ids = submit(ledger, slow_servers, [f"long {i}" for i in range(12)])
    args = [json.dumps(ledger_spec), json.dumps(urls(slow_servers))]
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), *args, "--concurrency", "5", "--batch", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            held = [job_id for job_id in ids if ledger.lease(job_id) is not None]
            if len(held) == 5:
                break
            time.sleep(0.1)
        assert len(held) == 5  # --concurrency: five at once, claimed two at a time
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "STOPPED claimed=5" in out, out
    assert "released=5" in out, out
    assert "claimed 2 jobs" in err, err
    assert "stopped; released 5 jobs" in err, err
    assert all(ledger.lease(job_id) is None for job_id in ids)  # at once, not on expiry
    # a second worker takes the released jobs at once (no lease to wait out)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), *args, "--concurrency", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while time.monotonic() - started < 30:
            if all(ledger.lease(job_id) is not None for job_id in ids):
                break
            time.sleep(0.1)
        took = time.monotonic() - started
        assert all(ledger.lease(job_id) is not None for job_id in ids)
        assert took < 10
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        ledger.close()


@pytest.mark.slow
def test_a_killed_workers_jobs_are_taken_over_within_lease_plus_one_poll(
    slow_servers: dict[str, LoopbackServer], ledger_spec: dict[str, Any]
) -> None:
    lease = 2.0
    ledger = fleet_worker.open_ledger(ledger_spec)
    ids = submit(ledger, slow_servers, [f"killed {i}" for i in range(6)])
    args = [json.dumps(ledger_spec), json.dumps(urls(slow_servers)), "--lease", str(lease)]
    first = subprocess.Popen(
        [sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            owners = {ledger.lease(job_id) for job_id in ids}
            if None not in owners:
                break
            time.sleep(0.05)
        first_owners = {lease.owner for lease in owners if lease is not None}
        assert len(first_owners) == 1
        assert None not in owners
        first.kill()  # SIGKILL: nothing is released
        first.wait()
        killed_at = time.monotonic()
        second = subprocess.Popen(
            [sys.executable, str(WORKER), *args, "--batch", "50"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            while time.monotonic() - killed_at < 30:
                now = [ledger.lease(job_id) for job_id in ids]
                if all(x is not None and x.owner not in first_owners for x in now):
                    break
                time.sleep(0.05)
            took = time.monotonic() - killed_at
            assert all(x is not None and x.owner not in first_owners for x in now)
            # lease + one idle claim interval (0.2 s) + the new process's start-up
            assert took < lease + 0.2 + 4.0, took
        finally:
            second.send_signal(signal.SIGTERM)
            second.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        ledger.close()


@pytest.fixture
def queued_servers() -> Iterator[dict[str, LoopbackServer]]:
    found = start_servers(Timing(queue_s=3.0, run_s=0.5))
    yield found
    for server in found.values():
        server.stop()


def test_a_webhook_recorded_by_another_process_wakes_the_worker_on_postgres(
    postgres_url: str, schema: str, queued_servers: dict[str, LoopbackServer]
) -> None:
    """The worker polls rarely here (30 s floor) and reads the job while it is queued; it
    finishes at the emulator 3.5 s after submit; a receiver with its own ledger connection
    confirms the webhook, finds the job leased, and NOTIFYs: the worker reads it at once
    and the job ends within seconds, not at its next read 30 s on."""
    from videogw.ledger.postgres import PostgresLedger

    servers = queued_servers
    worker_ledger = PostgresLedger(postgres_url, schema=schema, pool_size=2)
    receiver_ledger = PostgresLedger(postgres_url, schema=schema, pool_size=2)
    submitted = time.monotonic()
    (job_id,) = submit(receiver_ledger, servers, ["hooked"])

    async def scenario() -> tuple[Any, float]:
        async with fleet_worker.gateway(
            worker_ledger, urls(servers), floor_s=30.0, cap_s=60.0
        ) as gw:
            worker = Worker(gw, concurrency=10, batch=10, idle_s=0.2)
            running = asyncio.ensure_future(worker.run())
            while worker.stats.reads < 1:
                await asyncio.sleep(0.05)
            job = receiver_ledger.get(job_id)
            assert job is not None
            assert not job.status.is_terminal  # read while queued: next read in 30 s
            # the job has succeeded at the emulator by then
            await asyncio.sleep(max(0.0, submitted + 4.0 - time.monotonic()))
            job = receiver_ledger.get(job_id)
            assert job is not None
            assert not job.status.is_terminal
            receiver = fleet_worker.gateway(receiver_ledger, urls(servers))
            started = time.monotonic()
            confirmed = await receiver.confirm_webhook(job, StatusUpdate(JobStatus.succeeded))
            assert confirmed is None  # leased by the worker: left to it, and it was told
            while not (receiver_ledger.get(job_id) or job).status.is_terminal:
                await asyncio.sleep(0.05)
                assert time.monotonic() - started < 10
            took = time.monotonic() - started
            await receiver.aclose()
            worker.stop()
            return await running, took

    stats, took = asyncio.run(scenario())
    assert stats.woken == 1
    assert took < 5
    done = receiver_ledger.get(job_id)
    assert done is not None
    assert done.status is JobStatus.succeeded
    worker_ledger.close()
    receiver_ledger.close()


@pytest.mark.slow
def test_two_processes_share_a_providers_max_in_flight(
    slow_servers: dict[str, LoopbackServer], ledger_spec: dict[str, Any]
) -> None:
    """toy allows 5 jobs at once per account: two processes racing 10 submits each put
    exactly 5 there (the jobs run 30 s, so none ends meanwhile) and the rest on toy2."""
    args = [json.dumps(ledger_spec), json.dumps(urls(slow_servers)), "--max-in-flight", "5"]
    start_at = time.time() + 4.0
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), *args, "--submit", "10", "--start-at", str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    taken: dict[str, int] = {}
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        line = next(x for x in out.splitlines() if x.startswith("TAKEN "))
        for name, count in json.loads(line[len("TAKEN ") :]).items():
            taken[name] = taken.get(name, 0) + count
    assert taken == {"toy": 5, "toy2": 15}
    ledger = fleet_worker.open_ledger(ledger_spec)
    try:
        assert ledger.in_flight("toy") == 5
        assert ledger.in_flight("toy2") == 15
    finally:
        ledger.close()
    assert len(slow_servers["toy"].app.jobs) == 5  # what the provider itself saw


def test_the_worker_command_is_registered_with_its_options() -> None:
    from typer.testing import CliRunner

    from videogw.cli import app

    result = CliRunner().invoke(app, ["worker", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--concurrency", "--batch", "--lease", "--exit-when-idle"):
        assert option in result.output
