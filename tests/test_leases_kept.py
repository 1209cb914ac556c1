"""A process that tracks a job keeps its lease for as long as it tracks it, also when it has
no read to make for longer than a lease (a first look planned past it, a webhook's
backstop): otherwise a `resume` or a worker elsewhere takes the job over from a live waiter
(and `tests/test_recovery.py` found a killed worker's jobs already free the moment it died)."""

from __future__ import annotations

import asyncio

import pytest

from toy import ToyProvider
from videogw import JobStatus, MemoryStore
from videogw.emulator import FakeClock
from videogw.emulator.app import Timing
from videogw.emulator.harness import emulate
from videogw.testing import registry_with

IMAGE = "https://example.com/cat.jpg"
LEASE_S = 10.0


@pytest.mark.parametrize("sync", [True, False])
def test_a_waiter_holds_the_lease_while_it_waits_longer_than_a_lease(sync: bool) -> None:
    clock = FakeClock()
    # 100 s jobs: the first look is planned at ~97 s, ten leases away
    emulated = emulate(
        ["toy"], registry=registry_with(ToyProvider), clock=clock, timing=Timing(10.0, 90.0)
    )
    store = MemoryStore(clock=clock)
    config = emulated.config(ledger={"lease_s": LEASE_S}, poll={"cap_s": 200.0})
    gateway = emulated.gateway(sync=sync, config=config, store=store, clock=clock)
    held: list[tuple[str | None, float]] = []  # (owner, seconds left) at each sleep

    def look() -> None:
        lease = store.lease(job.id)
        held.append((lease.owner, lease.until - clock()) if lease else (None, 0.0))

    real_sleep, real_asleep = clock.sleep, clock.asleep

    def sleep(seconds: float) -> None:
        real_sleep(seconds)
        look()

    async def asleep(seconds: float) -> None:
        await real_asleep(seconds)
        look()

    clock.sleep = sleep  # type: ignore[method-assign]
    clock.asleep = asleep  # type: ignore[method-assign]
    if sync:
        job = gateway.submit(model="toy:dop-lite", prompt="a cat", image=IMAGE)
        (done,) = gateway.wait_all([job])
        gateway.close()
    else:

        async def run() -> object:
            nonlocal job
            job = await gateway.submit(model="toy:dop-lite", prompt="a cat", image=IMAGE)
            (finished,) = await gateway.wait_all([job])
            await gateway.aclose()
            return finished

        job = None  # type: ignore[assignment]
        done = asyncio.run(run())  # type: ignore[assignment]
    assert done.status is JobStatus.succeeded
    assert len(held) >= 3, held  # it slept through several leases' worth
    for owner, left in held[:-1]:  # the last look may follow the release at the end
        assert owner is not None, held
        assert ":wait_all:" in owner, owner
        assert left > 0, held
    assert store.lease(job.id) is None  # released once finished
