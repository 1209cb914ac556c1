"""A process for the money-safety tests (tests/test_money_safety.py): one command per run,
on loopback emulators and one ledger file shared with other processes.

    python money_worker.py COMMAND LEDGER '{"toy": URL, "toy2": URL}' [ARGS...]

- ``resume``: claim and track what is open (refunded failures move on to toy2).
- ``submit N BUDGET``: N submits against a daily budget; prints how many were accepted.
- ``submit_key KEY``: one submit with that idempotency key; prints the job id.
- ``failover``: one submit that toy refuses (503) and toy2 takes slowly (killed meanwhile).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from toy import SecondToyProvider, ToyProvider
from videogw import Gateway
from videogw.config import Config
from videogw.errors import VideoGWError
from videogw.testing import registry_with

LEASE_S = 5.0
CAT = "https://example.com/cat.jpg"


def config(ledger: str, urls: dict[str, str], budget: str | None = None) -> Config:
    providers: dict[str, Any] = {
        name: {"base_url": url, "api_key": "emulator-key", "expected_job_s": 1.0}
        for name, url in urls.items()
    }
    ledger_cfg: dict[str, Any] = {"path": ledger, "lease_s": LEASE_S}
    if budget is not None:
        ledger_cfg["max_daily_spend_usd"] = budget
    return Config.model_validate(
        {
            "providers": providers,
            "routes": {"dop-lite": {"candidates": sorted(urls), "retry_failed": True}},
            "ledger": ledger_cfg,
            "poll": {"floor_s": 0.1, "cap_s": 0.5},
        }
    )


def gateway(ledger: str, urls: dict[str, str], budget: str | None = None) -> Gateway:
    return Gateway(
        config(ledger, urls, budget), registry=registry_with(ToyProvider, SecondToyProvider)
    )


def main() -> None:
    command, ledger, urls, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
    if command == "resume":
        with gateway(ledger, urls) as gw:
            report = gw.resume(timeout=60)
        print(f"RESUMED {len(report.jobs)} HELD {len(report.held)}", flush=True)
    elif command == "submit":
        count, budget = int(args[0]), args[1]
        accepted = 0
        with gateway(ledger, urls, budget) as gw:
            for i in range(count):
                try:
                    gw.submit(model="toy:dop-lite", prompt=f"budget {i}", image=CAT)
                    accepted += 1
                except VideoGWError:
                    pass
        print(f"ACCEPTED {accepted}", flush=True)
    elif command == "submit_key":
        with gateway(ledger, urls) as gw:
            job = gw.submit(model="dop-lite", prompt="same", image=CAT, idempotency_key=args[0])
        print(f"JOB {job.id} {job.provider_job_id}", flush=True)
    elif command == "failover":
        print("SUBMITTING", flush=True)
        with gateway(ledger, urls) as gw:
            gw.submit(model="dop-lite", prompt="failover emulate:failed", image=CAT)
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
