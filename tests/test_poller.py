"""The shared poll scheduler: many jobs, per-provider concurrency, Retry-After, webhooks
settling jobs, expected durations from the ledger, and giving up without losing a job."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from routing_kit import Kit, finished_job, request, submit_one
from videogw import JobStatus, Output, StatusUpdate
from videogw.emulator import FakeClock, FaultProfile, Timing
from videogw.emulator.transport import AsyncEmulatorTransport
from videogw.poller import Poller, Tracked
from videogw.schedule import timed
from videogw.store import MemoryStore
from videogw.testing import maybe_await


@pytest.fixture
async def akit(clock: FakeClock) -> AsyncIterator[Kit]:
    kit = Kit(False, clock)
    yield kit
    await kit.close()


class Gauge(httpx.AsyncBaseTransport):
    """Counts requests in flight at once, and when (fake time) each status read happened."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: FakeClock) -> None:
        self.inner, self.clock = inner, clock
        self.current = self.peak = 0
        self.reads: list[float] = []

    async def handle_async_request(self, req: httpx.Request) -> httpx.Response:
        self.current += 1
        self.peak = max(self.peak, self.current)
        if req.method == "GET":
            self.reads.append(self.clock.t)
        try:
            await asyncio.sleep(0)  # give other workers the chance to overlap
            return await self.inner.handle_async_request(req)
        finally:
            self.current -= 1


async def test_many_jobs_with_one_scheduler_and_a_per_provider_limit(
    akit: Kit, clock: FakeClock
) -> None:
    akit.emulated.settings["toy"]["max_concurrency"] = 4
    gauge = Gauge(AsyncEmulatorTransport(akit.emulator("toy")), clock)
    gw = akit.gateway({"candidates": ["toy"]}, transports={"toy": gauge})
    jobs = [await gw.submit(request(prompt=f"n{i}")) for i in range(300)]
    gauge.peak = 0
    done = await gw.wait_all(jobs, first_delay=0.0)  # all due at once: a burst to throttle
    assert [j.id for j in done] == [j.id for j in jobs]
    assert all(j.status is JobStatus.succeeded for j in done)
    assert 1 < gauge.peak <= 4  # concurrent, and never above the provider's limit
    reads = akit.emulator("toy").count("status")
    assert reads <= 5 * len(jobs)  # a 2.5 s job: a handful of looks, not 0.5 s polling
    assert not gw.tracker.pollers  # nothing left behind


async def test_retry_after_pauses_every_read_to_that_provider(akit: Kit, clock: FakeClock) -> None:
    gauge = Gauge(AsyncEmulatorTransport(akit.emulator("toy")), clock)
    gw = akit.gateway({"candidates": ["toy"]}, transports={"toy": gauge})
    jobs = [await gw.submit(request(prompt=f"n{i}")) for i in range(10)]
    akit.emulator("toy").faults = FaultProfile.parse("status:429/20*1")
    done = await gw.wait_all(jobs)
    assert all(j.status is JobStatus.succeeded for j in done)
    throttled = gauge.reads[0]
    later = [t for t in gauge.reads[1:] if t > throttled]
    assert later
    assert min(later) >= throttled + 20  # nobody read toy while it asked us to wait
    assert akit.emulator("toy").count("status") <= 10 * 3


async def test_a_webhook_settles_a_job_and_its_read_in_flight_is_discarded(
    kit: Kit, clock: FakeClock
) -> None:
    kit.emulator("toy").timing = Timing(queue_s=1000, run_s=1)
    gw: Any = None
    reads: list[str] = []
    emulator = kit.emulator("toy")
    route = emulator._routes[1]  # GET /v1/jobs/{id}
    original = route.handler
    webhook = StatusUpdate(
        status=JobStatus.succeeded,
        raw_status="done",
        outputs=(Output(url="https://cdn.example/v.mp4"),),
        charged=True,
    )

    async def status(req: Any) -> Any:
        reads.append(req.params["id"])
        if len(reads) == 1:  # the delivery lands while this read is out
            gw.apply_webhook_update(job.id, webhook)
        return await original(req)

    route.handler = status
    gw = kit.gateway({"candidates": ["toy"]})
    job = await maybe_await(gw.submit(request()))
    (done,) = await maybe_await(gw.wait_all([job]))
    assert done.status is JobStatus.succeeded  # the webhook's answer, not the read's "queued"
    assert done.outputs[0].url == "https://cdn.example/v.mp4"
    assert reads == [job.provider_job_id]  # and no more polling after it
    assert gw.get(job.id).status is JobStatus.succeeded


