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

``--floor`` measures, alternating with videogw in the same run, what the same submits cost
with nothing but the unavoidable work: raw aiohttp sends the very request videogw built
(captured once), and raw `sqlite3` makes the same durable writes on a ledger of the same
schema (key, job row with the job's JSON text prebuilt, attempt; then the acceptance
update and attempt upsert), group-committed at the next event-loop tick like the engine,
with no models, validation, routing, pricing or JSON serialization. It is a lower bound for
any client that keeps the same money rules, and says how much of the figure is videogw.

    python benchmarks/submit_cpu.py [--jobs 3000] [--store sqlite|memory]
                                    [--synchronous NORMAL|FULL] [--floor [--rounds 3]]
                                    [--profile submit.prof] [--breakdown]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import resource
import sqlite3
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from benchlib import EmulatorProcess, median, python_line, result

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


class Captured(httpx.AsyncBaseTransport):
    """Sends through the emulator and keeps the last submit request, as sent."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.request: httpx.Request | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.request = request
        return await self.inner.handle_async_request(request)


async def capture(base_url: str, tmp: Path) -> tuple[httpx.Request, str, str]:
    """The submit request videogw sends, the request text its ledger stores, and the
    accepted job's JSON: what the floor sends and writes, prebuilt."""
    settings: dict[str, Any] = HiggsfieldProvider.emulator_settings(base_url)
    config = Config.model_validate({"providers": {"higgsfield": settings}})
    captured = Captured(httpx.AsyncHTTPTransport())
    ledger = SQLiteLedger(tmp / "capture.sqlite3")
    gateway = AsyncGateway(
        config, registry=get_registry(), store=ledger, transports={"higgsfield": captured}
    )
    try:
        job = await gateway.submit(REQUEST)
    finally:
        await gateway.aclose()
    (stored,) = [
        row[0] for row in ledger._db.execute("SELECT request FROM jobs WHERE id = ?", (job.id,))
    ]
    ledger.close()
    assert captured.request is not None
    return captured.request, stored or "", job.model_dump_json()


async def run_floor(
    base_url: str, jobs: int, path: Path, request: httpx.Request, request_text: str, job_text: str
) -> float:
    """The floor (see the module docstring): client CPU over `jobs` submits."""
    import aiohttp

    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    schema = SQLiteLedger(path)  # the ledger's own tables and indexes
    schema.close()
    url = str(request.url)  # the emulator's own address: the capture ran against it
    skip = ("content-length", "host")  # aiohttp sets them
    headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
    body = request.content
    loop = asyncio.get_running_loop()
    due: asyncio.Future[None] | None = None

    def commit(future: asyncio.Future[None]) -> None:
        nonlocal due
        due = None
        db.execute("COMMIT")
        future.set_result(None)

    async def durable() -> None:  # the engine's group commit: end of the next tick
        nonlocal due
        if due is None:
            due = loop.create_future()
            future = due
            loop.call_soon(lambda: loop.call_soon(commit, future))
        await asyncio.shield(due)

    def write(sql: str, args: tuple[Any, ...]) -> None:
        if not db.in_transaction:
            db.execute("BEGIN IMMEDIATE")
        db.execute(sql, args)

    counter = iter(range(10**9))
    remaining = 0

    async def submitter(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            n = next(counter)
            job_id, key, now = f"floor-{n}", f"key-{n}", time.time()
            write(
                "INSERT INTO idempotency_keys (key, job_id, fingerprint) VALUES (?, ?, ?)",
                (key, job_id, "f"),
            )
            write(
                "INSERT INTO jobs (id, status, terminal, provider, model, provider_job_id, "
                "idempotency_key, created_at, updated_at, request, job, version, open) "
                "VALUES (?, 'sending', 0, 'higgsfield', 'dop-lite', NULL, ?, ?, ?, ?, ?, 1, 0)",
                (job_id, key, now, now, request_text, job_text),
            )
            write(
                "INSERT INTO attempts (job_id, n, provider, model, outcome, started_at, "
                "estimate_usd) VALUES (?, 0, 'higgsfield', 'dop-lite', 'sending', ?, 0.1)",
                (job_id, now),
            )
            await durable()  # write-ahead: on disk before the request leaves
            async with session.post(url, data=body, headers=headers) as answer:
                data = await answer.json()
            write(
                "UPDATE jobs SET status = 'queued', provider_job_id = ?, updated_at = ?, "
                "job = ?, open = 1, version = version + 1 WHERE id = ? AND version = 1",
                (data["request_id"], now, job_text, job_id),
            )
            write(
                "UPDATE attempts SET outcome = 'accepted', status = 'queued' "
                "WHERE job_id = ? AND n = 0",
                (job_id,),
            )
            await durable()

    async def submits(session: aiohttp.ClientSession, count: int) -> None:
        nonlocal remaining
        remaining = count
        await asyncio.gather(*(submitter(session) for _ in range(SUBMITTERS)))

    connector = aiohttp.TCPConnector(limit=SUBMITTERS)
    async with aiohttp.ClientSession(connector=connector) as session:
        await submits(session, SUBMITTERS)  # connections, statement cache
        gc.collect()
        start = cpu_s()
        await submits(session, jobs)
        used = cpu_s() - start
    db.close()
    return used


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
    parser.add_argument("--floor", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="with --floor: rounds of each")
    args = parser.parse_args()
    print(python_line())
    if args.floor:
        floor_main(args)
        return
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


def floor_main(args: argparse.Namespace) -> None:
    """videogw and the floor, alternating (which goes first swaps every round), each on a
    fresh ledger file."""
    sides: dict[str, list[float]] = {"videogw": [], "floor": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess("higgsfield", queue_s=60, run_s=60) as emulator,
    ):
        request, request_text, job_text = asyncio.run(capture(emulator.base_url, Path(tmp)))
        for n in range(args.rounds):
            for side in ("videogw", "floor") if n % 2 == 0 else ("floor", "videogw"):
                path = Path(tmp) / f"{side}-{n}.sqlite3"
                if side == "videogw":
                    ledger = SQLiteLedger(path)
                    used = asyncio.run(run(emulator.base_url, args.jobs, ledger, None))
                    ledger.close()
                else:
                    floor_run = run_floor(
                        emulator.base_url, args.jobs, path, request, request_text, job_text
                    )
                    used = asyncio.run(floor_run)
                sides[side].append(1000 * used / args.jobs)
            print(
                f"round {n + 1}: videogw {sides['videogw'][-1]:.3f} ms, "
                f"floor {sides['floor'][-1]:.3f} ms CPU per submit"
            )
    ours, floor = median(sides["videogw"]), median(sides["floor"])
    print(
        f"client CPU per submit, medians of {args.rounds} rounds: videogw {ours:.3f} ms, "
        f"floor (raw aiohttp + raw sqlite3, the same durable writes) {floor:.3f} ms = "
        f"{ours / floor:.2f}x the floor; videogw's own share {ours - floor:.3f} ms"
    )
    result(
        "submit_cpu",
        ours,
        f"<= {GOAL_MS:g} ms client CPU per submit",
        "ms CPU per submit",
        ours <= GOAL_MS,
        jobs=args.jobs,
        store="sqlite",
        floor_ms=round(floor, 4),
        x_floor=round(ours / floor, 3),
        rounds=args.rounds,
    )


if __name__ == "__main__":
    main()
