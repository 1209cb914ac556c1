"""Fleet chaos on PostgreSQL: 3 `videogw worker` processes, 1 webhook receiver process and
1 submitting process share one database; the four emulated providers (with faults) send
their webhooks to the receiver; workers are SIGKILLed at random instants, each replaced at
once. Then benchmarks/killloop.py's money invariants are checked against what the
emulators saw and billed (no logical job paid twice, no provider job off the record,
spend equals billing, every job terminal or listed for reconciliation), and every killed
worker's jobs must have been taken over within lease + one poll.

    python benchmarks/fleetchaos.py [--kills 20] [--jobs 1000] [--seed 1] [--url URL]

URL: a PostgreSQL server (default ``$VIDEOGW_TEST_POSTGRES_URL``, else
postgresql://postgres@127.0.0.1:5432/postgres); the run uses a schema of its own and drops
it. The last line is JSON with the figures. tests/test_fleet_chaos.py runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import killloop

HERE = Path(__file__).resolve()
LEASE_S = 2.0
POLL_CAP_S = 0.3
IDLE_S = 0.2
WORKERS = 3
HOOKS = "https://hooks.fleet.test"
LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


# -- the processes ---------------------------------------------------------------------
def _ledger(spec: dict[str, str]) -> Any:
    from videogw.ledger.postgres import PostgresLedger

    return PostgresLedger(spec["url"], schema=spec["schema"], pool_size=3)


def _gateway(spec: dict[str, str], settings: dict[str, Any]) -> Any:
    from videogw import AsyncGateway
    from videogw.config import Config

    config = Config.model_validate(
        {
            "providers": settings,
            "routes": {"dop-lite": killloop.ROUTE},
            "ledger": {"lease_s": LEASE_S},
            "poll": {"floor_s": 0.05, "cap_s": POLL_CAP_S},
            "breaker": {"failures": 50, "window_s": 5.0, "cooldown_s": 0.2},
            "public_url": HOOKS,
        }
    )
    return AsyncGateway(config, store=_ledger(spec), registry=killloop.registry())


async def worker(spec: dict[str, str], settings: dict[str, Any]) -> None:
    from videogw.worker import Worker

    gw = _gateway(spec, settings)
    async with gw:
        w = Worker(gw, concurrency=2000, batch=100, idle_s=IDLE_S, on_line=lambda _l: None)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, w.stop)
        print(f"OWNER {w.owner}", flush=True)
        await w.run()
    gw.store.close()


async def submitter(spec: dict[str, str], settings: dict[str, Any], jobs: int) -> None:
    from videogw.errors import NoCandidateError

    gw = _gateway(spec, settings)
    async with gw:
        print("READY", flush=True)
        errors: Counter[str] = Counter()
        refused = 0
        for first in range(0, jobs, 10):
            # refused everywhere: on record as failed (the exceptions are data here)
            results = await asyncio.gather(
                *(
                    gw.submit(
                        model="dop-lite",
                        prompt=f"fleet#{n}",
                        image=killloop.CAT,
                        motion=killloop.MOTION,
                    )
                    for n in range(first, min(first + 10, jobs))
                ),
                return_exceptions=True,
            )
            errors.update(
                f"{type(r).__name__}: {str(r)[:120]}" for r in results if isinstance(r, Exception)
            )
            # a submit no provider could take (every one cooling down after the fleet's
            # 429s, or its breaker open) is refused before anything is recorded or sent
            refused += sum(isinstance(r, NoCandidateError) for r in results)
        # what the submits raised, for the figures
        said = {"errors": dict(errors.most_common(10)), "refused_no_candidate": refused}
        print("ERRORS " + json.dumps(said), flush=True)
    gw.store.close()


def receiver(spec: dict[str, str], settings: dict[str, Any], port: int) -> None:
    import uvicorn

    from videogw import Gateway
    from videogw.config import Config
    from videogw.webhooks import make_webhook_app

    config = Config.model_validate(
        {
            "providers": settings,
            "routes": {"dop-lite": killloop.ROUTE},
            "ledger": {"lease_s": LEASE_S},
            "public_url": HOOKS,
        }
    )
    gw = Gateway(config, store=_ledger(spec), registry=killloop.registry())
    app = make_webhook_app(gw)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    serving = threading.Thread(target=server.run)  # off the main thread: signals stay ours
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    serving.start()
    stop.wait()
    server.should_exit = True
    serving.join(timeout=30)
    stats = app.state.receiver.stats
    counts = {k: v for k, v in vars(stats).items() if isinstance(v, int)}
    print("WEBHOOKS " + json.dumps(counts), flush=True)


# -- the run ---------------------------------------------------------------------------
class ToReceiver(httpx.AsyncBaseTransport):
    """The emulators call {public_url}/webhooks/...: deliver to the receiver process."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(role: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, str(HERE), "--role", role, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


