"""One scheduler for many in-flight jobs.

Jobs wait in a heap keyed by their next poll time (`schedule.next_poll_delay`: the first
look just before the expected duration E for the timing sample, a fifth of jobs, and just
after it for the rest, then every 5 % of E; an early look only where early failures are
common for that provider and model; 10 % of the age when E is unknown or only a prior).
Nothing runs per job: memory per job is one small `Tracked` record (what polling needs,
not the `Job`: that lives in the ledger, read when a read shows a change) and one heap
entry, so ten thousand jobs cost little. Finished jobs are handed out
(`take_done`), not kept.

E comes from `expected(job)` (the ledger's p50, or a typical time) until the poller has
seen a few jobs of that provider and model finish itself; then from what it saw
(`PollHistory`), measured without polling lag (`schedule.completion_estimate`: bounded by
the last read that found the job unfinished) on the timing sample only, so neither lag
nor the untimed jobs' later first look feeds back into E.

- Per-provider concurrency: the async driver runs `max_concurrency` workers per provider
  pulling from that provider's queue; the sync driver reads one job at a time.
- Retry-After: a throttled read pauses *the provider* (every job of it) until then.
- Webhooks: `settle(job_id, job)` drops a job a webhook already finished; a read in flight
  for it is discarded when it lands. A job a webhook will finish (`webhooked(job)`) is
  read only as a backstop, long after E (`schedule.backstop_delay`).

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
import statistics
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from . import lifecycle
from .models import Job, JobStatus
from .provider import StatusUpdate
from .schedule import (
    EARLY_FAILURE_RATE,
    EARLY_PROBE,
    completion_estimate,
    plan_poll,
)
from .schedule import timed as in_timing_sample

__all__ = [
    "Done",
    "JobKey",
    "PollHistory",
    "Poller",
    "Tracked",
    "drive_async",
    "drive_sync",
    "steps_sync",
]

log = logging.getLogger("videogw.poller")

RETRY_BACKOFF_S = (2.0, 5.0, 10.0, 20.0, 30.0)  # after failed reads, before the cap
BATCH_S = 0.01  # jobs due this close together go out in one dispatch (one wake-up)
MIN_NAP_S = 0.05  # the shortest sleep a driver's chores (`keep`) can ask for


class JobKey(Protocol):
    """What the expected-time callbacks read: a `Job` or a `Tracked` entry."""

    @property
    def provider(self) -> str | None: ...

    @property
    def model(self) -> str: ...


class Tracked:
    """One job being tracked: what polling needs, never the `Job` itself (the full job
    lives in the ledger and is read only when a read shows a change). Slots keep it to a
    few hundred bytes.

    `job` builds, on demand, the minimal `Job` a provider's `status_flow`, `build_status`
    and `parse_status` read: id, model, provider, provider_model, provider_job_id,
    provider_data, status, raw_status, progress, submitted_at, aftercare and version. It
    has no task, idempotency key, attempts, outputs or costs: never record or return it."""

    __slots__ = (
        "aftercare",
        "data",
        "due",
        "early",
        "error",
        "failures",
        "in_flight",
        "job_id",
        "model",
        "progress",
        "provider",
        "provider_job_id",
        "provider_model",
        "quiet",
        "raw_status",
        "sampled",
        "sent",
        "seq",
        "settled",
        "status",
        "submitted",
        "timed",
        "version",
    )

    def __init__(self, job: Job) -> None:
        self.job_id = job.id
        self.model = sys.intern(job.model)
        self.provider = sys.intern(job.provider or "")
        self.submitted = (job.submitted_at or job.created_at).timestamp()
        self.take(job)
        self.due = 0.0
        self.seq = 0
        self.failures = 0
        self.settled = False
        self.in_flight = False
        self.error: BaseException | None = None
        self.quiet = 0.0  # age (s since submit) when last seen unfinished; 0: never read
        self.early = False  # read before half its expected time (can tell an early failure)
        self.sent = 0.0  # monotonic time the read in flight was started; 0: unknown
        self.sampled = True  # in the timing sample (`schedule.timed`): read just before E
        self.timed = True  # its duration can be measured (False once a look after E is planned)

    def take(self, job: Job) -> None:
        """Keep what polling needs of a newer copy of the job."""
        if job.provider != self.provider:
            self.provider = sys.intern(job.provider or "")
        submitted = job.submitted_at or job.created_at
        self.submitted = submitted.timestamp()
        self.provider_model = None if job.provider_model is None else sys.intern(job.provider_model)
        self.provider_job_id = job.provider_job_id
        # shared, never copied: an empty dict (most providers) is one object for every job
        self.data: dict[str, Any] = job.provider_data or _EMPTY
        self.status = job.status
        self.raw_status = None if job.raw_status is None else sys.intern(job.raw_status)
        self.progress = job.progress
        self.version = job.version
        self.aftercare = None if job.aftercare is None else sys.intern(job.aftercare)

    @property
    def job(self) -> Job:
        """The minimal `Job` a provider needs to read this job's status (see the class)."""
        submitted = datetime.fromtimestamp(self.submitted, UTC)
        # a copy of one template, not `model_construct`, which fills each of ~20 defaults
        # again (37 us against 6 on every read); no task, idempotency key...: a plugin
        # reading one fails loudly (AttributeError)
        return _MINIMAL.model_copy(
            update={
                "id": self.job_id,
                "model": self.model,
                "status": self.status,
                "raw_status": self.raw_status,
                "provider": self.provider or None,
                "provider_model": self.provider_model,
                "provider_job_id": self.provider_job_id,
                "provider_data": self.data,
                "progress": self.progress,
                "created_at": submitted,
                "updated_at": submitted,
                "submitted_at": submitted,
                "aftercare": self.aftercare,
                "version": self.version,
            }
        )

    def shows_change(self, update: StatusUpdate) -> bool:
        """Might `update` change the job? False only when the status, progress and raw
        status are what was last seen and it carries nothing else (outputs, error, cost,
        credits, provider data not already held), so recording it would write nothing."""
        return not lifecycle.adds_nothing(
            self.status, self.progress, self.raw_status, self.data, update
        )


