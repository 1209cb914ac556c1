"""A `videogw worker` process for the fleet tests (tests/test_worker.py): the CLI's own
`run_worker` on the toy providers, which are registered here rather than by entry points.

    python fleet_worker.py LEDGER URLS [--concurrency N] [--batch N] [--lease S]
        [--exit-when-idle] [--max-in-flight N]
    python fleet_worker.py LEDGER URLS --submit N --start-at EPOCH [--max-in-flight N]

The second form submits N jobs (from EPOCH on, so that processes race) and exits; it
prints how many each provider took. ``--max-in-flight`` applies to the provider "toy".

LEDGER is JSON: ``{"path": FILE}`` (SQLite) or ``{"url": URL, "schema": NAME}``
(PostgreSQL); URLS maps the toy providers to their emulators' base URLs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from toy import SecondToyProvider, ToyProvider
from videogw import AsyncGateway
from videogw.commands.worker import run_worker
from videogw.config import Config
from videogw.ledger import Ledger, SQLiteLedger
from videogw.testing import registry_with

CAT = "https://example.com/cat.jpg"


def open_ledger(spec: dict[str, Any]) -> Ledger:
    if "url" in spec:
        from videogw.ledger.postgres import PostgresLedger

        return PostgresLedger(spec["url"], schema=spec.get("schema"), pool_size=2)
    return SQLiteLedger(spec["path"])


def config(
    urls: dict[str, str],
    *,
    lease_s: float = 5.0,
    floor_s: float = 0.1,
    cap_s: float = 0.5,
    max_in_flight: int | None = None,
) -> Config:
    providers: dict[str, Any] = {
        name: {"base_url": url, "api_key": "emulator-key", "expected_job_s": 1.0}
        for name, url in urls.items()
    }
    if max_in_flight is not None:
        providers["toy"]["max_in_flight"] = max_in_flight
    return Config.model_validate(
        {
            "providers": providers,
            "routes": {"dop-lite": {"candidates": sorted(urls), "retry_failed": True}},
            "ledger": {"lease_s": lease_s},
            "poll": {"floor_s": floor_s, "cap_s": cap_s},
        }
    )


def gateway(ledger: Ledger, urls: dict[str, str], **options: Any) -> AsyncGateway:
    return AsyncGateway(
        config(urls, **options),
        store=ledger,
        registry=registry_with(ToyProvider, SecondToyProvider),
    )


async def submit(gw: AsyncGateway, count: int, start_at: float) -> None:
    import time
    from collections import Counter

    from videogw.errors import VideoGWError

    await asyncio.sleep(max(0.0, start_at - time.time()))
    taken: Counter[str] = Counter()
    for i in range(count):
        try:
            job = await gw.submit(model="dop-lite", prompt=f"slot {i}", image=CAT)
        except VideoGWError as exc:
            taken[type(exc).__name__] += 1
        else:
            taken[job.provider or "?"] += 1
    print("TAKEN " + json.dumps(dict(taken)), flush=True)


async def main(args: argparse.Namespace) -> None:
    ledger = open_ledger(json.loads(args.ledger))
    try:
        options: dict[str, Any] = {"lease_s": args.lease}
        if args.max_in_flight is not None:
            options["max_in_flight"] = args.max_in_flight
        async with gateway(ledger, json.loads(args.urls), **options) as gw:
            print("READY", flush=True)
            if args.submit:
                await submit(gw, args.submit, args.start_at)
                return
            stats = await run_worker(
                gw,
                concurrency=args.concurrency,
                batch=args.batch,
                lease_s=args.lease,
                exit_when_idle=args.exit_when_idle,
                idle_s=0.2,
            )
            print(
                f"STOPPED claimed={stats.claimed} finished={stats.finished} "
                f"released={stats.released}",
                flush=True,
            )
    finally:
        ledger.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("ledger")
    parser.add_argument("urls")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--lease", type=float, default=5.0)
    parser.add_argument("--exit-when-idle", action="store_true")
    parser.add_argument("--max-in-flight", type=int, default=None)
    parser.add_argument("--submit", type=int, default=0)
    parser.add_argument("--start-at", type=float, default=0.0)
    asyncio.run(main(parser.parse_args()))
