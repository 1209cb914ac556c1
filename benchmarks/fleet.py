"""Fleet figures, side by side in one run:

- status reads per second and jobs tracked by 1, 2 and 4 `videogw worker` processes on
  PostgreSQL, against one worker on SQLite (the emulator in its own process, its jobs long
  enough that every one stays open; a short poll cap, so the workers are saturated and
  reads/s is their capacity);
- claims per second (`Ledger.claim`, batches of 100) and durable ledger writes per second
  (`Ledger.create`, one transaction each, committed to disk) on PostgreSQL;
- takeover time after a SIGKILL: two workers share the jobs; the one holding them is
  killed; how long until none of its open jobs is still leased to it.

    python benchmarks/fleet.py [--jobs 600] [--seconds 10] [--url URL]

The last line is JSON with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import killloop

HERE = Path(__file__).resolve()
LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PROVIDER = "segmind"
LEASE_S = 2.0


def _ledger(spec: dict[str, str]) -> Any:
    if "url" in spec:
        from videogw.ledger.postgres import PostgresLedger

        return PostgresLedger(spec["url"], schema=spec["schema"], pool_size=4)
    from videogw.ledger import SQLiteLedger

    return SQLiteLedger(spec["path"])


def _gateway(spec: dict[str, str], settings: dict[str, Any]) -> Any:
    from videogw import AsyncGateway
    from videogw.config import Config

    config = Config.model_validate(
        {
            "providers": {PROVIDER: {**settings, "max_concurrency": 32}},
            "routes": {"dop-lite": {"candidates": [PROVIDER]}},
            "ledger": {"lease_s": LEASE_S},
            "poll": {"floor_s": 0.05, "cap_s": 0.2},
        }
    )
    return AsyncGateway(config, store=_ledger(spec), registry=killloop.registry())


# -- roles (child processes) ---------------------------------------------------------------
def emulator_role() -> None:
    from videogw.emulator import Timing
    from videogw.emulator.harness import emulate

    emulated = emulate(
        [PROVIDER],
        registry=killloop.registry(),
        timing=Timing(queue_s=1, run_s=3600),
        loopback=True,
    )
    emulated.emulators[PROVIDER].credits = Decimal(10**9)
    print(json.dumps(emulated.settings[PROVIDER], default=str), flush=True)
    sys.stdin.read()  # until the parent closes it
    for server in emulated.servers.values():
        server.stop()


async def worker_role(spec: dict[str, str], settings: dict[str, Any]) -> None:
    from videogw.worker import Worker

    gw = _gateway(spec, settings)
    async with gw:
        w = Worker(gw, concurrency=100_000, batch=100, idle_s=0.2, on_line=lambda _l: None)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, w.stop)
        print(f"OWNER {w.owner}", flush=True)
        stats = await w.run()
    gw.store.close()
    print(f"STATS {stats.reads} {stats.claimed}", flush=True)


async def submit_role(spec: dict[str, str], settings: dict[str, Any], count: int) -> None:
    gw = _gateway(spec, settings)
    async with gw:
        for first in range(0, count, 20):
            await asyncio.gather(
                *(
                    gw.submit(
                        model="dop-lite",
                        prompt=f"bench#{n}",
                        image=killloop.CAT,
                        motion=killloop.MOTION,
                    )
                    for n in range(first, min(first + 20, count))
                )
            )
    gw.store.close()


# -- measuring -----------------------------------------------------------------------------
def spawn(*args: str, stdin: bool = False) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, str(HERE), "--role", *args],
        stdin=subprocess.PIPE if stdin else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def start_worker(spec: str, settings: str) -> tuple[subprocess.Popen[str], str]:
    proc = spawn("worker", spec, settings)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("OWNER "):
        raise RuntimeError(f"worker did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def tracking(spec: dict[str, str], settings: str, workers: int, seconds: float) -> dict[str, Any]:
    """`workers` processes track the open jobs for `seconds` (after all have started)."""
    text = json.dumps(spec)
    procs = [start_worker(text, settings) for _ in range(workers)]
    time.sleep(seconds)
    reads = claimed = 0
    for proc, _ in procs:
        proc.send_signal(signal.SIGTERM)
    for proc, _ in procs:
        out, _ = proc.communicate(timeout=120)
        line = next(x for x in out.splitlines() if x.startswith("STATS "))
        r, c = line.split()[1:]
        reads, claimed = reads + int(r), claimed + int(c)
    return {"workers": workers, "reads_per_s": round(reads / seconds), "jobs_tracked": claimed}


def claims_and_writes(url: str, jobs: int) -> dict[str, Any]:
    import psycopg

    from videogw.ledger.postgres import PostgresLedger
    from videogw.testing import _attempt_job

    schema = f"videogw_bench_{uuid.uuid4().hex[:10]}"
    ledger = PostgresLedger(url, schema=schema)
    try:
        started = time.perf_counter()
        for _ in range(jobs):
            ledger.create(_attempt_job())
        writes = jobs / (time.perf_counter() - started)
        started = time.perf_counter()
        claimed = 0
        while got := ledger.claim("bench", 60.0, 100):
            claimed += len(got)
        claims = claimed / (time.perf_counter() - started)
    finally:
        ledger.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return {"durable_writes_per_s": round(writes), "claims_per_s": round(claims)}


def takeover(spec: dict[str, str], settings: str) -> float:
    """Two workers; kill the one holding jobs; seconds until none is leased to it."""
    import psycopg

    text = json.dumps(spec)
    first, owner = start_worker(text, settings)
    with psycopg.connect(spec["url"], autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{spec["schema"]}"')

        def held_by(who: str) -> int:
            row = conn.execute(
                "SELECT count(*) FROM jobs WHERE open AND claimed_by = %s AND "
                "claimed_until > now()",
                (who,),
            ).fetchone()
            return int(row[0]) if row else 0

        while held_by(owner) == 0:
            time.sleep(0.05)
        second, _ = start_worker(text, settings)
        time.sleep(1.0)
        first.kill()
        first.wait()
        killed = time.monotonic()
        while True:
            row = conn.execute(
                "SELECT count(*) FROM jobs WHERE open AND claimed_by = %s", (owner,)
            ).fetchone()
            if not row or row[0] == 0:
                break
            time.sleep(0.02)
        took = time.monotonic() - killed
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=120)
    return took


def run(jobs: int, seconds: float, url: str) -> dict[str, Any]:
    import psycopg

    emulator = spawn("emulator", stdin=True)
    assert emulator.stdout is not None
    assert emulator.stdin is not None
    settings = emulator.stdout.readline().strip()
    pg = {"url": url, "schema": f"videogw_bench_{uuid.uuid4().hex[:10]}"}
    figures: dict[str, Any] = {"jobs": jobs, "seconds": seconds, "lease_s": LEASE_S}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = {"path": str(Path(tmp) / "ledger.sqlite3")}
            for spec in (pg, sqlite):
                done = spawn("submit", json.dumps(spec), settings, str(jobs))
                done.communicate(timeout=1200)
                assert done.returncode == 0
            figures["sqlite_1_process"] = tracking(sqlite, settings, 1, seconds)
        figures["postgres"] = [tracking(pg, settings, n, seconds) for n in (1, 2, 4)]
        one = figures["postgres"][0]["reads_per_s"] or 1
        figures["postgres_4_vs_1"] = round(figures["postgres"][2]["reads_per_s"] / one, 2)
        figures["takeover_s"] = round(takeover(pg, settings), 2)
        figures.update(claims_and_writes(url, 2000))
    finally:
        emulator.stdin.close()
        emulator.wait(timeout=30)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{pg["schema"]}" CASCADE')
    return figures


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--role":
        role, *rest = sys.argv[2:]
        if role == "emulator":
            emulator_role()
        elif role == "worker":
            asyncio.run(worker_role(json.loads(rest[0]), json.loads(rest[1])))
        elif role == "submit":
            asyncio.run(submit_role(json.loads(rest[0]), json.loads(rest[1]), int(rest[2])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--url", default=os.environ.get("VIDEOGW_TEST_POSTGRES_URL", LOCAL_URL))
    args = parser.parse_args()
    figures = run(args.jobs, args.seconds, args.url)
    for key, value in figures.items():
        print(f"{key}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
