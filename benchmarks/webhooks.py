"""Status reads per job when webhooks finish the jobs, against the same jobs polled.

One Higgsfield emulator, served by uvicorn on loopback in its own process, delivers its
webhooks (Standard Webhooks, signed) to videogw's own receiver: `make_webhook_app` built on
the tracking `AsyncGateway` and served by uvicorn on loopback in the same event loop, which
is how the README mounts it (``public_url`` set, the receiver in the gateway's process).
Each round submits N jobs (default 200 of 30 s: 5 s queued + 25 s running) and tracks them
with `wait_all`, on a temporary SQLite ledger, the expected time known
(``expected_job_s``, as the ledger's observed p50 would tell it):

- A, webhooks: ``public_url`` set, so each submit asks for a callback; a delivery's
  terminal claim is confirmed by one status read under the job's lease (wait_all holds
  it, so its poller makes that read at once) and polling is only a backstop;
- B, polling: the same gateway settings without ``public_url`` (no callbacks asked).

Sides alternate A, B, A, B... (``--rounds`` of each). Status reads are counted by the
emulator (``GET /requests/{id}/status``) from the end of the submits to the end of
`wait_all`; lag = when the gateway saw a job finished minus its emulated finish time.
``--lose F`` drops that share of deliveries at the emulator, to watch the backstop find
those jobs (the goal is judged at ``--lose 0``).

    python benchmarks/webhooks.py [--jobs 200] [--job-seconds 30] [--rounds 1] [--lose 0]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import EmulatorProcess, median, pct, python_line, result

from videogw import AsyncGateway, Config, Job, JobStatus
from videogw.events import Finished, JobEvent
from videogw.ledger import SQLiteLedger
from videogw.plugins import get_registry
from videogw.webhooks import make_webhook_app
from videogw_higgsfield import HiggsfieldProvider

WITH_GOAL = 1.2  # status reads per job, with webhooks (issue 17)
WITHOUT_GOAL = 2.5  # status reads per job, polling only
SUBMITTERS = 16
PUBLIC_URL = "https://hooks.bench.test"  # the emulator sends its deliveries to loopback
REQUEST = {
    "model": "higgsfield:dop-lite",
    "prompt": "a cat turns its head",
    "image": "https://example.com/cat.jpg",
    "motion": {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.6},
}


class Receivers:
    """One loopback port for the whole run, passed to the emulator at its start; each
    round's gateway plugs its own receiver app into it."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.app is not None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":  # no side listening: a delivery nobody asked for
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})


def bind() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def side(
    emulator: EmulatorProcess,
    receivers: Receivers,
    ledger: Path,
    jobs: int,
    job_s: float,
    webhooks: bool,
) -> dict[str, Any]:
    settings: dict[str, Any] = HiggsfieldProvider.emulator_settings(emulator.base_url)
    settings["expected_job_s"] = job_s
    config = Config.model_validate(
        {"providers": {"higgsfield": settings}, **({"public_url": PUBLIC_URL} if webhooks else {})}
    )
    gateway = AsyncGateway(config, registry=get_registry(), store=SQLiteLedger(ledger))
    app = make_webhook_app(gateway) if webhooks else None
    receivers.app = app
    seen: dict[str, float] = {}

    def on_event(event: JobEvent) -> None:
        if isinstance(event, Finished) and event.job.provider_job_id:
            seen.setdefault(event.job.provider_job_id, time.time())

    gateway.on_event(on_event)
    try:
        submitted: list[Job] = []
        left = list(range(jobs))

        async def submitter() -> None:
            while left:
                left.pop()
                submitted.append(await gateway.submit(REQUEST))

        await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
        await asyncio.to_thread(emulator.control, "reset")
        started = time.monotonic()
        finished = await gateway.wait_all(submitted)
        tracking = time.monotonic() - started
        counts = await asyncio.to_thread(emulator.counts)
        finish = await asyncio.to_thread(emulator.control, "jobs")
        states: dict[str, int] = {}
        for job in finished:
            states[job.status.value] = states.get(job.status.value, 0) + 1
        assert states == {JobStatus.succeeded.value: jobs}, states
        ids = {job.provider_job_id for job in submitted}
        return {
            "reads": counts["counts"].get("status", 0),
            "lags": [seen[i] - finish[i] for i in ids if i in seen and i in finish],
            "tracking": tracking,
            "deliveries": counts.get("webhooks", {}),
            "receiver": {
                k: v for k, v in vars(app.state.receiver.stats).items() if isinstance(v, int)
            }
            if app is not None
            else {},
        }
    finally:
        receivers.app = None
        await gateway.aclose()


