"""`videogw worker`: track the fleet's open jobs until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from ..gateway import AsyncGateway
from ..worker import Worker, WorkerStats
from .common import guarded, state

__all__ = ["run_worker", "worker"]


def _line(text: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    print(f"{stamp} {text}", file=sys.stderr, flush=True)


async def run_worker(
    gateway: AsyncGateway,
    *,
    concurrency: int = 100,
    batch: int = 50,
    lease_s: float | None = None,
    exit_when_idle: bool = False,
    idle_s: float = 1.0,
) -> WorkerStats:
    """Run a `Worker` on `gateway` until SIGTERM or SIGINT (then it finishes the reads in
    flight and releases the rest), or until idle with `exit_when_idle`."""
    worker = Worker(
        gateway,
        concurrency=concurrency,
        batch=batch,
        lease_s=lease_s,
        idle_s=idle_s,
        exit_when_idle=exit_when_idle,
        on_line=_line,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    try:
        return await worker.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


@guarded
def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Jobs this worker tracks at once.")
    ] = 100,
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Jobs claimed per transaction.")
    ] = 50,
    lease: Annotated[
        float | None,
        typer.Option(
            "--lease",
            metavar="SECONDS",
            min=0.1,
            help="Lease on each job (default: [ledger] lease_s, 120 s); a killed worker's "
            "jobs are taken over once it expires.",
        ),
    ] = None,
    exit_when_idle: Annotated[
        bool, typer.Option("--exit-when-idle", help="Return once no open job is left.")
    ] = False,
) -> None:
    """Track open jobs from the ledger until SIGTERM: claim them in batches, poll them under
    their leases, apply the route's rules (resubmit a refunded failure, cancel and move a
    job stuck in queue), claim more as they end. One log line per change, on stderr. On
    SIGTERM it finishes the reads in flight and releases the other jobs to the fleet."""

    async def main() -> WorkerStats:
        async with AsyncGateway(state().config()) as gateway:
            return await run_worker(
                gateway,
                concurrency=concurrency,
                batch=batch,
                lease_s=lease,
                exit_when_idle=exit_when_idle,
            )

    asyncio.run(main())