async def test_wait_all_with_a_timeout_returns_unfinished_jobs(kit: Kit) -> None:
    kit.emulator("toy").timing = Timing(queue_s=1000, run_s=1)
    gw = kit.gateway({"candidates": ["toy"]})
    job = await maybe_await(gw.submit(request()))
    (seen,) = await maybe_await(gw.wait_all([job], timeout=60))
    assert seen.status is JobStatus.queued
    assert gw.get(job.id).status is JobStatus.queued


async def test_tracking_gives_up_on_a_job_the_provider_lost_and_keeps_the_rest(
    kit: Kit,
) -> None:
    gw = kit.gateway({"candidates": ["toy"]})
    jobs = [await maybe_await(gw.submit(request(prompt=f"n{i}"))) for i in range(3)]
    kit.emulator("toy").jobs.pop(jobs[0].provider_job_id)  # now 404: JobNotFoundError
    done = await maybe_await(gw.wait_all(jobs))
    assert done[0].status is JobStatus.queued  # returned as last seen; it lives on
    assert [j.status for j in done[1:]] == [JobStatus.succeeded] * 2


def test_first_poll_follows_the_ledgers_p50_else_the_typical_duration(
    clock: FakeClock,
) -> None:
    kit = Kit(True, clock)
    store = MemoryStore()
    gw = kit.gateway({"candidates": ["toy", "toy2"]}, store=store)
    job = gw.submit(request())
    assert gw.expected_seconds(job) == pytest.approx(2.5)  # the emulator's expected_job_s
    for latency in (40, 40, 40):
        store.create(finished_job("toy", latency))
    gw.refresh_stats()
    assert gw.expected_seconds(job) == pytest.approx(40)
    poller = gw.tracker.new_poller()
    first = poller.delay_for(job)
    # the gateway tells its poller E is observed: one wait (past the 30 s cap) to 0.97 E for
    # a job in the timing sample, 1.02 E for the others; or, for one job in ten while the
    # early-failure rate is unknown, the early look at E / 4
    look = 0.97 if timed(job.id) else 1.02
    assert (look - 0.011) * 40 <= first <= (look + 0.011) * 40 or 0.24 * 40 <= first <= 0.26 * 40
    for sampled, look in ((True, 0.97), (False, 1.02)):
        told = Poller(
            monotonic=clock.monotonic,
            wall=clock.now,
            expected=gw.expected_seconds,
            prior=lambda job: False,  # E is the ledger's observed p50
            early_failures=lambda job: 0.01,  # and early failures are rare
            timing=lambda job_id, sampled=sampled: sampled,  # type: ignore[misc]
        )
        assert (look - 0.011) * 40 <= told.delay_for(job) <= (look + 0.011) * 40  # one wait
    asyncio.run(kit.close())


def _job(n: int) -> Any:
    return finished_job("toy", 1, status=JobStatus.running, charged=None, cost=None).model_copy(
        update={"id": f"j{n}"}
    )


def test_poller_pause_defers_due_jobs_of_that_provider_only() -> None:
    now = [100.0]
    wall = datetime.fromtimestamp(1_750_000_000, UTC)
    poller = Poller(monotonic=lambda: now[0], wall=lambda: wall, expected=lambda job: None)
    a, b = _job(1), _job(2).model_copy(update={"provider": "toy2"})
    poller.add(a, first_delay=0)
    poller.add(b, first_delay=0)
    poller.pause("toy", 30)
    due = poller.pop_due()
    assert [e.job.id for e in due] == ["j2"]
    assert poller.next_due() is not None
    assert poller.next_due() >= 130


