"""Client CPU per submit (issue 17): only the submit path, measured on its own.

One `AsyncGateway` with 16 concurrent submitters sends ``--jobs`` submits to a Higgsfield
emulator served from its own process (so its CPU never counts), recording into a temporary
SQLite ledger. The figure is the client process's CPU (user + system, getrusage) over the
submits, divided by their number: everything a submit costs here is included (routing,
validation, pricing, the write-ahead write with its hold, the HTTP request, recording the
acceptance). No tracking: scale.py measures that.

``--profile FILE`` runs the submits under cProfile and writes its stats there (CPU figures
taken under a profiler are inflated; measure without it); ``--breakdown`` prints the share
of profiled time by where it was spent (the transport, SQLite, pydantic, videogw...).
cProfile times by the wall clock, so an fsync's wait counts there: profile with
``--synchronous NORMAL`` to see CPU. (A process_time timer costs a system call per event
and skews the shares towards code that makes many small calls.) ``--synchronous`` is the
SQLite ledger's durability setting (default: the ledger's own).

    python benchmarks/submit_cpu.py [--jobs 3000] [--store sqlite|memory]
                                    [--synchronous NORMAL|FULL]
                                    [--profile submit.prof] [--breakdown]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchlib import EmulatorProcess, python_line, result

from videogw import AsyncGateway, Config
from videogw.ledger import SQLiteLedger
from videogw.plugins import get_registry
from videogw.store import JobStore, MemoryStore
from videogw_higgsfield import HiggsfieldProvider

GOAL_MS = 1.0
SUBMITTERS = 16
REQUEST = {
    "model": "higgsfield:dop-lite",
    "prompt": "a cat turns its head",
    "image": "https://example.com/cat.jpg",
    "motion": {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.6},
}

# where profiled time goes, by the file a function lives in (first match wins)
BUCKETS = (
    ("transport: aiohttp", ("aiohttp", "yarl", "multidict", "propcache")),
    ("transport: httpx models", ("httpx", "httpcore", "h11", "anyio", "sniffio")),
    ("transport: videogw transports.py", ("videogw/transports.py",)),
    ("asyncio event loop, sockets", ("asyncio", "selectors", "socket")),
    ("pydantic", ("pydantic",)),
    ("sqlite3 (C: statements, commits)", ("sqlite3",)),
    ("json", ("json",)),
    ("tenacity", ("tenacity",)),
    ("logging", ("logging",)),
    ("videogw ledger (Python)", ("videogw/ledger",)),
    ("videogw engine", ("videogw/engine.py",)),
    (
        "videogw routing",
        ("router.py", "providerset.py", "health.py", "figures.py", "breaker.py", "credits.py"),
    ),
    (
        "videogw provider + plugin",
        ("videogw/provider.py", "videogw/wire.py", "videogw/motions.py", "videogw_higgsfield"),
    ),
    ("videogw submit, lifecycle, recorder, gateway", ("videogw",)),
)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bucket_of(filename: str) -> str:
    for name, needles in BUCKETS:
        if any(f"/{n}" in filename or filename.startswith(f"<{n}") for n in needles):
            return name
    if filename.startswith("~") or filename.startswith("<built-in"):
        return "builtins (C calls)"
    return "other (stdlib)"


def breakdown(stats: pstats.Stats) -> dict[str, float]:
    """Share of profiled self time per bucket (C calls land with their caller's module
    when cProfile names them; otherwise under builtins)."""
    totals: dict[str, float] = defaultdict(float)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, tottime, _ct, callers) in raw.items():
        where = filename
        if filename == "~" and callers:
            # a C function: charge it to the module that called it most
            caller = max(callers.items(), key=lambda kv: kv[1][2])[0]
            where = caller[0]
            if "sqlite3" in name or "Connection" in name or "Cursor" in name:
                where = "/sqlite3"
        totals[bucket_of(where)] += tottime
    whole = sum(totals.values()) or 1.0
    return {k: 100 * v / whole for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


async def run(base_url: str, jobs: int, store: JobStore, profile: cProfile.Profile | None) -> float:
    settings: dict[str, Any] = HiggsfieldProvider.emulator_settings(base_url)
    config = Config.model_validate({"providers": {"higgsfield": settings}})
    gateway = AsyncGateway(config, registry=get_registry(), store=store)
    try:
        for _ in range(SUBMITTERS):  # connections, imports, caches
            await gateway.submit(REQUEST)
        gc.collect()
        remaining = jobs

        async def submitter() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await gateway.submit(REQUEST)

        if profile is not None:
            profile.enable()
        start = cpu_s()
        wall = time.monotonic()
        await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
        used = cpu_s() - start
        wall = time.monotonic() - wall
        if profile is not None:
            profile.disable()
        print(f"{jobs} submits in {wall:.1f} s ({jobs / wall:.0f}/s), client CPU {used:.2f} s")
        return used
    finally:
        await gateway.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--synchronous", choices=("NORMAL", "FULL"), default=None)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--breakdown", action="store_true")
    args = parser.parse_args()
    print(python_line())
    profile = cProfile.Profile() if args.profile or args.breakdown else None
    durability: dict[str, Any] = {"synchronous": args.synchronous} if args.synchronous else {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess("higgsfield", queue_s=60, run_s=60) as emulator,
    ):
        store: JobStore = (
            SQLiteLedger(Path(tmp) / "ledger.sqlite3", **durability)
            if args.store == "sqlite"
            else MemoryStore()
        )
        used = asyncio.run(run(emulator.base_url, args.jobs, store, profile))
        store.close()
    per_submit_ms = 1000 * used / args.jobs
    print(
        f"client CPU {per_submit_ms:.3f} ms per submit (goal <= {GOAL_MS:g})"
        + (" [under the profiler: inflated]" if profile is not None else "")
    )
    if profile is not None:
        stats = pstats.Stats(profile)
        if args.profile:
            stats.dump_stats(str(args.profile))
        if args.breakdown:
            for name, share in breakdown(stats).items():
                print(f"  {share:5.1f} %  {name}")
    result(
        "submit_cpu",
        per_submit_ms,
        f"<= {GOAL_MS:g} ms client CPU per submit",
        "ms CPU per submit",
        per_submit_ms <= GOAL_MS and profile is None,
        jobs=args.jobs,
        store=args.store,
        synchronous=args.synchronous,
        profiled=profile is not None,
    )


if __name__ == "__main__":
    main()
