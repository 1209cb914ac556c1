"""Slim tracking state (issue 17): the poller keeps what polling needs, not the `Job`;
a read that shows nothing new touches the ledger not at all, one that does writes once;
`as_finished` hands out every job exactly once."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing_kit import Kit, finished_job, request
from videogw import GenerationRequest, Job, JobStatus, StatusUpdate
from videogw.emulator import FakeClock, Timing
from videogw.ledger import new_owner
from videogw.lifecycle import accept, adds_nothing, apply_update, begin_attempt, new_job
from videogw.models import CostEstimate, ModelSpec, Task
from videogw.poller import Poller, Tracked
from videogw.provider import Accepted, Prepared, ProviderOptions
from videogw.store import MemoryStore
from videogw.testing import maybe_await

TRACKED = 2_000
BYTES_PER_JOB = 2048


class CountingStore(MemoryStore):
    """Counts the ledger reads and writes the tracking path makes."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.updates = 0

    def get(self, job_id: str) -> Job | None:
        self.gets += 1
        return super().get(job_id)

    def update(self, job: Job, **kwargs: Any) -> Job:
        self.updates += 1
        return super().update(job, **kwargs)


def _stored_jobs(n: int) -> Iterator[Job]:
    """Jobs as a ledger read gives them: each parsed from JSON, sharing nothing."""
    template = finished_job("higgsfield", 1, status=JobStatus.running, charged=None, cost=None)
    template = template.model_copy(
        update={
            "provider_job_id": "3f1c2a9e-7d4b-4c55-9a61-0b8e2f6d1c3a",
            "provider_data": {
                "status_url": "https://platform.higgsfield.ai/requests/3f1c2a9e/status",
                "cancel_url": "https://platform.higgsfield.ai/requests/3f1c2a9e/cancel",
            },
            "version": 3,
        }
    )
    text = template.model_dump_json()
    for k in range(n):
        yield Job.model_validate_json(text.replace(template.id, f"{k:032x}"))


def test_the_poller_holds_no_job_and_under_2_kib_per_tracked_job() -> None:
    poller = Poller(
        monotonic=lambda: 0.0,
        wall=lambda: datetime.fromtimestamp(1_750_000_000, UTC),
        expected=lambda job: 60.0,
    )
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        poller.add_all(_stored_jobs(TRACKED))  # each job read, handed over, dropped
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(poller) == TRACKED
    per_job = held / TRACKED
    assert per_job <= BYTES_PER_JOB, f"{per_job:.0f} bytes per tracked job"
    entry = poller.entry(f"{0:032x}")
    assert entry is not None
    assert not hasattr(entry, "__dict__")
    for name in Tracked.__slots__:
        assert not isinstance(getattr(entry, name), Job), name


def test_the_minimal_job_has_what_a_status_read_needs() -> None:
    (job,) = _stored_jobs(1)
    entry = Tracked(job)
    minimal = entry.job
    for name in (
        "id",
        "model",
        "status",
        "raw_status",
        "provider",
        "provider_model",
        "provider_job_id",
        "provider_data",
        "progress",
        "submitted_at",
        "aftercare",
        "version",
    ):
        assert getattr(minimal, name) == getattr(job, name), name


def _one_step(kit: Kit, gw: Any, poller: Poller, owner: str) -> Any:
    entry = poller.pop_next()
    assert entry is not None
    poller.sending(entry)
    return maybe_await(gw._engine.run(gw.tracker.track_step_op(poller, entry, owner)))


async def test_an_unchanged_read_neither_reads_nor_writes_the_ledger(
    kit: Kit, clock: FakeClock
) -> None:
    kit.emulator("toy").timing = Timing(queue_s=1000, run_s=1)
    store = CountingStore()
    gw = kit.gateway({"candidates": ["toy"]}, store=store)
    job = await maybe_await(gw.submit(request()))
    poller, owner = gw.tracker.new_poller(), new_owner("test")
    poller.add(job, first_delay=0.0)
    await _one_step(kit, gw, poller, owner)  # the first read may add the raw status
    store.gets = store.updates = 0
    for _ in range(3):
        clock.advance(5)
        await _one_step(kit, gw, poller, owner)
    assert kit.emulator("toy").count("status") == 4  # the reads happened
    assert (store.gets, store.updates) == (0, 0)
    assert job.id in poller


async def test_a_changed_read_writes_once(kit: Kit, clock: FakeClock) -> None:
    kit.emulator("toy").timing = Timing(queue_s=10, run_s=1000)
    store = CountingStore()
    gw = kit.gateway({"candidates": ["toy"]}, store=store)
    job = await maybe_await(gw.submit(request()))
    poller, owner = gw.tracker.new_poller(), new_owner("test")
    poller.add(job, first_delay=0.0)
    await _one_step(kit, gw, poller, owner)
    clock.advance(20)  # queued -> running
    store.gets = store.updates = 0
    await _one_step(kit, gw, poller, owner)
    assert store.updates == 1
    assert store.gets == 1  # the job in full, read once to fold the change into
    assert gw.get(job.id).status is JobStatus.running
    entry = poller.entry(job.id)
    assert entry is not None
    assert entry.status is JobStatus.running