_EMPTY: dict[str, Any] = {}
# What `Tracked.job` copies: its other fields keep their defaults
_EPOCH = datetime.fromtimestamp(0, UTC)
_MINIMAL = Job.model_construct(  # type: ignore[call-arg]
    id="", model="", status=JobStatus.unknown, created_at=_EPOCH, updated_at=_EPOCH
)


Key = tuple[str, str]  # (provider, neutral model)
LEARN_AFTER = 3  # finished jobs of a provider+model before what was seen replaces E
RATE_AFTER = 10  # finished jobs before an in-process early-failure rate is trusted
EARLY_FAILED = (JobStatus.failed, JobStatus.content_filtered, JobStatus.expired)


class PollHistory:
    """What polling has seen finish, per provider and model: lag-free durations of
    successful jobs (the last 101) and, among jobs read before half of E (only those can
    tell), how many had already failed.

    One per poller by default; pass one to several pollers (a gateway's) to share it."""

    def __init__(self, keep: int = 101) -> None:
        self._took: dict[Key, deque[float]] = {}
        self._finished: dict[Key, int] = {}
        self._early: dict[Key, int] = {}
        self._keep = keep
        self._added: dict[Key, int] = {}  # durations ever added: what a cached median is of
        # every read asks for E, often twice: the median of 101 durations is worth keeping
        self._median: dict[Key, tuple[int, float]] = {}

    def observe(
        self,
        key: Key,
        status: JobStatus,
        took: float | None,
        expected: float | None,
        early: bool,
    ) -> None:
        """A job finished with `status` after about `took` s (None: not measured, see
        `schedule`); `early`: it was read before half of `expected`. Every job read early
        counts towards the early-failure rate: one whose time is unknown was unfinished at
        its early read, and was not seen to fail before half of E."""
        if status is JobStatus.succeeded and took is not None:
            found = self._took.get(key)
            if found is None:
                found = self._took[key] = deque(maxlen=self._keep)
            found.append(took)
            self._added[key] = self._added.get(key, 0) + 1
        if early:
            self._finished[key] = self._finished.get(key, 0) + 1
            if status in EARLY_FAILED and expected and took is not None and took < 0.5 * expected:
                self._early[key] = self._early.get(key, 0) + 1

    def expected(self, key: Key) -> float | None:
        """The median lag-free duration, once enough jobs were seen; else None."""
        found = self._took.get(key)
        if found is None or len(found) < LEARN_AFTER:
            return None
        added = self._added.get(key, 0)
        cached = self._median.get(key)
        if cached is not None and cached[0] == added:
            return cached[1]
        value = float(statistics.median(found))
        self._median[key] = (added, value)
        return value

    def early_failure_rate(self, key: Key) -> float | None:
        finished = self._finished.get(key, 0)
        if finished < RATE_AFTER:
            return None
        return self._early.get(key, 0) / finished