def test_poller_memory_per_job_is_a_small_fixed_record() -> None:
    assert not hasattr(Tracked(_job(1)), "__dict__")  # slots: no per-instance dict
    poller = Poller(
        monotonic=lambda: 0.0,
        wall=lambda: datetime.fromtimestamp(0, UTC),
        expected=lambda job: 60.0,
    )
    poller.add_all(_job(n) for n in range(1000))
    assert len(poller) == 1000
    assert len(poller._heap) == 1000  # one heap entry per job, no task per job


def test_a_settled_job_is_never_handed_out_again() -> None:
    now = [0.0]
    poller = Poller(
        monotonic=lambda: now[0],
        wall=lambda: datetime.fromtimestamp(0, UTC),
        expected=lambda job: None,
    )
    job = _job(1)
    poller.add(job, first_delay=0)
    (entry,) = poller.pop_due()
    poller.settle(job.id, job.model_copy(update={"status": JobStatus.succeeded}))
    poller.update(entry, job)  # the read that was in flight lands afterwards
    assert len(poller) == 0
    ((done_id, done),) = poller.take_done()
    assert done_id == job.id
    assert done.status is JobStatus.succeeded
    assert Decimal(0) == Decimal(len(poller.pop_due(10_000)))


async def test_only_the_timing_sample_records_a_latency(akit: Kit, clock: FakeClock) -> None:
    """With an observed E, a job outside the timing sample is read first just after E: that
    read bounds nothing, so its attempt says `timed=False` with no latency, and the ledger's
    p50 (E for the next process) is measured on the sample alone."""
    store = MemoryStore()
    for _ in range(3):
        store.create(finished_job("toy", 2.5))
    gw = akit.gateway({"candidates": ["toy"]}, store=store)
    gw.refresh_stats()
    jobs = [await gw.submit(request(prompt=f"n{i}")) for i in range(60)]
    done = await gw.wait_all(jobs)
    assert all(j.status is JobStatus.succeeded for j in done)
    sampled = [j for j in done if timed(j.id)]
    assert 0 < len(sampled) < len(done)
    for job in done:
        attempt = gw.get(job.id).attempts[-1]
        assert attempt.timed is timed(job.id), job.id
        assert (attempt.latency_s is not None) is attempt.timed
    gw.refresh_stats()
    latencies = sorted([2.5] * 3 + [gw.get(j.id).attempts[-1].latency_s or 0 for j in sampled])
    stats = gw.figures.stats("toy", "dop-lite")
    assert stats.samples == 3 + len(done)  # every finished job counts for success and cost
    assert stats.p50_s == latencies[math.ceil(len(latencies) / 2) - 1]  # the sample's times


def warm_gateway(kit: Kit, job_s: float) -> Any:
    """A gateway whose ledger says toy's jobs take 40 s (an observed E), over an emulator
    whose jobs take `job_s`."""
    store = MemoryStore()
    for _ in range(3):
        store.create(finished_job("toy", 40.0))
    kit.emulator("toy").timing = Timing(queue_s=10.0, run_s=job_s - 10.0)
    gw = kit.gateway({"candidates": ["toy"]}, store=store)
    gw.refresh_stats()
    return gw


async def test_wait_records_a_latency_bounded_by_its_last_unfinished_read(
    kit: Kit, clock: FakeClock
) -> None:
    """`wait()` read the job unfinished at 0.97 E and done a step later, but recorded the
    time it *saw* the job done: polling lag fed the ledger's p50 (E for the next process).
    Now it records the midpoint of those two reads, as the shared poller does."""
    gw = warm_gateway(kit, job_s=40.5)
    job = await submit_one(gw, sampled=True)  # (a job outside the sample records no latency)
    done = await maybe_await(gw.wait(job))
    assert done.status is JobStatus.succeeded
    assert done.submitted_at is not None
    assert done.finished_at is not None
    seen = (done.finished_at - done.submitted_at).total_seconds()
    latency = done.attempts[-1].latency_s
    assert latency is not None
    assert latency <= seen - 0.5  # bounded by the read before, not the one that saw it
    assert abs(latency - 40.5) <= 1.5  # within half a dense step (2 s) of the truth