async def test_as_finished_yields_every_job_exactly_once(kit: Kit) -> None:
    gw = kit.gateway({"candidates": ["toy"]})
    jobs = [await maybe_await(gw.submit(request(prompt=f"n{i}"))) for i in range(40)]
    kit.emulator("toy").jobs.pop(jobs[0].provider_job_id)  # lost: given up, yielded as it was
    done = await maybe_await(gw.wait_all(jobs[1:2]))  # already finished when handed over
    given: list[Any] = [done[0], *(j.id if i % 2 else j for i, j in enumerate(jobs) if i != 1)]
    stream = gw.as_finished(given)
    seen = list(stream) if kit.sync else [job async for job in stream]
    assert sorted(j.id for j in seen) == sorted(j.id for j in jobs)
    by_id = {j.id: j for j in seen}
    assert by_id[jobs[0].id].status is JobStatus.queued
    assert all(by_id[j.id].status is JobStatus.succeeded for j in jobs[1:])
    assert all(isinstance(j, Job) and j.version > 0 for j in seen)  # full jobs, as recorded
    assert not gw.tracker.pollers
    assert not gw.tracker._renew_at  # every lease released


async def test_wait_all_accepts_ids_and_keeps_the_order(kit: Kit) -> None:
    gw = kit.gateway({"candidates": ["toy"]})
    jobs = [await maybe_await(gw.submit(request(prompt=f"n{i}"))) for i in range(5)]
    done = await maybe_await(gw.wait_all([j.id for j in jobs]))
    assert [j.id for j in done] == [j.id for j in jobs]
    assert all(j.status is JobStatus.succeeded for j in done)


async def test_leaving_as_finished_early_stops_the_reads_and_releases(akit: Kit) -> None:
    gw = akit.gateway({"candidates": ["toy"]})
    jobs = [await gw.submit(request(prompt=f"n{i}")) for i in range(10)]
    stream = gw.as_finished(jobs)
    first = await stream.__anext__()
    await stream.aclose()
    assert first.id in {j.id for j in jobs}
    assert not gw.tracker.pollers
    assert not gw.tracker._renew_at


@pytest.fixture
async def akit(clock: FakeClock) -> AsyncIterator[Kit]:
    kit = Kit(False, clock)
    yield kit
    await kit.close()


# -- a read that adds nothing is not folded in at all ------------------------------------

_T0 = datetime(2026, 1, 1, tzinfo=UTC)
_LIVE = st.sampled_from([JobStatus.queued, JobStatus.running, JobStatus.unknown])


def _accepted_job(status: JobStatus, raw: str | None, data: dict[str, str]) -> Job:
    req = GenerationRequest(model="dop-lite", prompt="p", image="https://x.test/a.jpg")
    prepared = Prepared(
        req,
        "higgsfield",
        "dop-lite",
        ModelSpec(provider_model="dop-lite", task=Task.image_to_video),
        ProviderOptions(),
    )
    estimate = CostEstimate(amount=Decimal("0.1"), usd=Decimal("0.1"), basis="t", source="t")
    job = new_job(req, model="dop-lite", task=Task.image_to_video, now=_T0)
    job = begin_attempt(job, prepared, started=_T0, now=_T0, estimate=estimate)
    return accept(job, 0, prepared, Accepted("pj-1", status, raw, data), now=_T0)


@given(
    held=_LIVE,
    said=_LIVE,
    raw=st.sampled_from([None, "IN_QUEUE", "PROCESSING"]),
    said_raw=st.sampled_from([None, "IN_QUEUE", "PROCESSING"]),
    data=st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from(["1", "2"]), max_size=2),
    said_data=st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from(["1", "2"]), max_size=2),
    progress=st.sampled_from([None, 0.5]),
    charged=st.sampled_from([None, True]),
)
def test_adds_nothing_means_apply_update_changes_only_the_time(
    held: JobStatus,
    said: JobStatus,
    raw: str | None,
    said_raw: str | None,
    data: dict[str, str],
    said_data: dict[str, str],
    progress: float | None,
    charged: bool | None,
) -> None:
    """The short cut `Tracker.record_update` and `Tracked.shows_change` take must agree
    with folding the update in: when it says nothing is new, nothing but the time is."""
    job = _accepted_job(held, raw, data)
    update = StatusUpdate(
        said, said_raw, progress=progress, charged=charged, provider_data=said_data
    )
    folded = apply_update(job, update, now=_T0.replace(year=2027))
    unchanged = folded.model_copy(update={"updated_at": job.updated_at}) == job
    if adds_nothing(job.status, job.progress, job.raw_status, job.provider_data, update):
        assert unchanged