Done = tuple[str, "Job | Tracked"]  # a job the poller is done with: its latest full Job, or
# its entry when it has none (given up, settled without one): read the ledger for it


class Poller:
    def __init__(
        self,
        *,
        monotonic: Callable[[], float],
        wall: Callable[[], datetime],
        expected: Callable[[JobKey], float | None],
        floor: float = 1.0,
        cap: float = 30.0,
        rng: random.Random | None = None,
        prior: Callable[[JobKey], bool] | None = None,
        early_failures: Callable[[JobKey], float | None] | None = None,
        history: PollHistory | None = None,
        observed: Callable[[JobKey], bool] | None = None,
        webhooked: Callable[[JobKey], bool] | None = None,
        timing: Callable[[str], bool] = in_timing_sample,
    ) -> None:
        """`expected(job)`: E in seconds, or None. Optional inputs (defaults in brackets):

        - `prior(job)`: True when that E is not observed (a model's typical time, an empty
          ledger), so the poller looks at 10 % of the age until it has seen jobs finish;
          False when it is (the ledger's p50), so the first look is one wait (to 0.97 E
          for the timing sample, 1.02 E for the rest) whatever the cap [not told: waits
          stay within the cap, as before];
        - `early_failures(job)`: the ledger's share of that provider+model's jobs that failed
          before half of E; at 10 % or more the poller keeps one early look [what this
          poller saw on the jobs it read early, once ten of them finished; until then one
          job in ten gets the early look, to find out];
        - `history`: a `PollHistory` shared with other pollers [a new one];
        - `observed(job)`: whether E was measured, where `prior` alone cannot say (a
          configured E is neither a prior nor measured: its waits stay within the cap)
          [not `prior(job)`];
        - `webhooked(job)`: a webhook will tell this process when the job finishes, so
          its reads are only a backstop (`schedule.backstop_delay`); only for a driver
          that sets `wake`, else a delivery's `touch` would wait for the backstop [never];
        - `timing(job_id)`: whether the job is in the timing sample, whose reads bound its
          duration (a look just before E) and teach E; the others look first just after E
          and teach nothing [`schedule.timed`: a fifth of jobs, by id].

        Each callback gets a `JobKey` (a `Job` or a `Tracked` entry): its provider and
        model are all it may read."""
        self._now = monotonic
        self._wall = wall
        self._expected = expected
        self._prior = prior
        self._early_failures = early_failures
        self._observed_fn = observed
        self._webhooked = webhooked
        self._timing = timing
        # the driver's alarm (thread-safe): a job became due sooner than it planned for
        self.wake: Callable[[], None] | None = None
        self.history = history if history is not None else PollHistory()
        self.floor = floor
        self.cap = cap
        self.rng = rng or random.Random()
        self._heap: list[tuple[float, int, Tracked]] = []
        self._seq = itertools.count()
        self._entries: dict[str, Tracked] = {}
        self._paused: dict[str, float] = {}
        # jobs this poller is done with, oldest first, until whoever streams results takes
        # them (`take_done`); nothing else of a finished job is kept
        self.done: deque[Done] = deque()
        self.errors: dict[str, BaseException] = {}  # jobs given up on (they live on)
        # jobs never stored (version 0): their only full copy, until a write adopts them
        self.unstored: dict[str, Job] = {}
        self.on_done: Callable[[], None] | None = None  # told when `done` grows

    # -- adding and looking ------------------------------------------------------------
    def add(self, job: Job, *, first_delay: float | None = None) -> None:
        if job.id in self._entries:
            return
        if job.aftercare is None and (job.status.is_terminal or job.provider_job_id is None):
            self._emit(job.id, job)  # nothing to poll, nothing left to do
            return
        if job.version == 0:
            self.unstored[job.id] = job
        entry = self._entries[job.id] = Tracked(job)
        entry.sampled = self._timing(job.id)
        self._schedule(entry, first_delay)

    def add_all(self, jobs: Iterable[Job], *, first_delay: float | None = None) -> None:
        for job in jobs:
            self.add(job, first_delay=first_delay)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._entries

    def entry(self, job_id: str) -> Tracked | None:
        """The entry of a job still tracked."""
        return self._entries.get(job_id)

    def providers(self) -> set[str]:
        """The providers of the jobs still tracked."""
        return {entry.provider for entry in self._entries.values()}

    def take_done(self) -> list[Done]:
        """The jobs finished (or given up, or settled) since the last call, oldest first."""
        found = list(self.done)
        self.done.clear()
        return found

    # -- scheduling ------------------------------------------------------------------------
    def _age(self, job: Job | Tracked) -> float:
        if isinstance(job, Tracked):
            return self._wall().timestamp() - job.submitted
        return (self._wall() - (job.submitted_at or job.created_at)).total_seconds()

    def expected_for(self, job: JobKey) -> tuple[float | None, bool]:
        """E for this job and whether it is only a prior: what this poller saw finish
        (lag-free) once it saw enough, else `expected(job)`."""
        learned = self.history.expected((job.provider or "", job.model))
        if learned is not None:
            return learned, False
        prior = self._prior is not None and self._prior(job)
        return self._expected(job), prior

    def delay_for(self, job: Job | Tracked) -> float:
        expected, prior = self.expected_for(job)
        webhooked = self._webhooked is not None and self._webhooked(job)
        early = False
        if not webhooked:  # a backstop never looks early
            rate = self._early_failures(job) if self._early_failures is not None else None
            if rate is None:
                rate = self.history.early_failure_rate((job.provider or "", job.model))
            # with no rate known, probe: a few jobs get the early look (it only matters then)
            early = self.rng.random() < EARLY_PROBE if rate is None else rate >= EARLY_FAILURE_RATE
        delay, direct = plan_poll(
            self._age(job),
            expected,
            floor=self.floor,
            cap=self.cap,
            rng=self.rng,
            early_look=early,
            prior=prior,
            observed=not webhooked and self._observed(job),
            webhooked=webhooked,
            timed=job.sampled if isinstance(job, Tracked) else self._timing(job.id),
        )
        if direct and isinstance(job, Tracked):
            job.timed = False  # a look just after E bounds nothing: the job is not measured
        return delay

    def _observed(self, job: JobKey) -> bool:
        """Is E for this job measured (so the first look may be planned past the cap)?"""
        if self.history.expected((job.provider or "", job.model)) is not None:
            return True
        if self._observed_fn is not None:
            return self._observed_fn(job)
        return self._prior is not None and not self._prior(job)

    def _schedule(self, entry: Tracked, delay: float | None = None) -> None:
        now = self._now()
        due = now + (self.delay_for(entry) if delay is None else delay)
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
            if entry.seq == seq and not entry.in_flight and entry.job_id in self._entries:
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
    def _read_age(self, entry: Tracked) -> float:
        """The job's age when the read now landing was sent."""
        age = self._age(entry)
        if entry.sent:
            # what the read saw was true when it was sent: time spent queued for a worker
            # or a busy CPU after the answer came is not the job's
            age -= max(0.0, self._now() - entry.sent)
            entry.sent = 0.0
        if not entry.early:
            expected, _ = self.expected_for(entry)
            entry.early = expected is not None and age < 0.5 * expected
        return age

    def unchanged(self, entry: Tracked) -> None:
        """A read found the job as last seen (unfinished, nothing new): look again later."""
        if entry.settled:
            return
        entry.quiet = self._read_age(entry)
        entry.failures = 0
        self._schedule(entry)

    def update(self, entry: Tracked, job: Job) -> None:
        """A read (and whatever the route did about it) produced `job`."""
        if entry.settled:
            return  # a webhook finished it while the read was out; that answer stands
        age = self._read_age(entry)
        if job.status.is_terminal:
            self._learn(entry, job, age)
        else:
            entry.quiet = age
        entry.take(job)
        if job.version > 0:
            self.unstored.pop(job.id, None)  # written: the ledger holds it now
        entry.failures = 0
        if job.aftercare is None and (job.status.is_terminal or job.provider_job_id is None):
            self._finish(entry, job)
        else:
            self._schedule(entry)

    def _learn(self, entry: Tracked, job: Job, age: float) -> None:
        submitted = (job.submitted_at or job.created_at).timestamp()
        if (job.provider or "") != entry.provider or submitted != entry.submitted:
            return  # a new attempt finished on its own first read: nothing to time
        expected, _ = self.expected_for(job)
        # None: read just after E (outside the timing sample), or first read long after E:
        # it cannot say how long the job took
        took = completion_estimate(entry.quiet, age, expected) if entry.timed else None
        if took is None and not entry.early:
            return
        self.history.observe(
            (job.provider or "", job.model), job.status, took, expected, entry.early
        )

    def sending(self, entry: Tracked) -> None:
        """A driver is starting this entry's read now (what it sees is timed from here)."""
        entry.sent = self._now()

    def retry(self, entry: Tracked, delay: float | None = None) -> None:
        """A read failed in a way worth another try."""
        entry.sent = 0.0
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
        self.errors[entry.job_id] = error
        self._finish(entry, None)

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
            entry.take(job)
        entry.settled = True
        self._finish(entry, job)
        if self.wake is not None:
            self.wake()  # the last job may be gone: the driver need not sleep to its due

    def touch(self, job_id: str, job: Job, *, now: bool = False) -> None:
        """A webhook moved the job on without finishing it: keep what polling needs of the
        newer job; optionally read it right away (to confirm what the webhook said)."""
        entry = self._entries.get(job_id)
        if entry is None or entry.in_flight:
            return
        if not job.status.is_terminal:
            entry.quiet = self._age(job)  # seen unfinished now, by webhook
        entry.take(job)
        if job.version > 0:
            self.unstored.pop(job_id, None)
        if now:
            self._schedule(entry, 0.0)
            if self.wake is not None:
                self.wake()

    def stop(self) -> None:
        """Hand out no more reads: every job still tracked is dropped (it lives on; reads
        in flight are discarded when they land)."""
        for entry in self._entries.values():
            entry.settled = True
        self._entries.clear()
        self._heap.clear()
        self.unstored.clear()

    def _finish(self, entry: Tracked, job: Job | None) -> None:
        entry.in_flight = False
        self._entries.pop(entry.job_id, None)
        unstored = self.unstored.pop(entry.job_id, None)
        self._emit(entry.job_id, job or unstored or entry)

    def _emit(self, job_id: str, found: Job | Tracked) -> None:
        self.done.append((job_id, found))
        if self.on_done is not None:
            self.on_done()