async def run(args: argparse.Namespace, sock: socket.socket, tmp: Path) -> dict[bool, list[Any]]:
    import uvicorn

    receivers = Receivers()
    server = uvicorn.Server(
        uvicorn.Config(
            receivers, log_level="critical", access_log=False, lifespan="off", backlog=4096
        )
    )
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    queue_s = args.job_seconds / 6
    found: dict[bool, list[Any]] = {True: [], False: []}
    try:
        with EmulatorProcess(
            "higgsfield",
            queue_s=queue_s,
            run_s=args.job_seconds - queue_s,
            webhooks_to=sock.getsockname()[1],
            lose=args.lose,
        ) as emulator:
            print(
                f"emulator: higgsfield on {emulator.base_url} (own process), delivering to the "
                f"receiver on port {sock.getsockname()[1]}; {args.jobs} jobs of "
                f"{args.job_seconds:g} s per side; lose {args.lose:.0%} of deliveries"
            )
            for n in range(args.rounds):
                for webhooks in (True, False):
                    ledger = tmp / f"ledger-{n}-{int(webhooks)}.sqlite3"
                    got = await side(
                        emulator, receivers, ledger, args.jobs, args.job_seconds, webhooks
                    )
                    found[webhooks].append(got)
                    report(n, webhooks, got, args.jobs)
    finally:
        server.should_exit = True
        await serving
    return found


def report(n: int, webhooks: bool, got: dict[str, Any], jobs: int) -> None:
    lags = got["lags"]
    name = "A webhooks" if webhooks else "B polling "
    line = (
        f"round {n + 1} {name}: {got['reads']} status reads = {got['reads'] / jobs:.2f} per job; "
        f"lag median {median(lags):.2f} s, p95 {pct(lags, 0.95):.2f} s, max {max(lags):.2f} s; "
        f"tracking {got['tracking']:.1f} s"
    )
    if webhooks:
        line += f"; deliveries {got['deliveries']}; receiver {got['receiver']}"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--job-seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of A then B")
    parser.add_argument("--lose", type=float, default=0.0, help="share of deliveries dropped")
    args = parser.parse_args()
    print(python_line())
    with tempfile.TemporaryDirectory() as tmp, bind() as sock:
        found = asyncio.run(run(args, sock, Path(tmp)))
    total = args.jobs * args.rounds
    per_job = {w: sum(g["reads"] for g in found[w]) / total for w in (True, False)}
    lags = {w: [lag for g in found[w] for lag in g["lags"]] for w in (True, False)}
    for webhooks, name in ((True, "with webhooks"), (False, "without")):
        goal = WITH_GOAL if webhooks else WITHOUT_GOAL
        print(
            f"{name}: {per_job[webhooks]:.2f} status reads per job (goal <= {goal}); lag "
            f"median {median(lags[webhooks]):.2f} s, p95 {pct(lags[webhooks], 0.95):.2f} s, "
            f"max {max(lags[webhooks]):.2f} s"
        )
    passed = per_job[True] <= WITH_GOAL and per_job[False] <= WITHOUT_GOAL
    result(
        "webhooks",
        per_job[True],
        f"<= {WITH_GOAL} status reads per job with webhooks, <= {WITHOUT_GOAL} without",
        "status reads per job (with webhooks)",
        passed,
        jobs=args.jobs,
        job_seconds=args.job_seconds,
        rounds=args.rounds,
        lose=args.lose,
        reads_per_job_without=round(per_job[False], 3),
        lag_median_s={
            "with": round(median(lags[True]), 3),
            "without": round(median(lags[False]), 3),
        },
        lag_p95_s={
            "with": round(pct(lags[True], 0.95), 3),
            "without": round(pct(lags[False], 0.95), 3),
        },
        lag_max_s={"with": round(max(lags[True]), 3), "without": round(max(lags[False]), 3)},
    )


if __name__ == "__main__":
    main()
