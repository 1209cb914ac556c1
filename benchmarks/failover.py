"""Library time added by one failover at submit.

Two emulators, each served by uvicorn on loopback in its own process: Pixazo, which answers
every submit with HTTP 503 at once (no Retry-After), and Higgsfield, which accepts. Two
`AsyncGateway`s with the same config except the order of the dop-lite route:

- failover: ``candidates = ["pixazo", "higgsfield"]``: Pixazo's 503 is recorded as a
  refused attempt (ledger write, breaker, event), then Higgsfield takes the job;
- direct: ``candidates = ["higgsfield", "pixazo"]``: Higgsfield takes it at once (the
  same planning work: both candidates are prepared and priced).

Both write to their own temporary SQLite ledger (the default store). The breaker is set
not to open (``failures = 1000000``) so that every round really fails over. A third call,
a raw `httpx` POST of the very submit request videogw builds for Pixazo, measures the extra
round trip to the failing provider, which is the network's time, not the library's.

library time added = median(failover) - median(direct) - median(raw 503 round trip)

The configured backoff between candidates is zero (a 503 at submit moves on at once; no
`Sleep` is issued, which the clock counts). Rounds alternate the order of the three calls.

    python benchmarks/failover.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from benchlib import EmulatorProcess, median, pct, python_line, result

from videogw import AsyncGateway, Clock, Config, GenerationRequest
from videogw.ledger import SQLiteLedger
from videogw.plugins import get_registry
from videogw_higgsfield import HiggsfieldProvider
from videogw_pixazo import PixazoProvider

GOAL_MS = 5.0
REQUEST = {
    "model": "dop-lite",
    "prompt": "a cat turns its head",
    "image": "https://example.com/cat.jpg",
    "motion": {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.5},
}


class CountingClock(Clock):
    """The wall clock, counting the backoff sleeps the engine asks for."""

    def __init__(self) -> None:
        self.slept = 0.0
        self.sleeps = 0

    async def asleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.slept += seconds
        await super().asleep(seconds)


def gateway(urls: dict[str, str], order: list[str], ledger: Path, clock: Clock) -> AsyncGateway:
    config = Config.model_validate(
        {
            "providers": {
                "pixazo": PixazoProvider.emulator_settings(urls["pixazo"]),
                "higgsfield": HiggsfieldProvider.emulator_settings(urls["higgsfield"]),
            },
            "routes": {"dop-lite": {"candidates": order}},
            "breaker": {"failures": 1_000_000},
        }
    )
    return AsyncGateway(config, registry=get_registry(), store=SQLiteLedger(ledger), clock=clock)


async def run(urls: dict[str, str], rounds: int, warmup: int, tmp: Path) -> dict[str, Any]:
    clock = CountingClock()
    failing = gateway(urls, ["pixazo", "higgsfield"], tmp / "failover.sqlite3", clock)
    direct = gateway(urls, ["higgsfield", "pixazo"], tmp / "direct.sqlite3", clock)
    raw = httpx.AsyncClient(timeout=30)
    pixazo = failing.provider("pixazo")
    built = pixazo.build_submit(pixazo.prepare(GenerationRequest.model_validate(REQUEST)))
    url, headers, body = str(built.url), dict(built.headers), built.content
    times: dict[str, list[float]] = {"failover": [], "direct": [], "raw503": []}

    async def via_failover() -> float:
        start = time.perf_counter()
        job = await failing.submit(REQUEST)
        elapsed = time.perf_counter() - start
        assert job.provider == "higgsfield", job
        assert [a.outcome.value for a in job.attempts] == ["rejected", "accepted"], job
        return elapsed

    async def via_direct() -> float:
        start = time.perf_counter()
        job = await direct.submit(REQUEST)
        elapsed = time.perf_counter() - start
        assert job.provider == "higgsfield", job
        assert len(job.attempts) == 1, job
        return elapsed

    async def via_raw() -> float:
        start = time.perf_counter()
        response = await raw.post(url, content=body, headers=headers)
        elapsed = time.perf_counter() - start
        assert response.status_code == 503, response
        return elapsed

    calls = {"failover": via_failover, "direct": via_direct, "raw503": via_raw}
    orders = [
        ("failover", "direct", "raw503"),
        ("direct", "raw503", "failover"),
        ("raw503", "failover", "direct"),
    ]
    try:
        for n in range(warmup):
            for name in orders[n % 3]:
                await calls[name]()
        clock.sleeps, clock.slept = 0, 0.0
        for n in range(rounds):
            for name in orders[n % 3]:
                times[name].append(await calls[name]())
    finally:
        await raw.aclose()
        await failing.aclose()
        await direct.aclose()
    return {"times": times, "sleeps": clock.sleeps, "slept": clock.slept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=150)
    args = parser.parse_args()
    print(python_line())
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess("pixazo", faults="submit:503") as failing,
        EmulatorProcess("higgsfield", queue_s=1000, run_s=1) as healthy,
    ):
        urls = {"pixazo": failing.base_url, "higgsfield": healthy.base_url}
        print(
            f"emulators (own processes): pixazo (503 on submit) {failing.base_url}, "
            f"higgsfield {healthy.base_url}"
        )
        found = asyncio.run(run(urls, args.rounds, args.warmup, Path(tmp)))
        refused = failing.counts()["counts"].get("submit", 0)
    times = found["times"]
    expected = 2 * (args.rounds + args.warmup)  # one failover submit and one raw POST a round
    assert refused == expected, f"pixazo saw {refused} submits, expected {expected}"
    med = {name: median(values) for name, values in times.items()}
    backoff_ms = 1000 * found["slept"] / max(1, args.rounds)
    added = med["failover"] - med["direct"] - med["raw503"]
    beyond = 1000 * added - backoff_ms
    per_round = median(
        f - d - r
        for f, d, r in zip(times["failover"], times["direct"], times["raw503"], strict=True)
    )
    for name, label in (
        ("failover", "submit with one failover"),
        ("direct", "direct submit (2nd provider first)"),
        ("raw503", "raw httpx POST answered 503"),
    ):
        values = times[name]
        print(
            f"{label:>36}: median {1000 * med[name]:.3f} ms "
            f"(p10 {1000 * pct(values, 0.1):.3f}, p90 {1000 * pct(values, 0.9):.3f})"
        )
    print(f"backoff slept by the library: {found['sleeps']} sleeps ({backoff_ms:.3f} ms a round)")
    print(
        f"library time added by one failover: {beyond:.3f} ms beyond the backoff "
        f"(median per-round difference {1000 * per_round:.3f} ms); the whole failover adds "
        f"{1000 * (med['failover'] - med['direct']):.3f} ms including the 503 round trip"
    )
    result(
        "failover",
        beyond,
        f"<= {GOAL_MS} ms beyond backoff",
        "ms added by one failover",
        beyond <= GOAL_MS,
        failover_ms=round(1000 * med["failover"], 3),
        direct_ms=round(1000 * med["direct"], 3),
        raw_503_ms=round(1000 * med["raw503"], 3),
        backoff_ms=round(backoff_ms, 3),
        rounds=args.rounds,
    )


if __name__ == "__main__":
    main()
