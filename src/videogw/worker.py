"""`Worker`: a long-running process that tracks the fleet's open jobs.

It claims open jobs in batches (`Ledger.claim`: `FOR UPDATE SKIP LOCKED` on PostgreSQL, one
writer on SQLite), tracks them with the adaptive poller under their leases, renews those
leases in one transaction every third of a lease, and applies the route's rules after
acceptance through the `Tracker` (a refunded failure moves to the next candidate; a job
queued past its deadline is cancelled, then resubmitted). As jobs end it claims more. Each
state change is one log line. `stop()` (SIGTERM in `videogw worker`) stops claiming and
starting reads, lets the steps in flight finish (one may be mid-resubmit), and releases
the leases of the rest so another worker takes them at once.

On PostgreSQL the worker also LISTENs for the webhook receivers' NOTIFYs (`Ledger.listen`):
a delivery recorded by any receiver makes the worker that holds the job look at it at
once instead of at its next scheduled read.

    async with AsyncGateway(config) as gw:
        await Worker(gw, concurrency=200, batch=50).run()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from .events import FailedOver, JobEvent, OutcomeUnknown, StatusChanged, Submitted
from .gateway import AsyncGateway
from .ledger import new_owner
from .poller import Poller, Tracked

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger("videogw.worker")

IDLE_S = 1.0  # how long an idle worker waits before claiming again (a NOTIFY cuts it short)


@dataclass
class WorkerStats:
    claimed: int = 0
    finished: int = 0
    reads: int = 0
    lost: int = 0  # leases another process took (this worker stalled past a lease)
    released: int = 0  # leases given back on stop
    woken: int = 0  # webhook notifications that made a job be read at once
    owner: str = ""
    errors: dict[str, str] = field(default_factory=dict)


class Worker:
    """Track open jobs from the ledger until `stop()`: see the module docstring.

    `concurrency`: jobs this worker holds (tracks) at once. `batch`: jobs claimed per
    transaction. `lease_s`: the lease on each job (default: `[ledger] lease_s`); a killed
    worker's jobs are taken over by another once it expires. `idle_s`: how long to wait
    between claims when nothing is open. `exit_when_idle`: return once nothing is left to
    claim (for tests and one-shot runs)."""

    def __init__(
        self,
        gateway: AsyncGateway,
        *,
        concurrency: int = 100,
        batch: int = 50,
        lease_s: float | None = None,
        idle_s: float = IDLE_S,
        exit_when_idle: bool = False,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        if concurrency < 1 or batch < 1:
            raise ValueError("concurrency and batch must be at least 1")
        self.gateway = gateway
        self.tracker = gateway.tracker
        self.ledger = gateway.store
        self.concurrency = concurrency
        self.batch = batch
        self.lease_s = float(lease_s if lease_s is not None else gateway.config.ledger.lease_s)
        if lease_s is not None:
            gateway.config.ledger.lease_s = self.lease_s  # the tracker renews with it too
        self.idle_s = idle_s
        self.exit_when_idle = exit_when_idle
        self.owner = new_owner("worker")
        self.stats = WorkerStats(owner=self.owner)
        self._on_line = on_line or (lambda line: log.info("%s", line))
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._notified: set[str] = set()
        self._poller: Poller | None = None

    # -- control ------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop claiming and starting reads; `run()` returns once the steps in flight end
        (safe to call from a signal handler on the loop)."""
        self._stopping.set()
        self._wake.set()

    def notify(self, job_id: str) -> None:
        """Something recorded news about `job_id` (a webhook): look at it now."""
        self._notified.add(job_id)
        self._wake.set()

    @property
    def held(self) -> int:
        return len(self._poller) if self._poller is not None else 0

    # -- the loop -----------------------------------------------------------------------
    async def run(self) -> WorkerStats:
        tracker = self.tracker
        poller = self._poller = tracker.new_poller(woken=True)
        tracker.pollers.append(poller)
        unsubscribe = self.gateway.on_event(self._log_event)
        loop = asyncio.get_running_loop()

        def heard(job_id: str) -> None:  # on the listener's thread
            loop.call_soon_threadsafe(self.notify, job_id)

        listener = self.ledger.listen(heard)

        def alarm() -> None:  # a receiver in this process touches the poller directly
            loop.call_soon_threadsafe(self._wake.set)

        poller.wake = alarm
        if listener is not None:
            # receivers elsewhere NOTIFY of deliveries for jobs leased here: this worker
            # reads those jobs at once, so its polling is only a backstop
            tracker.hears_webhooks = True
        tasks: set[asyncio.Task[None]] = set()
        limits: dict[str, asyncio.Semaphore] = {}
        monotonic = self.gateway.clock.monotonic
        next_claim = 0.0
        next_renew = monotonic() + self.lease_s / 3
        self._on_line(f"worker {self.owner}: started on {self.ledger.location}")
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                now = monotonic()
                if self._notified:
                    self._look_now(poller)
                if now >= next_renew:
                    self._renew(poller)
                    next_renew = now + self.lease_s / 3
                room = self.concurrency - len(poller)
                if room > 0 and now >= next_claim:
                    got = self.ledger.claim(self.owner, self.lease_s, min(self.batch, room))
                    if got:
                        tracker.hold_claimed(self.owner, got)
                        self.stats.claimed += len(got)
                        poller.add_all(got, first_delay=0.0)
                        self._on_line(f"worker: claimed {len(got)} jobs ({len(poller)} held)")
                        self._forget_finished(poller)
                    full = len(got) == min(self.batch, room)
                    next_claim = now if full else now + self.idle_s
                    if not got and not len(poller) and not tasks and self.exit_when_idle:
                        break
                for entry in poller.pop_due(now + 0.01):
                    task = asyncio.ensure_future(self._step(poller, entry, limits))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    task.add_done_callback(lambda _t: self._wake.set())
                head = poller.next_due()
                wake_at = min(next_renew, next_claim if len(poller) < self.concurrency else 1e18)
                if head is not None:
                    wake_at = min(wake_at, head)
                delay = max(0.0, wake_at - monotonic())
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=delay)
                else:
                    await asyncio.sleep(0)
            # stopping: the steps in flight run to the end (one may be mid-resubmit)
            if tasks:
                await asyncio.gather(*list(tasks), return_exceptions=True)
            self._forget_finished(poller)
            held = [entry for entry in list(poller._entries)]
            tracker.release_all(self.owner, held)
            self.stats.released = len(held)
            self._on_line(
                f"worker {self.owner}: stopped; released {len(held)} jobs, "
                f"{self.stats.finished} finished here"
            )
            return self.stats
        finally:
            for task in list(tasks):
                task.cancel()
            if listener is not None:
                listener.close()
            unsubscribe()
            if poller in tracker.pollers:
                tracker.pollers.remove(poller)

    async def _step(
        self, poller: Poller, entry: Tracked, limits: dict[str, asyncio.Semaphore]
    ) -> None:
        provider = entry.provider
        limit = limits.get(provider)
        if limit is None:
            known = self.tracker.limits_for([provider]).get(provider, 16)
            limit = limits[provider] = asyncio.Semaphore(known)
        async with limit:
            self.stats.reads += 1
            try:
                await self.gateway._engine.run(
                    self.tracker.track_step_op(poller, entry, self.owner)
                )
            except Exception as exc:  # a bug in one step must not stop every other job
                log.exception("job %s: poll step failed", entry.job_id)
                self.stats.errors[entry.job_id] = str(exc)
                poller.give_up(entry, exc)
                self.tracker.let_go(entry.job_id, self.owner)
        if entry.job_id not in poller:
            self.stats.finished += 1

    def _renew(self, poller: Poller) -> None:
        """Renew every held lease in one transaction; drop the jobs another took over."""
        ids = [job_id for job_id in list(poller._entries)]
        if not ids:
            return
        kept = self.tracker.renew(self.owner, ids)
        for job_id in ids:
            if job_id not in kept:
                entry = poller._entries.get(job_id)
                if entry is not None and not entry.in_flight:
                    self.stats.lost += 1
                    self._on_line(f"job {job_id}: lease lost to another process; left to it")
                    poller.settle(job_id)

    def _look_now(self, poller: Poller) -> None:
        ids, self._notified = self._notified, set()
        for job_id in ids:
            if job_id in poller:
                current = self.ledger.get(job_id)
                if current is not None:
                    self.stats.woken += 1
                    poller.touch(job_id, current, now=True)

    def _forget_finished(self, poller: Poller) -> None:
        # a worker runs for days: keep no record of jobs it is done with
        poller.take_done()
        poller.errors.clear()

    def _log_event(self, event: JobEvent) -> None:
        job = event.job
        where = f"{job.provider} {job.provider_job_id}" if job.provider_job_id else job.provider
        if isinstance(event, StatusChanged):
            previous = event.previous.value if event.previous is not None else "-"
            line = f"job {job.id}: {previous} -> {job.status.value} ({where})"
        elif isinstance(event, FailedOver):
            to = event.next_provider or "no candidate left"
            line = f"job {job.id}: failed over {event.provider} -> {to}: {event.reason}"
        elif isinstance(event, Submitted):
            line = f"job {job.id}: resubmitted, accepted by {where}"
        elif isinstance(event, OutcomeUnknown):
            line = f"job {job.id}: submit outcome unknown at {job.provider}: reconcile it"
        else:
            return  # Finished repeats the StatusChanged line
        self._on_line(line)