StepRunner = Callable[[Tracked], Any]


def drive_sync(
    poller: Poller,
    step: Callable[[Tracked], None],
    *,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    deadline: float | None = None,
    keep: Callable[[], float | None] | None = None,
) -> None:
    """Track every job one read at a time: sleep until the next is due, read it."""
    for _ in steps_sync(
        poller, step, monotonic=monotonic, sleep=sleep, deadline=deadline, keep=keep
    ):
        pass


def steps_sync(
    poller: Poller,
    step: Callable[[Tracked], None],
    *,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    deadline: float | None = None,
    keep: Callable[[], float | None] | None = None,
) -> Iterator[None]:
    """`drive_sync`, one read per iteration (so a caller can hand out what finished in
    between). `keep`: chores between reads (renewing leases); it returns the seconds until
    it wants to run again (None: not before the next read), and no sleep outlasts that."""
    while len(poller):
        entry = poller.pop_next()
        if entry is None:
            return
        wait = entry.due - monotonic()
        if deadline is not None and monotonic() + max(wait, 0.0) > deadline:
            poller._schedule(entry, max(wait, 0.0))  # leave it for a later call
            return
        again = keep() if keep is not None else None
        while wait > 0:
            sleep(wait if again is None else min(wait, max(again, MIN_NAP_S)))
            wait = entry.due - monotonic()
            if wait > 0 and keep is not None:
                again = keep()
        poller.sending(entry)
        try:
            step(entry)
        except Exception as exc:  # a bug in one step must not stop every other job
            log.exception("job %s: poll step failed", entry.job_id)
            poller.give_up(entry, exc)
        yield


