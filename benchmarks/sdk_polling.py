"""HTTP status requests per job: videogw's poller against the official Higgsfield SDK.

The same kind of emulated Higgsfield DoP job (default 20 jobs per side, each 30 s: 5 s
queued + 25 s running) is tracked side by side, in one run, on one Higgsfield emulator
served by uvicorn on loopback in its own process:

- SDK: `higgsfield_client.AsyncClient(base_url=...)` with ``HF_KEY`` set; each job is
  submitted and followed with `poll_request_status()` at the SDK's default 0.5 s delay
  (its minimum: no extra `get()`; the last status answer already holds the video URL);
- videogw: `AsyncGateway.submit` then `AsyncGateway.wait_all` (the shared poller), with
  the expected duration known (``expected_job_s = 30``, which is what the ledger's observed
  p50 provides after three jobs of a model, and what `videogw.emulator.emulate` sets);
- videogw cold (reported, not judged): no expected duration but the model's typical time
  (150 s for dop-lite), as on the very first jobs with an empty ledger.

Submissions alternate SDK, videogw, cold, ... Requests are counted by the emulator, per
job (``GET /requests/{id}/status``). Lag = when a side saw the job finished minus the
emulated finish time (both on this machine's clock).

    python benchmarks/sdk_polling.py [--jobs 20] [--job-seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

import higgsfield_client
from benchlib import EmulatorProcess, median, python_line, result

from videogw import AsyncGateway, Config, Job
from videogw.events import Finished, JobEvent
from videogw.plugins import get_registry
from videogw.store import MemoryStore
from videogw_higgsfield import HiggsfieldProvider

RATIO_GOAL = 0.2
LAG_GOAL = 0.10  # of the job time
MOTION = {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.6}
IMAGE = "https://example.com/cat.jpg"


def gateway(base_url: str, expected: float | None) -> AsyncGateway:
    settings: dict[str, Any] = HiggsfieldProvider.emulator_settings(base_url)
    if expected is not None:
        settings["expected_job_s"] = expected
    config = Config.model_validate({"providers": {"higgsfield": settings}})
    return AsyncGateway(config, registry=get_registry(), store=MemoryStore())


async def track_sdk(client: Any, controller: Any, seen: dict[str, float]) -> None:
    async for status in controller.poll_request_status():  # the SDK's default 0.5 s
        if isinstance(status, higgsfield_client.DONE_STATUSES):
            seen[controller.request_id] = time.time()
            assert isinstance(status, higgsfield_client.Completed), status


def watcher(seen: dict[str, float]) -> Any:
    def on_event(event: JobEvent) -> None:
        if isinstance(event, Finished) and event.job.provider_job_id:
            seen.setdefault(event.job.provider_job_id, time.time())

    return on_event


async def run(base_url: str, jobs: int, job_s: float) -> dict[str, Any]:
    os.environ["HF_KEY"] = "sdk-key-id:sdk-key-secret"
    sdk = higgsfield_client.AsyncClient(base_url=base_url, timeout=30)
    warm, cold = gateway(base_url, job_s), gateway(base_url, None)
    seen: dict[str, dict[str, float]] = {"sdk": {}, "videogw": {}, "cold": {}}
    warm.on_event(watcher(seen["videogw"]))
    cold.on_event(watcher(seen["cold"]))
    sides: dict[str, list[Any]] = {"sdk": [], "videogw": [], "cold": []}
    prompt = "a cat turns its head"
    arguments: dict[str, Any] = {"prompt": prompt, "image_url": IMAGE, "motions": [MOTION]}
    request: dict[str, Any] = {
        "model": "higgsfield:dop-lite",
        "prompt": prompt,
        "image": IMAGE,
        "motion": MOTION,
    }
    try:
        for n in range(jobs):
            order = ("sdk", "videogw", "cold")
            for side in order[n % 3 :] + order[: n % 3]:
                if side == "sdk":
                    sides[side].append(await sdk.submit("higgsfield-ai/dop/lite", arguments))
                else:
                    gw = warm if side == "videogw" else cold
                    sides[side].append(await gw.submit(request))
        started = time.monotonic()
        done: list[Any] = await asyncio.gather(
            *(track_sdk(sdk, c, seen["sdk"]) for c in sides["sdk"]),
            warm.wait_all(sides["videogw"]),
            cold.wait_all(sides["cold"]),
        )
        for finished in done[-2:]:
            assert all(isinstance(j, Job) and j.status.value == "succeeded" for j in finished)
        print(f"tracking took {time.monotonic() - started:.1f} s of wall time")
    finally:
        await warm.aclose()
        await cold.aclose()
    ids = {
        "sdk": [c.request_id for c in sides["sdk"]],
        "videogw": [j.provider_job_id for j in sides["videogw"]],
        "cold": [j.provider_job_id for j in sides["cold"]],
    }
    return {"seen": seen, "ids": ids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--job-seconds", type=float, default=30.0)
    args = parser.parse_args()
    job_s = args.job_seconds
    queue_s = job_s / 6
    print(python_line())
    with EmulatorProcess(
        "higgsfield", queue_s=queue_s, run_s=job_s - queue_s, per_path=True
    ) as emulator:
        print(
            f"emulator: higgsfield on {emulator.base_url} (own process); "
            f"{args.jobs} jobs per side of {job_s:g} s ({queue_s:g} s queued)"
        )
        found = asyncio.run(run(emulator.base_url, args.jobs, job_s))
        finish = emulator.control("jobs")
        paths = emulator.control("paths")
    figures: dict[str, dict[str, float]] = {}
    for side, ids in found["ids"].items():
        reads = [paths.get(f"GET /requests/{i}/status", 0) for i in ids]
        lags = [found["seen"][side][i] - finish[i] for i in ids]
        figures[side] = {
            "reads": statistics.mean(reads),
            "lag_median": median(lags),
            "lag_max": max(lags),
        }
        label = {"sdk": "SDK (0.5 s)", "videogw": "videogw", "cold": "videogw cold"}[side]
        print(
            f"{label:>13}: {statistics.mean(reads):6.1f} status requests per job "
            f"(min {min(reads)}, max {max(reads)}); completion seen "
            f"{median(lags):.2f} s after the emulated finish (median), max {max(lags):.2f} s "
            f"= {100 * max(lags) / job_s:.1f} % of the job time"
        )
    ratio = figures["videogw"]["reads"] / figures["sdk"]["reads"]
    cold = figures["cold"]["reads"] / figures["sdk"]["reads"]
    lag = figures["videogw"]["lag_max"] / job_s
    print(
        f"requests per job, videogw / SDK: {ratio:.3f} (goal <= {RATIO_GOAL}); "
        f"cold start (expected time unknown): {cold:.3f}, "
        f"lag max {100 * figures['cold']['lag_max'] / job_s:.1f} % of the job time"
    )
    total = (figures["videogw"]["reads"] + 1) / (figures["sdk"]["reads"] + 1)
    print(f"all requests per job (submit included), videogw / SDK: {total:.3f}")
    print(
        f"videogw saw completion within {100 * lag:.1f} % of the job time at worst "
        f"(goal <= {100 * LAG_GOAL:.0f} %); the SDK within "
        f"{100 * figures['sdk']['lag_max'] / job_s:.1f} %"
    )
    result(
        "sdk_polling",
        ratio,
        f"<= {RATIO_GOAL}, completion seen within {100 * LAG_GOAL:.0f} % of job time",
        "x the SDK's status requests per job",
        ratio <= RATIO_GOAL and lag <= LAG_GOAL,
        videogw_reads_per_job=round(figures["videogw"]["reads"], 2),
        sdk_reads_per_job=round(figures["sdk"]["reads"], 2),
        videogw_lag_max_pct=round(100 * lag, 2),
        sdk_lag_max_pct=round(100 * figures["sdk"]["lag_max"] / job_s, 2),
        cold_ratio=round(cold, 3),
        cold_lag_max_pct=round(100 * figures["cold"]["lag_max"] / job_s, 2),
        jobs_per_side=args.jobs,
        job_seconds=job_s,
    )


if __name__ == "__main__":
    main()
