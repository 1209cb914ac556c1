"""Per-call overhead of `AsyncGateway.status` against a raw `httpx.AsyncClient` GET.

Both sides read the status of the same queued job from the same Higgsfield emulator, served
by uvicorn on loopback in its own process. The raw side sends the very request videogw
builds (same URL, same headers) and decodes the JSON body, which is the least any caller
must do; videogw also classifies the answer, maps the status and folds it into the frozen
`Job` (no ledger write: the status did not change). Calls alternate A, B, B, A, ... after a
warm-up; the figure is the ratio of the median per-call times.

    python benchmarks/overhead.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from benchlib import EmulatorProcess, median, pct, python_line, result

from videogw import AsyncGateway, Config
from videogw.plugins import get_registry
from videogw.store import MemoryStore
from videogw_higgsfield import HiggsfieldProvider

GOAL = 1.15
REQUEST = {
    "model": "higgsfield:dop-lite",
    "prompt": "a cat turns its head emulate:queue=100000",  # stays queued: status unchanged
    "image": "https://example.com/cat.jpg",
}


async def measure(base_url: str, rounds: int, warmup: int) -> tuple[list[float], list[float]]:
    settings = HiggsfieldProvider.emulator_settings(base_url)
    config = Config.model_validate({"providers": {"higgsfield": settings}})
    gateway = AsyncGateway(config, registry=get_registry(), store=MemoryStore())
    raw = httpx.AsyncClient(timeout=30)
    try:
        job = await gateway.submit(REQUEST)
        built = gateway.provider("higgsfield").build_status(job)
        url, headers = str(built.url), dict(built.headers)

        async def via_gateway() -> float:
            start = time.perf_counter()
            seen = await gateway.status(job)
            elapsed = time.perf_counter() - start
            assert seen.status.value == "queued"
            return elapsed

        async def via_raw() -> float:
            start = time.perf_counter()
            response = await raw.get(url, headers=headers)
            response.raise_for_status()
            data = response.json()
            elapsed = time.perf_counter() - start
            assert data["status"] == "queued"
            return elapsed

        for _ in range(warmup):
            await via_gateway()
            await via_raw()
        gw_times: list[float] = []
        raw_times: list[float] = []
        for n in range(rounds):
            if n % 2:
                gw_times.append(await via_gateway())
                raw_times.append(await via_raw())
            else:
                raw_times.append(await via_raw())
                gw_times.append(await via_gateway())
        return gw_times, raw_times
    finally:
        await raw.aclose()
        await gateway.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    args = parser.parse_args()
    print(python_line())
    with EmulatorProcess("higgsfield", queue_s=100000, run_s=1) as emulator:
        print(f"emulator: higgsfield on {emulator.base_url} (own process)")
        gw, raw = asyncio.run(measure(emulator.base_url, args.rounds, args.warmup))
        statuses = emulator.counts()["counts"].get("status", 0)
    expected = 2 * (args.rounds + args.warmup)
    assert statuses == expected, f"emulator saw {statuses} status reads, expected {expected}"
    gw_med, raw_med = median(gw), median(raw)
    ratio = gw_med / raw_med
    per_round = median(g / r for g, r in zip(gw, raw, strict=True))
    print(f"rounds: {args.rounds} alternating (after {args.warmup} warm-up), {statuses} reads")
    print(
        f"AsyncGateway.status: median {gw_med * 1e6:.0f} us  "
        f"(p10 {pct(gw, 0.1) * 1e6:.0f}, p90 {pct(gw, 0.9) * 1e6:.0f})"
    )
    print(
        f"raw httpx GET+json:  median {raw_med * 1e6:.0f} us  "
        f"(p10 {pct(raw, 0.1) * 1e6:.0f}, p90 {pct(raw, 0.9) * 1e6:.0f})"
    )
    print(f"added per call: {(gw_med - raw_med) * 1e6:.0f} us (median of differences of medians)")
    print(f"ratio of medians: {ratio:.3f} (goal <= {GOAL}); median per-round ratio {per_round:.3f}")
    result(
        "overhead",
        ratio,
        f"<= {GOAL}",
        "x raw httpx (median per-call time)",
        ratio <= GOAL,
        gateway_us=round(gw_med * 1e6, 1),
        raw_us=round(raw_med * 1e6, 1),
        rounds=args.rounds,
    )


if __name__ == "__main__":
    main()
