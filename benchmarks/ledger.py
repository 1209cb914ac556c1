"""Durable state writes per second to the SQLite ledger.

A state write is one committed transaction of the ledger contract: `create` (the job, its
request and its write-ahead attempt, before the submit leaves) or `update` (a
compare-and-swap on the version: accepted/queued, running, succeeded). The states are built
beforehand so only the writes are timed. Two ledgers, side by side in one run, alternating
rounds:

- ``synchronous=NORMAL`` (the default): WAL, every commit is written to the WAL before
  the write returns, so a killed process (SIGKILL, OOM) loses nothing; fsync at checkpoints;
- ``synchronous=FULL``: also fsyncs every commit, so it survives power loss.

The default's durability is checked too: a child process saves jobs and SIGKILLs itself
in the middle; every save it finished must be in the file.

    python benchmarks/ledger.py [--rounds N] [--jobs-per-round N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from benchlib import median, python_line, result

from videogw import Accepted, GenerationRequest, Job, JobStatus, StatusUpdate
from videogw.ledger import SQLiteLedger
from videogw.lifecycle import accept, apply_update, begin_attempt, new_job
from videogw.models import CostEstimate, ModelSpec, Output, Task
from videogw.provider import Prepared, ProviderOptions

GOAL = 2000.0
ESTIMATE = CostEstimate(
    amount=Decimal("0.135"), usd=Decimal("0.135"), basis="bench", source="benchmarks/ledger.py"
)
SPEC = ModelSpec(provider_model="dop-lite", task=Task.image_to_video)


def lifecycle(n: int) -> tuple[GenerationRequest, list[Job]]:
    """The request and the four versions of one job that get written (each at the version
    the ledger will hold before it, so every update's compare-and-swap succeeds)."""
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
    request = GenerationRequest(
        model="dop-lite", prompt=f"job {n}", image=f"https://x.test/{n}.jpg"
    )
    prepared = Prepared(request, "pixazo", "dop-lite", SPEC, ProviderOptions())
    intent = new_job(request, model="dop-lite", task=Task.image_to_video, now=now)
    sending = begin_attempt(intent, prepared, started=now, now=now, estimate=ESTIMATE)
    queued = accept(
        sending,
        0,
        prepared,
        Accepted(f"req-{n}", JobStatus.queued, "QUEUED", {"polling_url": f"https://x.test/{n}"}),
        now=now,
    )
    running = apply_update(
        queued, StatusUpdate(JobStatus.running, "PROCESSING"), now=now + timedelta(seconds=20)
    )
    done = apply_update(
        running,
        StatusUpdate(
            JobStatus.succeeded,
            "COMPLETED",
            outputs=(Output(url=f"https://x.test/{n}.mp4", media_type="video/mp4"),),
            actual_cost=Decimal("0.135"),
            cost_currency="USD",
            charged=True,
        ),
        now=now + timedelta(seconds=110),
    )
    states = [sending, queued, running, done]
    return request, [job.model_copy(update={"version": v}) for v, job in enumerate(states)]


def write(ledger: SQLiteLedger, request: GenerationRequest, job: Job) -> None:
    if job.version == 0:
        ledger.create(job, request)
    else:
        ledger.update(job)


def write_round(ledger: SQLiteLedger, versions: list[tuple[GenerationRequest, list[Job]]]) -> float:
    """Write every state of every job, in the order a gateway would; writes per second."""
    writes = 0
    start = time.perf_counter()
    for step in range(4):  # all write-aheads, then all accepts, ...
        for request, states in versions:
            write(ledger, request, states[step])
            writes += 1
    return writes / (time.perf_counter() - start)


def _writer(path: str, jobs: int, conn: object) -> None:  # pragma: no cover - child
    ledger = SQLiteLedger(path)
    for n in range(jobs):
        request, states = lifecycle(n)
        for job in states:
            write(ledger, request, job)
        conn.send(n)  # type: ignore[attr-defined]
    time.sleep(60)  # not reached in the check: it is killed long before


def durability_check(tmp: Path, jobs: int = 3000, kill_after: int = 500) -> tuple[int, int]:
    """SIGKILL a writer mid-flight: the jobs it had finished saving, and how many of those
    the file holds as finished."""
    path = tmp / "killed.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_writer, args=(str(path), jobs, child))
    process.start()
    finished = -1
    while finished + 1 < kill_after and parent.poll(30):
        finished = parent.recv()
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)  # mid-way through the next job's saves
    process.join()
    while parent.poll(0):  # reports sent before the kill landed
        finished = parent.recv()
    assert process.exitcode == -signal.SIGKILL, process.exitcode
    ledger = SQLiteLedger(path)
    done = len(ledger.find(statuses=[JobStatus.succeeded]))
    ledger.close()
    return finished + 1, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--jobs-per-round", type=int, default=500)
    args = parser.parse_args()
    print(python_line())
    rates: dict[str, list[float]] = {"NORMAL": [], "FULL": []}
    with tempfile.TemporaryDirectory() as tmp:
        ledgers = {
            mode: SQLiteLedger(Path(tmp) / f"{mode.lower()}.sqlite3", synchronous=mode)  # type: ignore[arg-type]
            for mode in rates
        }
        for n in range(args.rounds):
            first = n * args.jobs_per_round
            versions = [lifecycle(first + i) for i in range(args.jobs_per_round)]
            for mode in ("NORMAL", "FULL") if n % 2 == 0 else ("FULL", "NORMAL"):
                rates[mode].append(write_round(ledgers[mode], versions))
        for mode, ledger in ledgers.items():
            stored = len(ledger.find(statuses=[JobStatus.succeeded]))
            assert stored == args.rounds * args.jobs_per_round, (mode, stored)
            ledger.close()
        finished, survived = durability_check(Path(tmp))
    writes = 4 * args.rounds * args.jobs_per_round
    for mode, values in rates.items():
        print(
            f"synchronous={mode:<6}: median {median(values):,.0f} state writes/s "
            f"(min {min(values):,.0f}, max {max(values):,.0f}) over {args.rounds} rounds, "
            f"{writes:,} writes"
        )
    print(
        f"durability (NORMAL): a writer SIGKILLed mid-flight had finished {finished} jobs; "
        f"the file holds {survived} finished jobs"
    )
    value = median(rates["NORMAL"])
    result(
        "ledger",
        value,
        f">= {GOAL:,.0f} writes/s, durable",
        "state writes per second (synchronous=NORMAL, the default)",
        value >= GOAL and survived >= finished,
        full_writes_per_s=round(median(rates["FULL"]), 1),
        killed_writer_jobs=finished,
        survived=survived,
    )


if __name__ == "__main__":
    main()
