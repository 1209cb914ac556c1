"""Durable writes per second to the SQLite ledger: money writes and status writes.

A write is one change of the ledger contract: `create` (the job, its request and its
write-ahead attempt with its budget hold, before the submit leaves) or `update` (a
compare-and-swap on the version). *Money writes* are the two a submit makes (the write-ahead
`create`, then the acceptance); *status writes* are the two a tracked job makes later
(running, succeeded). The job versions are built beforehand so only the writes are timed.
Three sides, alternating in every round:

- ``grouped FULL`` (the default path): ``synchronous=FULL`` (an fsync per commit, so a
  commit survives a power cut) under `AsyncEngine`'s group commit: 64 operations at once,
  each one write, and every write made within one event-loop tick (and the next) shares
  one commit;
- ``single FULL``: the same file settings, one commit per write (the sync `Gateway`);
- ``single NORMAL``: no fsync per commit (survives a killed process, not a power cut).

The default's durability is checked too: a child process writes jobs through the grouped
path and SIGKILLs itself in the middle; every job it was told was written must be in the
file.

    python benchmarks/ledger.py [--rounds N] [--jobs-per-round N] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from benchlib import median, python_line, result

from videogw import Accepted, GenerationRequest, Job, JobStatus, StatusUpdate
from videogw.engine import AsyncEngine, Op
from videogw.ledger import SQLiteLedger
from videogw.lifecycle import accept, apply_update, begin_attempt, new_job
from videogw.models import CostEstimate, ModelSpec, Output, Task
from videogw.provider import Prepared, ProviderOptions

MONEY_GOAL = 5000.0  # durable (power-loss) money writes per second
STATUS_GOAL = 10000.0  # durable status writes per second
CONCURRENCY = 64
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


def write_op(ledger: SQLiteLedger, request: GenerationRequest, job: Job) -> Op[None]:
    """One write as a gateway operation (the engine commits it with its tick's group)."""
    write(ledger, request, job)
    return
    yield  # a generator: the engine drives it


Version = tuple[GenerationRequest, list[Job]]
Versions = list[Version]
MONEY, STATUS = (0, 1), (2, 3)  # which of the four states each phase writes


def single_round(ledger: SQLiteLedger, versions: Versions, steps: tuple[int, ...]) -> float:
    """Each write its own transaction, in the order a gateway would; writes per second."""
    start = time.perf_counter()
    for step in steps:  # all write-aheads, then all accepts, ...
        for request, states in versions:
            write(ledger, request, states[step])
    return len(steps) * len(versions) / (time.perf_counter() - start)


async def grouped_round(
    engine: AsyncEngine,
    ledger: SQLiteLedger,
    versions: Versions,
    steps: tuple[int, ...],
    concurrency: int,
) -> float:
    """`concurrency` operations at once through the engine's group commit."""
    start = time.perf_counter()
    for step in steps:
        todo = iter(versions)

        async def worker(step: int = step, todo: Iterator[Version] = todo) -> None:
            for request, states in todo:
                await engine.run(write_op(ledger, request, states[step]))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(steps) * len(versions) / (time.perf_counter() - start)


def _writer(path: str, jobs: int, conn: object) -> None:  # pragma: no cover - child
    async def run() -> None:
        ledger = SQLiteLedger(path)  # synchronous=FULL, the default
        engine = AsyncEngine(ledger=ledger)
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(n: int) -> None:
            async with sem:
                request, states = lifecycle(n)
                for job in states:
                    await engine.run(write_op(ledger, request, job))
                conn.send(n)  # type: ignore[attr-defined]

        await asyncio.gather(*(one(n) for n in range(jobs)))
        time.sleep(60)  # not reached in the check: it is killed long before

    asyncio.run(run())


def durability_check(tmp: Path, jobs: int = 20000, kill_after: int = 500) -> tuple[int, int]:
    """SIGKILL a grouped writer mid-flight: how many jobs it had reported written (each
    report follows its last commit), and how many of those the file holds as finished."""
    path = tmp / "killed.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_writer, args=(str(path), jobs, child))
    process.start()
    reported: set[int] = set()
    while len(reported) < kill_after and parent.poll(30):
        reported.add(parent.recv())
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)  # mid-way through other jobs' writes
    process.join()
    while parent.poll(0):  # reports sent before the kill landed
        reported.add(parent.recv())
    assert process.exitcode == -signal.SIGKILL, process.exitcode
    ledger = SQLiteLedger(path)
    done = set()
    for job in ledger.find(statuses=[JobStatus.succeeded]):
        stored = ledger.load_request(job.id)
        if stored is not None:
            done.add(stored.prompt)
    ledger.close()
    return len(reported), len({f"job {n}" for n in reported} & done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--jobs-per-round", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args()
    print(python_line())
    sides = ("grouped FULL", "single FULL", "single NORMAL")
    rates: dict[tuple[str, str], list[float]] = {
        (side, phase): [] for side in sides for phase in ("money", "status")
    }
    with tempfile.TemporaryDirectory() as tmp:
        ledgers = {
            side: SQLiteLedger(
                Path(tmp) / f"{side.replace(' ', '-')}.sqlite3",
                synchronous="NORMAL" if side.endswith("NORMAL") else "FULL",
            )
            for side in sides
        }
        engine = AsyncEngine(ledger=ledgers["grouped FULL"])
        assert engine.group_commit is not None
        loop = asyncio.new_event_loop()
        writes = 0
        for n in range(args.rounds):
            first = n * args.jobs_per_round
            versions = [lifecycle(first + i) for i in range(args.jobs_per_round)]
            order = sides[n % 3 :] + sides[: n % 3]  # rotate who goes first
            for side in order:
                for phase, steps in (("money", MONEY), ("status", STATUS)):
                    ledger = ledgers[side]
                    if side == "grouped FULL":
                        rate = loop.run_until_complete(
                            grouped_round(engine, ledger, versions, steps, args.concurrency)
                        )
                    else:
                        rate = single_round(ledger, versions, steps)
                    rates[(side, phase)].append(rate)
            writes += 4 * len(versions)
        commits = engine.group_commit.commits
        loop.close()
        for side, ledger in ledgers.items():
            stored = len(ledger.find(statuses=[JobStatus.succeeded]))
            assert stored == args.rounds * args.jobs_per_round, (side, stored)
            ledger.close()
        reported, survived = durability_check(Path(tmp))
    for (side, phase), values in rates.items():
        print(
            f"{side:<13} {phase:<6} writes: median {median(values):,.0f}/s "
            f"(min {min(values):,.0f}, max {max(values):,.0f}) over {args.rounds} rounds"
        )
    print(
        f"group commit: {writes:,} writes in {commits:,} commits "
        f"({writes / max(commits, 1):.1f} writes per commit, {args.concurrency} at once)"
    )
    print(
        f"durability (grouped FULL): a writer SIGKILLed mid-flight had reported {reported} "
        f"jobs written; the file holds {survived} of them finished"
    )
    money = median(rates[("grouped FULL", "money")])
    status = median(rates[("grouped FULL", "status")])
    result(
        "ledger",
        money,
        f">= {MONEY_GOAL:,.0f} money writes/s and >= {STATUS_GOAL:,.0f} status writes/s, "
        "power-loss durable",
        "durable money writes per second (synchronous=FULL, group commit: the default)",
        money >= MONEY_GOAL and status >= STATUS_GOAL and survived == reported,
        status_writes_per_s=round(status, 1),
        single_full_money_per_s=round(median(rates[("single FULL", "money")]), 1),
        single_full_status_per_s=round(median(rates[("single FULL", "status")]), 1),
        single_normal_money_per_s=round(median(rates[("single NORMAL", "money")]), 1),
        single_normal_status_per_s=round(median(rates[("single NORMAL", "status")]), 1),
        writes_per_commit=round(writes / max(commits, 1), 1),
        killed_writer_jobs=reported,
        survived=survived,
    )


if __name__ == "__main__":
    main()
