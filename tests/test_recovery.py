"""Crash recovery: jobs on record survive the process that submitted them; `resume()` in a
new process finishes tracking them without ever submitting anything twice, and leaves
unknown submits for reconciliation."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import recovery_worker
from routing_kit import Kit, request
from toy import SecondToyProvider, ToyProvider
from videogw import Gateway, JobStatus
from videogw.emulator import (
    EmuRequest,
    EmuResponse,
    FakeClock,
    FaultProfile,
    LoopbackServer,
    Timing,
)
from videogw.ledger import SQLiteLedger
from videogw.testing import maybe_await

WORKER = Path(recovery_worker.__file__)
JOBS = 50


@pytest.fixture
def servers() -> Iterator[dict[str, LoopbackServer]]:
    # started by the test process, so they outlive the worker we kill; jobs take 6.5 s so
    # that none has finished when the worker is killed, even when a loaded machine makes
    # its 50 submits slow (with 3.5 s jobs the first could finish first: "killed too late")
    timing = Timing(queue_s=4.0, run_s=2.5)
    found = {
        cls.name: LoopbackServer(cls.emulator(timing=timing)).start()
        for cls in (ToyProvider, SecondToyProvider)
    }
    yield found
    for server in found.values():
        server.stop()


@pytest.mark.slow
def test_resume_after_sigkill_finishes_every_job_without_a_duplicate_submit(
    servers: dict[str, LoopbackServer], tmp_path: Path
) -> None:
    ledger_path = tmp_path / "ledger.sqlite3"
    urls = {name: server.base_url for name, server in servers.items()}
    started = time.monotonic()
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), str(ledger_path), json.dumps(urls), str(JOBS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line.strip() == f"SUBMITTED {JOBS}", worker.stderr.read() if worker.stderr else ""
        # mid-flight: the worker is polling and no job has finished yet
        while sum(s.app.count("status") for s in servers.values()) < 3:
            assert time.monotonic() - started < 15, "the worker never polled"
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == -signal.SIGKILL

    before = SQLiteLedger(ledger_path)
    on_record = {job.id: job for job in before.find()}
    before.close()
    assert len(on_record) == JOBS
    assert all(not job.status.is_terminal for job in on_record.values()), "killed too late"
    assert {job.provider for job in on_record.values()} == {"toy", "toy2"}

    config = recovery_worker.config(str(ledger_path), urls)
    with Gateway(config, registry=recovery_worker.registry()) as gw:
        # the dead worker's leases have not expired yet: nothing is taken from it
        early = gw.resume(timeout=0)
        assert early.jobs == []
        assert len(early.held) == JOBS
        time.sleep(recovery_worker.LEASE_S)
        report = gw.resume(timeout=30)
    assert report.unknown == []
    assert report.held == []
    assert len(report.jobs) == JOBS
    for job in report.jobs:
        assert job.status is JobStatus.succeeded, job
        assert job.provider_job_id == on_record[job.id].provider_job_id
        assert [a.provider_job_id for a in job.attempts] == [job.provider_job_id]
    emulators = [server.app for server in servers.values()]
    assert sum(e.count("submit") for e in emulators) == JOBS  # nothing was bought twice
    assert sum(len(e.jobs) for e in emulators) == JOBS
    after = SQLiteLedger(ledger_path)
    assert all(job.status is JobStatus.succeeded for job in after.find())
    after.close()
    assert time.monotonic() - started < 20


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sync", "async"])
async def kit(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Kit]:
    kit = Kit(request.param == "sync", clock)
    yield kit
    await kit.close()


async def test_resume_tracks_open_jobs_and_lists_unknown_submits_untouched(
    kit: Kit, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.sqlite3"
    route = {"candidates": ["toy", "toy2"]}
    first = kit.gateway(route, ledger={"path": str(path)})
    jobs = [await maybe_await(first.submit(request(prompt=f"n{i}"))) for i in range(20)]
    kit.emulator("toy").faults = FaultProfile.parse("submit:drop_after_accept*1")
    lost = await maybe_await(first.submit(request()))
    assert lost.status is JobStatus.unknown
    await maybe_await(first.aclose() if hasattr(first, "aclose") else first.close())

    second = kit.gateway(route, ledger={"path": str(path)})
    report = await maybe_await(second.resume())
    assert [j.id for j in report.unknown] == [lost.id]
    assert sorted(j.id for j in report.jobs) == sorted(j.id for j in jobs)
    assert all(j.status is JobStatus.succeeded for j in report.jobs)
    assert kit.emulator("toy").count("submit") == 21  # each job once; the lost one not again
    assert second.get(lost.id).status is JobStatus.unknown  # left for reconciliation


async def test_retry_failed_after_a_restart_uses_the_stored_request(
    kit: Kit, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.sqlite3"
    route = {"candidates": ["toy", "toy2"], "retry_failed": True}
    kit.emulator("toy").faults = FaultProfile.parse("failed")
    first = kit.gateway(route, ledger={"path": str(path)})
    job = await maybe_await(first.submit(request(prompt="keep this prompt", seed=99)))
    await maybe_await(first.aclose() if hasattr(first, "aclose") else first.close())

    bodies: list[dict[str, object]] = []
    route_of_submit = kit.emulator("toy2")._routes[0]
    original = route_of_submit.handler

    async def spy(req: EmuRequest) -> EmuResponse:
        bodies.append(req.json())
        return await original(req)

    route_of_submit.handler = spy
    second = kit.gateway(route, ledger={"path": str(path)})
    (done,) = (await maybe_await(second.resume())).jobs
    assert (done.id, done.status, done.provider) == (job.id, JobStatus.succeeded, "toy2")
    assert [(b["prompt"], b["seed"]) for b in bodies] == [("keep this prompt", 99)]


def test_a_crash_during_a_resubmit_leaves_the_job_listed_as_unknown(
    clock: FakeClock, tmp_path: Path
) -> None:
    kit = Kit(True, clock)
    kit.emulator("toy").faults = FaultProfile.parse("failed")
    kit.emulator("toy2").faults = FaultProfile.parse("submit:drop*1")  # dies mid-submit
    gw = kit.gateway({"candidates": ["toy", "toy2"], "retry_failed": True})
    job = gw.run(request())
    assert job.status is JobStatus.unknown  # the resubmit may have created a job at toy2
    assert job.provider_job_id is None
    assert [j.id for j in gw.unknown_submits()] == [job.id]
    assert [a.outcome.value for a in job.attempts] == ["accepted", "unknown"]
    asyncio.run(kit.close())