def test_the_ledgers_p50_counts_as_observed_only_over_enough_timed_jobs(clock: FakeClock) -> None:
    """Five finished jobs, only one of them timed: its latency alone is not an observed E
    (the typical or configured time stands), where three timed ones are."""

    def untimed(latency: float) -> Any:
        job = finished_job("toy", latency)
        attempt = job.attempts[-1].model_copy(update={"timed": False})
        return job.model_copy(update={"attempts": (attempt,)})

    kit = Kit(True, clock)
    store = MemoryStore()
    gw = kit.gateway({"candidates": ["toy"]}, store=store)
    job = gw.submit(request())
    store.create(finished_job("toy", 40.0))
    for _ in range(4):
        store.create(untimed(99.0))
    gw.refresh_stats()
    stats = gw.figures.stats("toy", "dop-lite")
    assert (stats.samples, stats.latency_samples, stats.p50_s) == (5, 1, 40.0)
    assert gw.expected_seconds(job) == pytest.approx(2.5)  # the emulator's expected_job_s
    for _ in range(2):
        store.create(finished_job("toy", 40.0))
    gw.refresh_stats()
    assert gw.expected_seconds(job) == pytest.approx(40.0)
    asyncio.run(kit.close())


async def test_wait_reads_a_job_outside_the_timing_sample_once_just_after_e(
    kit: Kit, clock: FakeClock
) -> None:
    """`wait()` follows the same sample as the shared poller: a job in it is read at 0.97 E
    and again after E, and records its latency; any other job is read once, just after E,
    and records none."""
    gw = warm_gateway(kit, job_s=39.8)
    for sampled in (True, False):
        job = await submit_one(gw, sampled)
        before = kit.emulator("toy").count("status")
        done = await maybe_await(gw.wait(job))
        assert done.status is JobStatus.succeeded
        reads = kit.emulator("toy").count("status") - before
        attempt = done.attempts[-1]
        assert (reads, attempt.timed, attempt.latency_s is not None) == (
            (2, True, True) if sampled else (1, False, False)
        ), sampled


async def test_a_lone_status_read_long_after_e_records_no_latency(
    kit: Kit, clock: FakeClock
) -> None:
    """`status()` (and the service's reads, and `videogw status`) had recorded the time it
    *saw* a job done: a caller reading every minute put up to a minute of its own polling
    into the ledger's p50, E for every process after. A first read after 1.02 E with no
    read before it says only "done by then": the attempt is untimed, with no latency."""
    gw = warm_gateway(kit, job_s=40.5)
    job = await submit_one(gw, sampled=True)
    clock.advance(120)
    done = await maybe_await(gw.status(job))
    assert done.status is JobStatus.succeeded
    attempt = gw.get(job.id).attempts[-1]
    assert (attempt.latency_s, attempt.timed) == (None, False)
    gw.refresh_stats()
    stats = gw.figures.stats("toy", "dop-lite")
    assert (stats.latency_samples, stats.p50_s) == (3, 40.0)  # the three before, alone


async def test_a_lone_status_read_by_e_records_an_upper_bound(kit: Kit, clock: FakeClock) -> None:
    gw = warm_gateway(kit, job_s=39.0)
    job = await submit_one(gw, sampled=True)
    clock.advance(40.5)  # by 1.02 E (40.8 s): the job took at most this long
    done = await maybe_await(gw.status(job))
    assert done.status is JobStatus.succeeded
    attempt = gw.get(job.id).attempts[-1]
    assert attempt.timed
    assert attempt.latency_s == pytest.approx(40.5, abs=0.5)


async def test_a_webhook_records_the_latency_of_a_job_however_late_it_finishes(
    kit: Kit, clock: FakeClock
) -> None:
    """A delivery comes as the job finishes, so the time seen is its duration, even for a
    job three times as long as E (no read before it bounds it, none is needed)."""
    gw = warm_gateway(kit, job_s=120.0)
    job = await submit_one(gw, sampled=True)
    clock.advance(120.2)
    update = StatusUpdate(
        JobStatus.succeeded,
        "completed",
        outputs=(Output(url="https://cdn.test/v.mp4", media_type="video/mp4"),),
        provider_job_id=job.provider_job_id,
    )
    done = gw.apply_webhook_update(job.id, update)
    assert done.status is JobStatus.succeeded
    attempt = gw.get(job.id).attempts[-1]
    assert attempt.timed
    assert attempt.latency_s == pytest.approx(120.2, abs=0.5)