class Takeovers:
    """After each kill: how long until none of the dead worker's open jobs is still
    leased to it (another worker, or a receiver confirming a webhook, took each over)."""

    def __init__(self, spec: dict[str, str]) -> None:
        import psycopg

        self.conn = psycopg.connect(spec["url"], autocommit=True)
        self.conn.execute(f'SET search_path TO "{spec["schema"]}"')
        self.pending: list[tuple[str, float]] = []
        self.seconds: list[float] = []
        self.stuck: list[str] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def killed(self, owner: str) -> None:
        with self.lock:
            self.pending.append((owner, time.monotonic()))

    def _run(self) -> None:
        while not (self.done.is_set() and not self.pending):
            with self.lock:
                pending = list(self.pending)
            for owner, at in pending:
                row = self.conn.execute(
                    "SELECT count(*) FROM jobs WHERE claimed_by = %s AND open", (owner,)
                ).fetchone()
                left = row[0] if row else 0
                waited = time.monotonic() - at
                if left == 0 or waited > 60:
                    with self.lock:
                        self.pending.remove((owner, at))
                    if left == 0:
                        self.seconds.append(waited)
                    else:
                        self.stuck.append(owner)
            time.sleep(0.05)

    def close(self) -> None:
        self.done.set()
        self.thread.join(timeout=90)
        self.conn.close()


