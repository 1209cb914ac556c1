"""Shared helpers for the benchmarks: an emulator served on loopback from its own process
(so its CPU and memory never count against the client being measured), the machine line,
medians, and the one JSON line every benchmark ends with.

The emulator process wraps the provider's emulator in a tiny ASGI layer that answers
``/__bench/*`` control requests (never counted, never faulted):

- ``GET /__bench/counts``: the emulator's request counters by route kind, the faults it
  injected, and how many jobs it holds;
- ``GET /__bench/jobs``: ``{job id: emulated finish time (epoch seconds)}``;
- ``GET /__bench/paths``: requests by ``METHOD path`` (only with ``per_path=True``);
- ``POST /__bench/reset``: zero the counters.

With ``webhooks_to=PORT`` the process also delivers the emulator's webhooks (every 0.1 s,
as `videogw.emulator.LoopbackServer` does) to ``http://127.0.0.1:PORT``, whatever host the
callback URL names (a receiver behind a TLS terminator sees the same path and query);
``lose=F`` drops that share of deliveries (seeded), as a provider's failed retries would.
``/__bench/counts`` then also has ``webhooks``: delivered, lost, errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "EmulatorProcess",
    "machine",
    "median",
    "pct",
    "python_line",
    "result",
]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return float(ordered[index])


def result(
    name: str, value: float, goal: str, unit: str, passed: bool, **extra: Any
) -> dict[str, Any]:
    """Print the benchmark's last line: one JSON object."""
    line = {
        "name": name,
        "value": round(value, 4),
        "goal": goal,
        "unit": unit,
        "pass": bool(passed),
        **extra,
        "machine": machine(),
    }
    print(json.dumps(line), flush=True)
    return line


# -- the emulator in its own process ----------------------------------------------------------


class _Instrumented:
    """The provider's emulator plus the ``/__bench/*`` control routes."""

    def __init__(self, app: Any, per_path: bool) -> None:
        self.app = app
        self.per_path = per_path
        self.paths: Counter[str] = Counter()
        self.webhooks: Counter[str] = Counter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path.startswith("/__bench/"):
                await self._control(scope, send)
                return
            if self.per_path:
                self.paths[f"{scope['method']} {path}"] += 1
        await self.app(scope, receive, send)

    async def _control(self, scope: dict[str, Any], send: Any) -> None:
        app, what = self.app, scope["path"].removeprefix("/__bench/")
        if what == "counts":
            body: Any = {
                "counts": dict(app.counts),
                "injected": dict(app.faults.injected),
                "jobs": len(app.jobs),
                "webhooks": dict(self.webhooks),
            }
        elif what == "jobs":
            body = {job_id: job.finished_at() for job_id, job in app.jobs.items()}
        elif what == "paths":
            body = dict(self.paths)
        elif what == "reset":
            app.counts.clear()
            self.paths.clear()
            self.webhooks.clear()
            body = {"ok": True}
        else:
            body = {"error": f"no control route {what!r}"}
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def fast_server() -> dict[str, str]:
    """uvicorn's C parser and loop when installed (``pip install -e '.[bench]'``): the
    emulator stands in for a provider, whose CPU is not the client's, so the less of the
    machine's two cores it takes, the more the client's figures are the client's."""
    chosen: dict[str, str] = {}
    try:
        import httptools  # noqa: F401

        chosen["http"] = "httptools"
    except ImportError:
        chosen["http"] = "h11"
    try:
        import uvloop  # noqa: F401

        chosen["loop"] = "uvloop"
    except ImportError:
        chosen["loop"] = "asyncio"
    return chosen


