"""One scheduler for many in-flight jobs.

Jobs wait in a heap keyed by their next poll time (`schedule.next_poll_delay`: first looks
near the expected duration, from the ledger's observed p50 when there is one, then backoff
with jitter to a cap). Nothing runs per job: memory per job is one small `Tracked` record
and one heap entry beside the `Job` itself, so ten thousand jobs cost little.

- Per-provider concurrency: the async driver runs `max_concurrency` workers per provider
  pulling from that provider's queue; the sync driver reads one job at a time.
- Retry-After: a throttled read pauses *the provider* (every job of it) until then.
- Webhooks: `settle(job_id, job)` drops a job a webhook already finished; a read in flight
  for it is discarded when it lands.

The poller itself does no I/O: a driver pops due jobs and runs the gateway's poll step
(a generator op) through its engine, and the step reports back with `update`, `retry` or
`give_up`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from .models import Job
from .schedule import next_poll_delay

__all__ = ["Poller", "Tracked", "drive_async", "drive_sync"]

log = logging.getLogger("videogw.poller")

RETRY_BACKOFF_S = (2.0, 5.0, 10.0, 20.0, 30.0)  # after failed reads, before the cap
BATCH_S = 0.01  # jobs due this close together go out in one dispatch (one wake-up)


class Tracked:
    """One job being tracked. Slots keep it to a few hundred bytes."""

    __slots__ = ("due", "error", "failures", "in_flight", "job", "seq", "settled")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.due = 0.0
        self.seq = 0
        self.failures = 0
        self.settled = False
        self.in_flight = False
        self.error: BaseException | None = None

    @property
    def provider(self) -> str:
        return self.job.provider or ""


class Poller:
    def __init__(
        self,
        *,
        monotonic: Callable[[], float],
        wall: Callable[[], datetime],
        expected: Callable[[Job], float | None],
        floor: float = 1.0,
        cap: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self._now = monotonic
        self._wall = wall
        self._expected = expected
        self.floor = floor
        self.cap = cap
        self.rng = rng or random.Random()
        self._heap: list[tuple[float, int, Tracked]] = []
        self._seq = itertools.count()
        self._entries: dict[str, Tracked] = {}
        self._paused: dict[str, float] = {}
        self.finished: dict[str, Job] = {}  # job id -> last job seen, once done with it
        self.errors: dict[str, BaseException] = {}  # jobs given up on (they live on)

    # -- adding and looking ------------------------------------------------------------
    def add(self, job: Job, *, first_delay: float | None = None) -> None:
        if job.id in self._entries:
            return
        if job.aftercare is None and (job.status.is_terminal or job.provider_job_id is None):
            self.finished[job.id] = job  # nothing to poll, nothing left to do
            return
        entry = self._entries[job.id] = Tracked(job)
        self._schedule(entry, first_delay)

    def add_all(self, jobs: Iterable[Job], *, first_delay: float | None = None) -> None:
        for job in jobs:
            self.add(job, first_delay=first_delay)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._entries

    def job(self, job_id: str) -> Job | None:
        entry = self._entries.get(job_id)
        return entry.job if entry is not None else self.finished.get(job_id)

    def results(self, order: Iterable[str]) -> list[Job]:
        """The latest job for each id (finished or not), in the given order."""
        found = []
        for job_id in order:
            job = self.job(job_id)
            if job is not None:
                found.append(job)
        return found

    # -- scheduling ------------------------------------------------------------------------
    def delay_for(self, job: Job) -> float:
        age = (self._wall() - (job.submitted_at or job.created_at)).total_seconds()
        return next_poll_delay(
            age, self._expected(job), floor=self.floor, cap=self.cap, rng=self.rng
        )

    def _schedule(self, entry: Tracked, delay: float | None = None) -> None:
        now = self._now()
        due = now + (self.delay_for(entry.job) if delay is None else delay)
        paused = self._paused.get(entry.provider)
        if paused is not None and due < paused:
            due = paused + self.rng.uniform(0, 1.0)  # spread the restart, no thundering herd
        entry.due = due
        entry.seq = next(self._seq)
        entry.in_flight = False
        heapq.heappush(self._heap, (due, entry.seq, entry))

    def _head(self) -> Tracked | None:
        while self._heap:
            _, seq, entry = self._heap[0]
            if entry.seq == seq and not entry.in_flight and entry.job.id in self._entries:
                return entry
            heapq.heappop(self._heap)  # stale: rescheduled, settled or finished since
        return None

    def next_due(self) -> float | None:
        head = self._head()
        return head.due if head is not None else None

    def pop_due(self, now: float | None = None) -> list[Tracked]:
        """Every job due by `now`, marked in flight."""
        now = self._now() if now is None else now
        due: list[Tracked] = []
        while (head := self._head()) is not None and head.due <= now:
            heapq.heappop(self._heap)
            paused = self._paused.get(head.provider)
            if paused is not None and now < paused:
                self._schedule(head, paused - now + self.rng.uniform(0, 1.0))
                continue
            head.in_flight = True
            due.append(head)
        return due

    def pop_next(self) -> Tracked | None:
        """The job due soonest (whenever that is), marked in flight: for the sync driver."""
        head = self._head()
        if head is None:
            return None
        heapq.heappop(self._heap)
        head.in_flight = True
        return head

    @property
    def in_flight(self) -> int:
        return sum(1 for e in self._entries.values() if e.in_flight)

    # -- what a poll step reports ------------------------------------------------------
    def update(self, entry: Tracked, job: Job) -> None:
        """A read (and whatever the route did about it) produced `job`."""
        if entry.settled:
            return  # a webhook finished it while the read was out; that answer stands
        entry.job = job
        entry.failures = 0
        if job.aftercare is None and (job.status.is_terminal or job.provider_job_id is None):
            self._finish(entry)
        else:
            self._schedule(entry)

    def retry(self, entry: Tracked, delay: float | None = None) -> None:
        """A read failed in a way worth another try."""
        if entry.settled:
            return
        entry.failures += 1
        if delay is None:
            delay = RETRY_BACKOFF_S[min(entry.failures, len(RETRY_BACKOFF_S)) - 1]
            delay = min(delay, self.cap) * (1 + self.rng.uniform(-0.1, 0.1))
        self._schedule(entry, delay)

    def give_up(self, entry: Tracked, error: BaseException) -> None:
        """Stop tracking a job whose reads keep failing; it lives on and can be resumed."""
        entry.error = error
        self.errors[entry.job.id] = error
        self._finish(entry)

    def pause(self, provider: str, seconds: float) -> None:
        """The provider asked us to wait (Retry-After): no reads to it before then."""
        until = self._now() + seconds
        if until > self._paused.get(provider, 0.0):
            self._paused[provider] = until

    def settle(self, job_id: str, job: Job | None = None) -> None:
        """A webhook (or anything else) already finished this job: stop polling it."""
        entry = self._entries.get(job_id)
        if entry is None:
            return
        if job is not None:
            entry.job = job
        entry.settled = True
        self._finish(entry)

    def touch(self, job_id: str, job: Job, *, now: bool = False) -> None:
        """A webhook moved the job on without finishing it: keep the newer job; optionally
        read it right away (to confirm what the webhook said)."""
        entry = self._entries.get(job_id)
        if entry is None or entry.in_flight:
            return
        entry.job = job
        if now:
            self._schedule(entry, 0.0)

    def _finish(self, entry: Tracked) -> None:
        entry.in_flight = False
        self._entries.pop(entry.job.id, None)
        self.finished[entry.job.id] = entry.job


StepRunner = Callable[[Tracked], Any]


def drive_sync(
    poller: Poller,
    step: Callable[[Tracked], None],
    *,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    deadline: float | None = None,
) -> None:
    """Track every job one read at a time: sleep until the next is due, read it."""
    while len(poller):
        entry = poller.pop_next()
        if entry is None:
            return
        wait = entry.due - monotonic()
        if deadline is not None and monotonic() + max(wait, 0.0) > deadline:
            poller._schedule(entry, max(wait, 0.0))  # leave it for a later call
            return
        if wait > 0:
            sleep(wait)
        step(entry)


async def drive_async(
    poller: Poller,
    step: Callable[[Tracked], Awaitable[None]],
    *,
    monotonic: Callable[[], float],
    asleep: Callable[[float], Awaitable[None]],
    limits: Mapping[str, int],
    default_limit: int = 16,
    deadline: float | None = None,
) -> None:
    """Track every job with a bounded set of workers: `limits[provider]` per provider, fed
    by one dispatcher that sleeps until the next job is due."""
    queues: dict[str, asyncio.Queue[Tracked]] = {}
    workers: list[asyncio.Task[None]] = []
    wake = asyncio.Event()

    async def work(queue: asyncio.Queue[Tracked]) -> None:
        while True:
            entry = await queue.get()
            try:
                await step(entry)
            except Exception as exc:  # a bug in one step must not stop every other job
                log.exception("job %s: poll step failed", entry.job.id)
                poller.give_up(entry, exc)
            finally:
                queue.task_done()
                wake.set()

    def queue_for(provider: str) -> asyncio.Queue[Tracked]:
        queue = queues.get(provider)
        if queue is None:
            queue = queues[provider] = asyncio.Queue()
            for _ in range(max(1, limits.get(provider, default_limit))):
                workers.append(asyncio.ensure_future(work(queue)))
        return queue

    async def dispatch() -> None:
        while len(poller):
            wake.clear()
            now = monotonic()
            if deadline is not None and now >= deadline:
                return
            for entry in poller.pop_due(now + BATCH_S):
                queue_for(entry.provider).put_nowait(entry)
            head = poller.next_due()
            if head is None:
                if not len(poller):
                    return
                await wake.wait()  # everything is in flight: wait for a step to land
                continue
            delay = head - now
            if deadline is not None:
                delay = min(delay, deadline - now)
            if delay <= 0:
                await asyncio.sleep(0)
                continue
            napping = asyncio.ensure_future(asleep(delay))
            waking = asyncio.ensure_future(wake.wait())
            _, pending = await asyncio.wait({napping, waking}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()

    try:
        await dispatch()
        # steps already handed out run to the end (one may be mid-resubmit: cutting it
        # off would lose what it bought)
        for queue in queues.values():
            await queue.join()
    finally:
        for worker in workers:
            worker.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