def start_worker(spec_text: str, settings: str) -> tuple[subprocess.Popen[str], str]:
    proc = spawn("worker", spec_text, settings)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("OWNER "):
        raise RuntimeError(f"worker did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def open_jobs(spec: dict[str, str]) -> int:
    import psycopg

    with psycopg.connect(spec["url"], autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{spec["schema"]}"')
        row = conn.execute("SELECT count(*) FROM jobs WHERE open").fetchone()
    return int(row[0]) if row else 0


def describe_open(spec: dict[str, str]) -> list[str]:
    ledger = _ledger(spec)
    try:
        found = []
        for job in ledger.find():
            if job.status.is_terminal and job.aftercare is None:
                continue
            if job.provider_job_id is None:
                continue  # an unknown submit: listed for reconciliation
            lease = ledger.lease(job.id)
            found.append(
                f"{job.id} {job.status.value} at {job.provider} aftercare={job.aftercare} "
                f"lease={lease.owner if lease else None} "
                f"attempts={[(a.provider, a.outcome.value) for a in job.attempts]}"
            )
        return found
    finally:
        ledger.close()


def run(kills: int, jobs: int, seed: int, url: str) -> dict[str, Any]:
    import psycopg

    from videogw.emulator import Timing
    from videogw.emulator.harness import emulate
    from videogw.emulator.server import LoopbackServer

    rng = random.Random(seed)
    spec = {"url": url, "schema": f"videogw_fleet_{uuid.uuid4().hex[:10]}"}
    spec_text = json.dumps(spec)
    port = free_port()
    emulated = emulate(
        killloop.NAMES,
        registry=killloop.registry(),
        faults=dict.fromkeys(killloop.NAMES, killloop.FAULTS),
        timing=Timing(queue_s=0.1, run_s=0.3),
        seed=seed,
    )
    emulated.emulators["segmind"].credits = Decimal(1_000_000)
    for name, app in emulated.emulators.items():
        server = LoopbackServer(app, webhook_transport=ToReceiver(port)).start()
        emulated.servers[name] = server
        cls = emulated.registry.get(name).provider_class  # type: ignore[union-attr]
        emulated.settings[name] = {
            **cls.emulator_settings(server.base_url),
            "expected_job_s": emulated.settings[name]["expected_job_s"],
        }
    settings = json.dumps(emulated.settings, default=str)
    _ledger(spec).close()  # the schema, made once before the processes race
    started = time.monotonic()
    procs: list[subprocess.Popen[str]] = []
    takeovers = Takeovers(spec)
    killed = 0
    try:
        hooks = spawn("receiver", spec_text, settings, str(port))
        procs.append(hooks)
        workers = [start_worker(spec_text, settings) for _ in range(WORKERS)]
        procs.extend(p for p, _ in workers)
        submit = spawn("submitter", spec_text, settings, str(jobs))
        procs.append(submit)
        while killed < kills or submit.poll() is None:
            time.sleep(rng.uniform(0.3, 2.0))
            index = rng.randrange(len(workers))
            proc, owner = workers[index]
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed += 1
            takeovers.killed(owner)
            workers[index] = start_worker(spec_text, settings)
            procs.append(workers[index][0])
        assert submit.wait(timeout=600) == 0
        said = submit.stdout.read() if submit.stdout is not None else ""
        line = next((x for x in said.splitlines() if x.startswith("ERRORS ")), "ERRORS {}")
        reported = json.loads(line.split(" ", 1)[1])
        submit_errors = reported.get("errors", {})
        refused_no_candidate = int(reported.get("refused_no_candidate", 0))
        submitted_at = time.monotonic()
        deadline = time.monotonic() + 60
        while open_jobs(spec) and time.monotonic() < deadline:
            time.sleep(0.5)
        drained_at = time.monotonic()
        stuck_jobs = describe_open(spec)
        takeovers.close()
        for proc, _ in workers:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in workers:
            proc.wait(timeout=60)
        hooks.send_signal(signal.SIGTERM)
        out, _ = hooks.communicate(timeout=30)
        line = next((x for x in out.splitlines() if x.startswith("WEBHOOKS ")), "WEBHOOKS {}")
        webhooks = json.loads(line.split(" ", 1)[1])
        time.sleep(0.5)  # every emulated job has reached its end
        ledger = _ledger(spec)
        try:
            figures = killloop.check(emulated, ledger, killed, time.monotonic() - started)
        finally:
            ledger.close()
        deliveries = sum(len(s.webhook_errors) for s in emulated.servers.values())
        figures.update(
            {
                "workers": WORKERS,
                "lease_s": LEASE_S,
                "takeovers": len(takeovers.seconds),
                "takeover_max_s": round(max(takeovers.seconds, default=0.0), 2),
                "takeover_bound_s": LEASE_S + POLL_CAP_S + IDLE_S + 0.5,
                "not_taken_over": takeovers.stuck,
                "webhook_delivery_errors": deliveries,
                "webhooks": webhooks,
                "submitted_s": round(submitted_at - started, 1),
                "drained_s": round(drained_at - started, 1),
                "open_after_drain": stuck_jobs[:5],
                "submit_errors": submit_errors,
                "refused_no_candidate": refused_no_candidate,
            }
        )
        return figures
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for server in emulated.servers.values():
            server.stop()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{spec["schema"]}" CASCADE')


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--role":
        role, spec, settings, *rest = sys.argv[2:]
        if role == "worker":
            asyncio.run(worker(json.loads(spec), json.loads(settings)))
        elif role == "submitter":
            asyncio.run(submitter(json.loads(spec), json.loads(settings), int(rest[0])))
        elif role == "receiver":
            receiver(json.loads(spec), json.loads(settings), int(rest[0]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", default=os.environ.get("VIDEOGW_TEST_POSTGRES_URL", LOCAL_URL))
    args = parser.parse_args()
    figures = run(args.kills, args.jobs, args.seed, args.url)
    for key, value in figures.items():
        print(f"{key}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
