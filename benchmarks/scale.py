"""10,000 jobs submitted and tracked to completion by one process.

One `AsyncGateway` (default settings: 16 connections to the provider) submits every job to
a Higgsfield emulator, then tracks them all with `wait_all` (the shared poller, the path
`resume()` takes after a restart) until every one has finished. The emulator is served by
uvicorn on loopback in its own process, so its CPU and memory do not count against the
client (on 2 cores: one each). Jobs are written to a temporary SQLite ledger (the default,
durable store; ``--store memory`` keeps them in a dict instead). The provider knows the
expected job time (``expected_job_s``, as the ledger's observed p50 would tell it).

Figures: wall time from the first submit to the last completion seen, over the emulated
job time (goal <= 1.5); peak memory per job = growth of the process's peak RSS (VmHWM)
from just before the first submit, over the number of jobs (goal <= 10 KiB); status
requests per second while tracking (counted by the emulator).

    python benchmarks/scale.py [--jobs 10000] [--job-seconds 120] [--store sqlite|memory]
                               [--max-concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import EmulatorProcess, median, pct, python_line, result

from videogw import AsyncGateway, Config, Job, JobStatus
from videogw.events import Finished, JobEvent
from videogw.ledger import SQLiteLedger
from videogw.plugins import get_registry
from videogw.store import JobStore, MemoryStore
from videogw_higgsfield import HiggsfieldProvider

WALL_GOAL = 1.5
MEMORY_GOAL_KIB = 10.0
SUBMITTERS = 16
REQUEST = {
    "model": "higgsfield:dop-lite",
    "prompt": "a cat turns its head",
    "image": "https://example.com/cat.jpg",
    "motion": {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.6},
}


def rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def cpu_s() -> float:
    """CPU seconds used by this process (the client; the emulator is another process)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reset_peak() -> None:
    """Make VmHWM start again from the current RSS (Linux >= 4.0)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


async def run(
    base_url: str, jobs: int, job_s: float, store: JobStore, connections: int | None
) -> dict[str, Any]:
    settings: dict[str, Any] = HiggsfieldProvider.emulator_settings(base_url)
    settings["expected_job_s"] = job_s
    if connections is not None:
        settings["max_concurrency"] = connections
    config = Config.model_validate({"providers": {"higgsfield": settings}})
    gateway = AsyncGateway(config, registry=get_registry(), store=store)
    seen: dict[str, float] = {}

    def on_event(event: JobEvent) -> None:
        if isinstance(event, Finished) and event.job.provider_job_id:
            seen.setdefault(event.job.provider_job_id, time.time())

    gateway.on_event(on_event)
    try:
        warm = await gateway.submit(REQUEST)  # connections, imports, caches
        await gateway.status(warm)
        gc.collect()
        reset_peak()
        base_rss = rss_kib()
        submitted: list[Job] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(jobs):
            queue.put_nowait(n)

        async def submitter() -> None:
            while not queue.empty():
                queue.get_nowait()
                submitted.append(await gateway.submit(REQUEST))

        cpu_start = cpu_s()
        started = time.monotonic()
        await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
        submit_s = time.monotonic() - started
        submit_cpu = cpu_s() - cpu_start
        print(
            f"submitted {len(submitted)} jobs in {submit_s:.1f} s ({jobs / submit_s:.0f}/s), "
            f"client CPU {submit_cpu:.1f} s ({1000 * submit_cpu / jobs:.2f} ms per submit)"
        )
        tracking = time.monotonic()
        finished = await gateway.wait_all(submitted)
        ended = time.monotonic()
        track_cpu = cpu_s() - cpu_start - submit_cpu
        peak_rss = rss_kib("VmHWM")
        states: dict[str, int] = {}
        for job in finished:
            states[job.status.value] = states.get(job.status.value, 0) + 1
        assert len(finished) == jobs, f"{len(finished)} jobs came back of {jobs}"
        assert states == {JobStatus.succeeded.value: jobs}, states
        return {
            "wall": ended - started,
            "submit": submit_s,
            "tracking": ended - tracking,
            "base_rss": base_rss,
            "peak_rss": peak_rss,
            "states": states,
            "submit_cpu": submit_cpu,
            "track_cpu": track_cpu,
            "seen": seen,
        }
    finally:
        await gateway.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--job-seconds", type=float, default=120.0)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument(
        "--max-concurrency", type=int, default=None, help="connections (default: 16)"
    )
    args = parser.parse_args()
    job_s = args.job_seconds
    queue_s = job_s / 6
    print(python_line())
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess("higgsfield", queue_s=queue_s, run_s=job_s - queue_s) as emulator,
    ):
        store: JobStore = (
            SQLiteLedger(Path(tmp) / "ledger.sqlite3") if args.store == "sqlite" else MemoryStore()
        )
        print(
            f"emulator: higgsfield on {emulator.base_url} (own process); {args.jobs} jobs of "
            f"{job_s:g} s; store: {args.store}"
        )
        found = asyncio.run(run(emulator.base_url, args.jobs, job_s, store, args.max_concurrency))
        counts = emulator.counts()["counts"]
        finish = emulator.control("jobs")
    lags = [when - finish[job_id] for job_id, when in found["seen"].items()]
    reads = counts.get("status", 0) - 1  # the warm-up read
    ratio = found["wall"] / job_s
    per_job_kib = (found["peak_rss"] - found["base_rss"]) / args.jobs
    rate = reads / found["tracking"]
    print(
        f"wall {found['wall']:.1f} s (submit {found['submit']:.1f} s, then tracking "
        f"{found['tracking']:.1f} s) = {ratio:.2f} x the {job_s:g} s job time (goal <= {WALL_GOAL})"
    )
    print(
        f"memory: RSS {found['base_rss'] / 1024:.1f} MiB before, peak "
        f"{found['peak_rss'] / 1024:.1f} MiB = {per_job_kib:.2f} KiB per job "
        f"(goal <= {MEMORY_GOAL_KIB:g})"
    )
    print(
        f"status reads: {reads} ({reads / args.jobs:.2f} per job), {rate:.0f} per second "
        f"while tracking; submits seen by the emulator: {counts.get('submit', 0) - 1}"
    )
    print(
        f"completion seen after the emulated finish: median {median(lags):.2f} s, "
        f"p99 {pct(lags, 0.99):.2f} s, max {max(lags):.2f} s"
    )
    print(
        f"client CPU while tracking: {found['track_cpu']:.1f} s "
        f"({1000 * found['track_cpu'] / max(reads, 1):.2f} ms per status read, all included)"
    )
    passed = ratio <= WALL_GOAL and per_job_kib <= MEMORY_GOAL_KIB
    result(
        "scale",
        ratio,
        f"<= {WALL_GOAL} x job time, <= {MEMORY_GOAL_KIB:g} KiB per job",
        "x emulated job time (wall)",
        passed,
        jobs=args.jobs,
        job_seconds=job_s,
        kib_per_job=round(per_job_kib, 2),
        status_reads_per_s=round(rate, 1),
        reads_per_job=round(reads / args.jobs, 2),
        submit_s=round(found["submit"], 1),
        lag_max_s=round(max(lags), 2),
        store=args.store,
    )


if __name__ == "__main__":
    main()
