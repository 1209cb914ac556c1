"""A process that submits jobs to loopback emulators with a file ledger, then tracks them
until it is killed (tests/test_recovery.py sends it SIGKILL mid-flight).

    python recovery_worker.py LEDGER_PATH '{"toy": "http://127.0.0.1:PORT", ...}' COUNT
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from toy import SecondToyProvider, ToyProvider
from videogw import Gateway
from videogw.config import Config
from videogw.testing import registry_with

EXPECTED_JOB_S = 4.0
# a killed worker's jobs are taken over this long after its last renewal (it renews every
# half lease); long enough that the test's first resume, right after the kill, still finds
# them held on a loaded machine
LEASE_S = 3.0


def config(ledger: str, urls: dict[str, str]) -> Config:
    providers: dict[str, Any] = {
        name: {"base_url": url, "api_key": "emulator-key", "expected_job_s": EXPECTED_JOB_S}
        for name, url in urls.items()
    }
    return Config.model_validate(
        {
            "providers": providers,
            "routes": {"dop-lite": {"candidates": sorted(urls), "strategy": "weighted"}},
            "ledger": {"path": ledger, "lease_s": LEASE_S},
        }
    )


def registry() -> Any:
    return registry_with(ToyProvider, SecondToyProvider)


def main() -> None:
    ledger, urls, count = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    gw = Gateway(config(ledger, urls), registry=registry(), rng=random.Random(5))
    jobs = [
        gw.submit(model="dop-lite", prompt=f"job {i}", image="https://example.com/cat.jpg")
        for i in range(count)
    ]
    print(f"SUBMITTED {len(jobs)}", flush=True)
    gw.wait_all(jobs)  # killed while in here
    print("FINISHED", flush=True)


if __name__ == "__main__":
    main()