async def _deliver(app: _Instrumented, port: int, lose: float) -> None:
    """POST the emulator's due webhooks to the receiver on `port` (see the docstring), up
    to 16 at once: a provider's senders do not queue every job's callback behind one."""
    rng = random.Random(17)
    limit = asyncio.Semaphore(16)

    async def post(client: httpx.AsyncClient, delivery: Any) -> None:
        url = httpx.URL(delivery.url).copy_with(scheme="http", host="127.0.0.1", port=port)
        async with limit:
            try:
                answer = await client.post(url, content=delivery.body, headers=delivery.headers)
            except httpx.HTTPError:
                app.webhooks["errors"] += 1
                return
        app.webhooks["delivered" if answer.is_success else f"http {answer.status_code}"] += 1

    sending: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            await asyncio.sleep(0.1)
            for delivery in app.app.due_webhooks():
                if rng.random() < lose:
                    app.webhooks["lost"] += 1
                    continue
                task = asyncio.ensure_future(post(client, delivery))
                sending.add(task)
                task.add_done_callback(sending.discard)


async def _main(
    server: Any, sock: Any, app: _Instrumented, webhooks_to: int | None, lose: float
) -> None:
    ticker = asyncio.ensure_future(_deliver(app, webhooks_to, lose)) if webhooks_to else None
    try:
        await server.serve(sockets=[sock])
    finally:
        if ticker is not None:
            ticker.cancel()


def _serve(
    provider: str,
    queue_s: float,
    run_s: float,
    faults: str | None,
    per_path: bool,
    conn: Any,
    webhooks_to: int | None = None,
    lose: float = 0.0,
) -> None:  # pragma: no cover - runs in the child process
    import socket

    import uvicorn

    from videogw.emulator import Timing
    from videogw.plugins import get_registry

    cls = get_registry().get(provider).provider_class
    app = cls.emulator(timing=Timing(queue_s=queue_s, run_s=run_s), faults=faults)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    conn.send(sock.getsockname()[1])
    instrumented = _Instrumented(app, per_path)
    config = uvicorn.Config(
        instrumented,
        log_level="critical",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=120,
        backlog=4096,
        **fast_server(),
    )
    asyncio.run(_main(uvicorn.Server(config), sock, instrumented, webhooks_to, lose))


@dataclass
class EmulatorProcess:
    """A provider's emulator on ``http://127.0.0.1:PORT``, served by uvicorn in a child
    process (delivering its webhooks to ``webhooks_to``, a loopback port, when given). Use
    as a context manager."""

    provider: str
    queue_s: float = 0.5
    run_s: float = 2.0
    faults: str | None = None
    per_path: bool = False
    webhooks_to: int | None = None
    lose: float = 0.0

    def __post_init__(self) -> None:
        self.port = 0
        self._process: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EmulatorProcess:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve,
            args=(
                self.provider,
                self.queue_s,
                self.run_s,
                self.faults,
                self.per_path,
                child,
                self.webhooks_to,
                self.lose,
            ),
            daemon=True,
        )
        self._process.start()
        if not parent.poll(30):
            raise RuntimeError(f"{self.provider} emulator did not start")
        self.port = parent.recv()
        for _ in range(300):  # until uvicorn answers
            try:
                httpx.get(f"{self.base_url}/__bench/counts", timeout=1)
                return self
            except httpx.HTTPError:
                if not self._process.is_alive():
                    raise RuntimeError(f"{self.provider} emulator died") from None
                time.sleep(0.05)
        raise RuntimeError(f"{self.provider} emulator never answered")

    def control(self, what: str) -> Any:
        method = "POST" if what == "reset" else "GET"
        response = httpx.request(method, f"{self.base_url}/__bench/{what}", timeout=60)
        response.raise_for_status()
        return response.json()

    def counts(self) -> dict[str, Any]:
        found: dict[str, Any] = self.control("counts")
        return found

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def cpu_s(self) -> float:
        """CPU seconds the emulator's process has used (user + system), from /proc: its
        share of a run is measured apart from the client's."""
        if self.pid is None:
            return 0.0
        with contextlib.suppress(ImportError):
            import psutil

            times = psutil.Process(self.pid).cpu_times()
            return float(times.user + times.system)
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        # after the command name: state is field 3, utime and stime are fields 14 and 15
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join(timeout=10)
            self._process = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def python_line() -> str:
    info = machine()
    return (
        f"machine: {info['cores']} cores, Python {info['python']}, {info['platform']}, "
        f"{info['date']}"
    )