async def drive_async(
    poller: Poller,
    step: Callable[[Tracked], Awaitable[None]],
    *,
    monotonic: Callable[[], float],
    asleep: Callable[[float], Awaitable[None]],
    limits: Mapping[str, int],
    default_limit: int = 16,
    deadline: float | None = None,
    stop: asyncio.Event | None = None,
    keep: Callable[[], float | None] | None = None,
) -> None:
    """Track every job with a bounded set of workers: `limits[provider]` per provider, fed
    by one dispatcher that sleeps until the next job is due. Setting `stop` ends the
    dispatching early (the reads handed out still land). `keep`: as for `steps_sync`."""
    queues: dict[str, asyncio.Queue[Tracked]] = {}
    workers: list[asyncio.Task[None]] = []
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()

    # a webhook's touch (perhaps from a receiver's thread) reads its job now, not at the
    # backstop the dispatcher sleeps towards
    def alarm() -> None:
        loop.call_soon_threadsafe(wake.set)

    poller.wake = alarm

    async def work(queue: asyncio.Queue[Tracked]) -> None:
        while True:
            entry = await queue.get()
            try:
                poller.sending(entry)
                await step(entry)
            except Exception as exc:  # a bug in one step must not stop every other job
                log.exception("job %s: poll step failed", entry.job_id)
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
            if stop is not None and stop.is_set():
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
            again = keep() if keep is not None else None
            if again is not None and delay > 0:
                delay = min(delay, max(again, MIN_NAP_S))
            if delay <= 0:
                await asyncio.sleep(0)
                continue
            napping = asyncio.ensure_future(asleep(delay))
            waking = asyncio.ensure_future(wake.wait())
            waits = {napping, waking}
            if stop is not None:
                waits.add(asyncio.ensure_future(stop.wait()))
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()

    try:
        await dispatch()
        # steps already handed out run to the end (one may be mid-resubmit: cutting it
        # off would lose what it bought)
        for queue in queues.values():
            await queue.join()
    finally:
        poller.wake = None
        for worker in workers:
            worker.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
