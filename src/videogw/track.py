"""Tracking accepted jobs: status reads, cancel, wait, many jobs at once, webhook updates,
and the money rules after acceptance (DESIGN §5), all under the job's lease.

Whatever acts on an accepted job — polling it, a webhook's confirming read, cancel,
resubmit — holds its lease in the ledger (taken atomically, renewed while working,
released at the end, taken over when expired). A second `wait`, `resume` or receiver that
finds a job leased follows it through the ledger instead; it never acts on it. A refunded
failure on a `retry_failed` route is marked for aftercare in the same write that records
it, so a crash between the two never drops the resubmit.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from . import lifecycle
from .config import Config, RouteConfig
from .engine import Clock, Op, RetryPolicy, Sleep, drive
from .errors import (
    JobFailedError,
    JobLeasedError,
    NotCancellableError,
    OutcomeUnknownError,
    ProviderError,
    TransportError,
    VideoGWError,
    WaitTimeoutError,
)
from .figures import Figures
from .health import ProviderHealth
from .ledger import Ledger, current_group, new_owner
from .models import GenerationRequest, Job, JobStatus
from .policy import Situation, decide
from .poller import JobKey, Poller, PollHistory, Tracked
from .provider import StatusUpdate
from .providerset import Providers
from .recorder import Recorder
from .router import Plan, Router
from .schedule import completion_estimate, plan_poll
from .schedule import timed as in_timing_sample
from .submit import Submitter

__all__ = ["MAX_STATUS_FAILURES", "POLL_ONCE", "ProgressCallback", "ResumeReport", "Tracker"]

log = logging.getLogger("videogw")

ProgressCallback = Callable[[Job], None]
MAX_STATUS_FAILURES = 8  # consecutive failed reads before tracking a job gives up (it lives on)
MIN_SAMPLES = 3  # timed jobs before the ledger's p50 replaces the typical duration
# The poller retries failed reads itself (rescheduling), so a worker is never held asleep.
POLL_ONCE = RetryPolicy(max_attempts=1)
RESUBMIT = "resubmit"


@dataclass(frozen=True)
class ResumeReport:
    """What `resume()` did: every job it tracked, as last seen (terminal unless its reads
    kept failing or the timeout passed), and the submits whose outcome is unknown, left
    untouched for reconciliation with the provider."""

    jobs: list[Job]
    unknown: list[Job]
    errors: dict[str, str] = field(default_factory=dict)
    # open jobs another live process holds (their leases have not expired): left to it
    held: list[Job] = field(default_factory=list)


class Tracker:
    def __init__(
        self,
        *,
        config: Config,
        providers: Providers,
        router: Router,
        recorder: Recorder,
        submitter: Submitter,
        health: ProviderHealth,
        clock: Clock,
        retry: RetryPolicy,
        figures: Figures,
    ) -> None:
        self.config = config
        self.providers = providers
        self.router = router
        self.recorder = recorder
        self.submitter = submitter
        self.health = health
        self.clock = clock
        self.retry = retry
        self.figures = figures
        self.pollers: list[Poller] = []
        self.history = PollHistory()
        # a receiver built on this gateway, or a worker listening to the ledger's NOTIFY,
        # tells this process's pollers of deliveries (set by them): see `webhooked`
        self.hears_webhooks = False
        self._renew_at: dict[tuple[str, str], float] = {}  # (owner, job) -> monotonic
        # per owner, no later than its earliest renewal due (see `keep_leases`)
        self._next_renewal: dict[str, float] = {}

    @property
    def ledger(self) -> Ledger:
        return self.recorder.ledger

    @property
    def lease_s(self) -> float:
        return self.config.ledger.lease_s

    # -- leases -------------------------------------------------------------------------
    def hold(self, job_id: str, owner: str) -> bool:
        """Take or keep the job's lease for `owner` (renewed once half of it has passed)."""
        key = (owner, job_id)
        now = self.clock.monotonic()
        due = self._renew_at.get(key)
        if due is not None and now < due:
            return True
        if not self.ledger.acquire(job_id, owner, self.lease_s):
            self._renew_at.pop(key, None)
            return False
        self._held(owner, [job_id], now)
        return True

    def _held(self, owner: str, job_ids: list[str], now: float) -> None:
        """`owner` took or renewed these leases: no need to write again for half a lease.
        Taken in a grouped write, a lease is only as good as its commit: if that fails,
        forget it, or the next `hold` would trust a lease another process may now take."""
        until = now + self.lease_s / 2
        for job_id in job_ids:
            self._renew_at[(owner, job_id)] = until
        if job_ids:
            self._next_renewal[owner] = min(until, self._next_renewal.get(owner, until))
        group = current_group()
        if group is not None and job_ids:

            def forget() -> None:
                for job_id in job_ids:
                    if self._renew_at.get((owner, job_id)) == until:
                        del self._renew_at[(owner, job_id)]

            group.undo.append(forget)

    def adopt(self, job_id: str, owner: str) -> None:
        """`owner` already holds this job's lease (taken when it was created)."""
        now = self.clock.monotonic()
        self._renew_at[(owner, job_id)] = now
        self._next_renewal[owner] = min(now, self._next_renewal.get(owner, now))

    def keep_leases(self, owner: str) -> float | None:
        """Renew, in one transaction, `owner`'s leases that are half spent: the jobs it
        tracks but has not read for half a lease (a first look planned past the lease, a
        webhook's backstop) would otherwise expire under a live process, and a `resume` or
        a worker elsewhere would take them over. Returns the seconds until the next renewal
        is due (None: `owner` holds nothing). Cheap when none is due: the pollers' drivers
        call it before every read and sleep."""
        now = self.clock.monotonic()
        earliest = self._next_renewal.get(owner)
        if earliest is None:
            return None
        if now < earliest:
            return earliest - now
        due = [job for (who, job), at in self._renew_at.items() if who == owner and at <= now]
        if due:
            self.renew(owner, due)
        nearest = min((at for (who, _), at in self._renew_at.items() if who == owner), default=None)
        if nearest is None:
            self._next_renewal.pop(owner, None)
            return None
        self._next_renewal[owner] = nearest
        return max(nearest - self.clock.monotonic(), 0.0)

    def let_go(self, job_id: str, owner: str) -> None:
        if self._renew_at.pop((owner, job_id), None) is not None:
            self.ledger.release(job_id, owner)

    # -- recording what a provider said ---------------------------------------------------
    def route_of(self, job: Job) -> RouteConfig | None:
        return self.router.route_for(job.model)

    def _mark(self, before: Job, after: Job) -> Job:
        """Aftercare the money rules ask for, decided in the write that records the change:
        a refunded failure on a `retry_failed` route moves to the next candidate."""
        if (
            after.status is JobStatus.failed
            and before.status is not JobStatus.failed
            and after.charged is False
            and after.aftercare is None
            and decide(Situation.failed_refunded, self.route_of(after)).try_next
        ):
            return after.model_copy(update={"aftercare": RESUBMIT})
        return after

    def record_update(
        self,
        job: Job,
        update: StatusUpdate,
        *,
        quiet_age: float | None = None,
        timed: bool = True,
        prompt: bool = False,
    ) -> Job:
        """Fold a status read or a verified webhook into the job, as a compare-and-swap; an
        update about an attempt the job has since left is dropped.

        The latency recorded for a finished job must not carry polling lag into the
        expected time (`schedule.completion_estimate`). `quiet_age` is the job's age (s
        since submit) at the last read that saw it unfinished: the latency is bounded by
        that read. With none (None or 0: a lone `status()` read, the service's reads), a
        first look by 1.02 E is an upper bound and a later one records no latency (the
        attempt is untimed). `prompt`: the update came as the job finished (a webhook
        delivery, or the read one set off), so the time seen is its duration.
        `timed=False`: the job is outside the poller's timing sample, so its latency is
        recorded as unknown (`Attempt.timed`; `schedule` says why)."""
        if (
            not update.status.is_terminal
            and (not job.attempts or job.attempts[-1].status is update.status)
            and lifecycle.adds_nothing(
                job.status, job.progress, job.raw_status, job.provider_data, update
            )
        ):
            return job  # what `transition` would find: nothing to write (most reads)
        about = job.provider_job_id
        latency = None
        if update.status.is_terminal and timed:
            latency, timed = self._latency(job, quiet_age, prompt)

        def transition(current: Job) -> Job | None:
            if current.provider_job_id != about or about is None:
                return None  # the job moved on (resubmitted): this is about an old attempt
            new = lifecycle.apply_update(
                current, update, now=self.clock.now(), latency_s=latency, timed=timed
            )
            if new.model_copy(update={"updated_at": current.updated_at}) == current:
                return None  # nothing new: no write (the poller reads ten thousand jobs)
            return self._mark(current, new)

        return self.recorder.change(job, transition)

    def _latency(
        self, job: Job, quiet_age: float | None, prompt: bool
    ) -> tuple[float | None, bool]:
        """The finished job's latency and whether it is known (`record_update`)."""
        started = self.submitter.monotonic_start(job.id)
        seen = (
            max(0.0, self.clock.monotonic() - started)
            if started is not None
            else (self.clock.now() - job.submitted_at).total_seconds()
            if job.submitted_at is not None
            else None
        )
        if seen is None or seen < 0:
            return None, True  # a wall clock stepped back: lifecycle falls back, never < 0
        if prompt:
            return seen, True
        estimate = completion_estimate(quiet_age or 0.0, seen, self.expected_seconds(job))
        if estimate is not None:
            return max(0.0, estimate), True
        if quiet_age:  # bounded by a read that saw it unfinished, if not closely
            return seen, True
        # first seen long after E, no read before it: it says only "done by then", and
        # recorded as a duration it would walk E up by the reader's polling interval
        return None, False

    def _read_op(
        self,
        job: Job,
        policy: RetryPolicy | None = None,
        quiet_age: float | None = None,
        timed: bool = True,
        prompt: bool = False,
    ) -> Op[Job]:
        update = yield from self._status_read_op(job, policy)
        return self.record_update(job, update, quiet_age=quiet_age, timed=timed, prompt=prompt)

    def _status_read_op(self, job: Job, policy: RetryPolicy | None = None) -> Op[StatusUpdate]:
        """Ask the provider for the job's status (nothing recorded). `job` may be the
        minimal one a poller's entry builds (`Tracked.job`)."""
        if job.provider is None or job.provider_job_id is None:
            raise OutcomeUnknownError(
                f"job {job.id} has no provider job id: its submit outcome is unknown, so "
                "there is nothing to poll; reconcile it with the provider",
                provider=job.provider,
            )
        provider = self.providers.get(job.provider)
        update = yield from drive(provider, provider.status_flow(job), policy or self.retry)
        if update.remaining_credits is not None:
            threshold = getattr(provider.settings, "low_credit_threshold", None)
            self.health.credits.observe(provider.instance, update.remaining_credits, threshold)
        if update.status is JobStatus.unknown and update.raw_status is not None:
            log.warning(
                "job %s: %s reported an unmapped status %r",
                job.id,
                provider.instance,
                update.raw_status,
                extra={"job_id": job.id},
            )
        return update

    def status_op(self, job: Job) -> Op[Job]:
        """One status read, recorded (no lease needed: the write is a compare-and-swap)."""
        if job.version > 0:
            job = self.ledger.get(job.id) or job
        return (yield from self._read_op(job))

    def cancel_op(self, job: Job) -> Op[Job]:
        if job.provider is None or job.provider_job_id is None:
            raise OutcomeUnknownError(
                f"job {job.id} has no provider job id to cancel", provider=job.provider
            )
        owner = new_owner("cancel")
        if job.version > 0 and not self.hold(job.id, owner):
            lease = self.ledger.lease(job.id)
            raise JobLeasedError(job.id, lease.owner if lease else None)
        try:
            if job.version > 0:
                job = self.ledger.get(job.id) or job
            provider = self.providers.get(job.provider or "")
            update = yield from drive(provider, provider.cancel_flow(job), self.retry)
            return self.record_update(job, update)
        finally:
            self.let_go(job.id, owner)

    # -- after acceptance (under the lease) ---------------------------------------------
    def poll_op(
        self,
        job: Job,
        owner: str,
        policy: RetryPolicy | None = None,
        quiet_age: float | None = None,
        timed: bool = True,
    ) -> Op[Job]:
        """One status read, then the route's rules after acceptance (`quiet_age`, `timed`:
        as for `record_update`)."""
        if job.aftercare is None:
            job = yield from self._read_op(job, policy, quiet_age, timed)
        return (yield from self.aftercare_op(job, owner))

    def aftercare_op(self, job: Job, owner: str) -> Op[Job]:
        if job.aftercare == RESUBMIT:
            why = job.error.message if job.error is not None else "failed"
            return (yield from self._resubmit_op(job, owner, f"failed_refunded: {why}"))
        if job.status is JobStatus.queued:
            return (yield from self._queued_deadline_op(job, owner))
        return job

    def _queued_deadline_op(self, job: Job, owner: str) -> Op[Job]:
        route = self.route_of(job)
        deadline = route.queued_deadline_s if route is not None else None
        if deadline is None or job.submitted_at is None or job.provider is None:
            return job
        current = job.attempts[-1] if job.attempts else None
        age = (self.clock.now() - job.submitted_at).total_seconds()
        if age < deadline or current is None or current.reason is not None:
            return job  # not yet, or already dealt with
        provider = self.providers.get(job.provider)
        cancellable = provider.capabilities.cancel
        situation = (
            Situation.queued_deadline_cancel if cancellable else Situation.queued_deadline_no_cancel
        )
        decision = decide(situation, route)
        plan = self._next_plan(job) if decision.try_next else None
        if not decision.cancel_first or plan is None:
            why = "no cancel exists" if not cancellable else "no other candidate to move to"
            return self._keep_tracking(job, f"queued past the {deadline:g} s deadline; {why}")
        try:
            update = yield from drive(provider, provider.cancel_flow(job), self.retry)
        except NotCancellableError:
            return self._keep_tracking(job, "queued past the deadline, but it already started")
        except (ProviderError, TransportError) as exc:
            log.warning("job %s: cancel after the queued deadline failed: %s", job.id, exc)
            return job  # the next read tries again
        cancelled = self.record_update(job, update)
        if cancelled.status is not JobStatus.cancelled:
            return cancelled
        reason = f"{situation.value}: queued past {deadline:g} s, cancelled"
        return (yield from self._resubmit_op(cancelled, owner, reason, plan=plan))

    def _keep_tracking(self, job: Job, reason: str) -> Job:
        log.info("job %s: %s; kept tracking it", job.id, reason, extra={"job_id": job.id})
        return self.recorder.change(
            job,
            lambda j: lifecycle.note_attempt(j, f"{reason}; kept tracking", now=self.clock.now()),
        )

    def _request_for(self, job: Job) -> GenerationRequest | None:
        try:
            return self.ledger.load_request(job.id)
        except (ValueError, OSError) as exc:  # e.g. a local input file is gone
            log.warning("job %s: stored request unusable: %s", job.id, exc)
            return None

    def _next_plan(self, job: Job) -> Plan | None:
        request = self._request_for(job)
        if request is None:
            log.warning("job %s: its request is not stored, so it cannot move on", job.id)
            return None
        tried = {attempt.provider for attempt in job.attempts}
        try:
            return self.router.plan(request, exclude=tried)
        except VideoGWError as exc:
            log.info("job %s: no candidate to move on to (%s)", job.id, exc)
            return None

    def _resubmit_op(self, job: Job, owner: str, reason: str, plan: Plan | None = None) -> Op[Job]:
        # the lease is checked right before money moves: a process that lost it acts no more
        if not self.hold(job.id, owner):
            return self.ledger.get(job.id) or job
        plan = plan or self._next_plan(job)
        request = self._request_for(job) if plan is not None else None
        if plan is None or request is None:
            return self.recorder.change(
                job,
                lambda j: (
                    j.model_copy(update={"aftercare": None, "updated_at": self.clock.now()})
                    if j.aftercare is not None
                    else None
                ),
            )
        self.submitter.failed_over(job, job.provider or "", plan.candidates[0].provider, reason)
        return (
            yield from self.submitter.attempts_op(job, request, plan, owner, raise_errors=False)
        )

    # -- waiting ------------------------------------------------------------------------
    def expected_seconds(self, job: JobKey) -> float | None:
        """How long the job should take: the ledger's observed p50 for its provider and
        model, else the provider's configured or typical duration."""
        return self._expected(job)[0]

    def _typical_only(self, job: JobKey) -> bool:
        """Is the expected time only a model's typical figure (none observed or set)?"""
        return self._expected(job)[1] == "typical"

    def _observed(self, job: JobKey) -> bool:
        """Is the expected time the ledger's observation (so a first look may be planned
        past the poll cap)?"""
        return self._expected(job)[1] == "observed"

    def webhooked(self, job: JobKey) -> bool:
        """Will a webhook tell this process when the job finishes? Its provider sends
        them, the config asks for them (`public_url`), and a receiver in this process (or
        a NOTIFY this process listens to) passes them on to its pollers. Without the last,
        a delivery reaches a receiver elsewhere that leaves the job to its lease holder,
        which would only find out by polling, so it polls as if there were no webhooks."""
        if not self.hears_webhooks or not self.config.public_url or job.provider is None:
            return False
        try:
            return self.providers.get(job.provider).capabilities.webhooks
        except VideoGWError:
            return False

    def _expected(self, job: JobKey) -> tuple[float | None, str]:
        """E and where it came from: "observed" (the ledger's p50), "configured" (the
        provider's `expected_job_s`), "typical" (the model's typical time) or "none"."""
        if job.provider is None:
            return None, "none"
        observed = self.figures.stats(job.provider, job.model)
        # (a ledger of another make may not count `latency_samples`: its `samples` stand in)
        if (
            observed is not None
            and observed.p50_s
            and (observed.latency_samples or observed.samples) >= MIN_SAMPLES
        ):
            return observed.p50_s, "observed"
        try:
            provider = self.providers.get(job.provider)
        except VideoGWError:
            return None, "none"
        if provider.settings.expected_job_s:
            return provider.settings.expected_job_s, "configured"
        spec = provider.capabilities.models.get(job.model)
        typical = spec.typical_seconds if spec is not None else None
        return typical, "typical" if typical is not None else "none"

    def next_delay(self, job: Job, *, timed: bool = True) -> float:
        """Seconds until the job's next status read is worth making (the adaptive
        schedule; what `wait` sleeps and what the server's poll-after header says).
        `timed=False`: the job is outside the timing sample (`schedule.timed`)."""
        return self._plan(job, timed)[0]

    def _plan(self, job: Job, timed: bool) -> tuple[float, bool]:
        """The delay to the next read, and whether it is an untimed job's look just after
        E (a read that bounds nothing: `schedule.plan_poll`)."""
        age = (self.clock.now() - (job.submitted_at or job.created_at)).total_seconds()
        expected, source = self._expected(job)
        return plan_poll(
            age,
            expected,
            floor=self.config.poll.floor_s,
            cap=self.config.poll.cap_s,
            prior=source == "typical",
            observed=source == "observed",
            timed=timed,
        )

    def wait_op(
        self,
        job: Job,
        timeout: float | None,
        on_progress: ProgressCallback | None,
        raise_on_failure: bool,
        owner: str | None = None,
    ) -> Op[Job]:
        owner = owner or new_owner("wait")
        started = self.clock.monotonic()
        failures = 0
        quiet: float | None = None  # the job's age at the last read that saw it unfinished
        # as the shared poller: only the timing sample looks just before E, and a job read
        # first just after E records no latency (`schedule`)
        sampled = in_timing_sample(job.id)
        measured = True
        if job.version > 0:
            job = self.ledger.get(job.id) or job
        try:
            while not job.status.is_terminal or job.aftercare is not None:
                if job.provider_job_id is None and job.aftercare is None:
                    return job  # a submit's outcome is unknown: nothing to poll
                delay = 0.0
                if job.aftercare is None:
                    delay, direct = self._plan(job, sampled)
                    measured = measured and not direct
                waited = self.clock.monotonic() - started
                last_look = timeout is not None and waited + delay >= timeout
                if last_look:
                    assert timeout is not None
                    delay = max(0.0, timeout - waited)
                yield Sleep(delay)
                leased = job.version == 0 or self.hold(job.id, owner)
                age = (self.clock.now() - (job.submitted_at or job.created_at)).total_seconds()
                try:
                    if leased:
                        # with `quiet`, the latency recorded is bounded by the read before
                        new = yield from self.poll_op(job, owner, quiet_age=quiet, timed=measured)
                    else:
                        # another process acts on this job: follow it through the ledger
                        new = self.ledger.get(job.id) or job
                except (TransportError, ProviderError) as exc:
                    failures += 1
                    if not exc.retryable or failures >= MAX_STATUS_FAILURES:
                        raise
                    log.warning("job %s: status read failed (%s); will look again", job.id, exc)
                    new = job
                else:
                    failures = 0
                    if new.submitted_at != job.submitted_at:
                        quiet, measured = None, True  # resubmitted: a new attempt, afresh
                    elif leased and not new.status.is_terminal:
                        quiet = age
                if on_progress is not None and (new.status, new.progress) != (
                    job.status,
                    job.progress,
                ):
                    on_progress(new)
                job = new
                if last_look and (not job.status.is_terminal or job.aftercare is not None):
                    raise WaitTimeoutError(job, self.clock.monotonic() - started)
        finally:
            self.let_go(job.id, owner)
        if raise_on_failure and job.status is not JobStatus.succeeded:
            raise JobFailedError(job)
        return job

    # -- many jobs ------------------------------------------------------------------------
    def new_poller(self, *, woken: bool = False) -> Poller:
        """`woken=True`: its driver sets `Poller.wake` (the async driver, the worker), so
        jobs a webhook will finish (`webhooked`) are read only as a backstop."""
        return Poller(
            monotonic=self.clock.monotonic,
            wall=self.clock.now,
            expected=self.expected_seconds,
            floor=self.config.poll.floor_s,
            cap=self.config.poll.cap_s,
            rng=random.Random(),
            prior=self._typical_only,
            observed=self._observed,
            history=self.history,  # what one wait_all learned, the next one knows
            webhooked=self.webhooked if woken else None,
        )

    def track_step_op(self, poller: Poller, entry: Tracked, owner: str) -> Op[None]:
        """One poll of one tracked job (under its lease), reported back to the poller.

        The entry holds what the read needs, not the job: a read that shows nothing new
        ends here (no ledger read, no write); one that does reads the job from the ledger
        and records the change (`record_update`, the compare-and-swap write)."""
        job_id = entry.job_id
        if entry.version > 0 and not self.hold(job_id, owner):
            # leased by another process: follow its record instead of acting
            poller.update(entry, self.tracked_job(poller, entry))
            return
        try:
            if entry.aftercare is None:
                update = yield from self._status_read_op(entry.job, POLL_ONCE)
                if not entry.shows_change(update) and not self._deadline_due(entry):
                    poller.unchanged(entry)
                    return
                job = self.tracked_job(poller, entry)
                if job.provider_job_id == entry.provider_job_id:  # else: about an old attempt
                    job = self.record_update(job, update, quiet_age=entry.quiet, timed=entry.timed)
            else:
                job = self.tracked_job(poller, entry)
            new = yield from self.aftercare_op(job, owner)
        except (TransportError, ProviderError) as exc:
            after = getattr(exc, "retry_after", None)
            if after is not None and entry.provider:
                poller.pause(entry.provider, float(after))
            if exc.retryable and entry.failures + 1 < MAX_STATUS_FAILURES:
                log.info("job %s: status read failed (%s); will look again", job_id, exc)
                poller.retry(entry, float(after) if after is not None else None)
            else:
                log.error(
                    "job %s: stopped tracking after %s; it lives on at %s: resume it later",
                    job_id,
                    exc,
                    entry.provider,
                    extra={"job_id": job_id},
                )
                poller.give_up(entry, exc)
                self.let_go(job_id, owner)
            return
        poller.update(entry, new)
        if new.aftercare is not None:
            poller.touch(job_id, new, now=True)  # still open: the next step does the aftercare
        if job_id not in poller:
            self.let_go(job_id, owner)

    def tracked_job(self, poller: Poller, entry: Tracked) -> Job:
        """The tracked job in full: from the ledger, else the copy of a job never stored."""
        return (
            self.ledger.get(entry.job_id)
            or poller.unstored.get(entry.job_id)
            or entry.job  # gone from the ledger: only what polling kept is left
        )

    def _deadline_due(self, entry: Tracked) -> bool:
        """Is a queued job past its route's queued deadline (so the route's rules must look
        at it, though the read showed nothing new)?"""
        if entry.status is not JobStatus.queued:
            return False
        route = self.router.route_for(entry.model)
        deadline = route.queued_deadline_s if route is not None else None
        if deadline is None:
            return False
        return self.clock.now().timestamp() - entry.submitted >= deadline

    def hold_all(self, jobs: Iterable[Job], owner: str) -> None:
        """Lease every stored job about to be tracked, in one transaction (the ones another
        process holds are followed, not acted on)."""
        held = self.ledger.acquire_many((j.id for j in jobs if j.version > 0), owner, self.lease_s)
        self._held(owner, list(held), self.clock.monotonic())

    def hold_ids(self, job_ids: Iterable[str], owner: str) -> None:
        """Lease these stored jobs, in one transaction (see `hold_all`)."""
        ids = list(job_ids)
        held = self.ledger.acquire_many(ids, owner, self.lease_s)
        # the caller's strings: no second copy of each id is kept
        self._held(owner, [job_id for job_id in ids if job_id in held], self.clock.monotonic())

    def hold_claimed(self, owner: str, jobs: Iterable[Job]) -> None:
        """`owner` has just claimed these jobs (their leases are fresh)."""
        self._held(owner, [job.id for job in jobs], self.clock.monotonic())

    def renew(self, owner: str, job_ids: Iterable[str]) -> set[str]:
        """Renew `owner`'s leases on these jobs in one transaction; returns the ones still
        held (the others were taken over after their leases expired)."""
        ids = list(job_ids)
        held = self.ledger.acquire_many(ids, owner, self.lease_s)
        kept = []
        for job_id in ids:
            if job_id in held:
                kept.append(job_id)
            else:
                self._renew_at.pop((owner, job_id), None)
        self._held(owner, kept, self.clock.monotonic())
        return held

    def release_all(self, owner: str, job_ids: Iterable[str]) -> None:
        for job_id in job_ids:
            self.let_go(job_id, owner)

    def release_owner(self, owner: str) -> None:
        """Release every lease `owner` still holds here (what `release_all` does, without
        the caller keeping every id)."""
        for key in [key for key in self._renew_at if key[0] == owner]:
            self.let_go(key[1], owner)
        self._next_renewal.pop(owner, None)

    def claim_all(self, owner: str) -> list[Job]:
        """Lease every open job nobody holds, a batch per transaction."""
        claimed: list[Job] = []
        batch = self.config.ledger.claim_batch
        while True:
            got = self.ledger.claim(owner, self.lease_s, batch)
            self.hold_claimed(owner, got)
            claimed.extend(got)
            if len(got) < batch:
                return claimed

    def report(self, jobs: list[Job], done: list[Job]) -> ResumeReport:
        claimed = {job.id for job in jobs}
        held = [job for job in self.ledger.resumable() if job.id not in claimed]
        return ResumeReport(done, self.ledger.unknown_submits(), held=held)

    def limits(self, jobs: Iterable[Job]) -> dict[str, int]:
        return self.limits_for(job.provider for job in jobs)

    def limits_for(self, providers: Iterable[str | None]) -> dict[str, int]:
        """Each named provider's `max_concurrency` (unknown providers left out)."""
        limits: dict[str, int] = {}
        for name in providers:
            if name and name not in limits:
                try:
                    limits[name] = self.providers.get(name).settings.max_concurrency
                except VideoGWError:
                    continue
        return limits

    # -- webhooks ------------------------------------------------------------------------
    def apply_webhook_update(self, job_id: str, update: StatusUpdate) -> Job:
        """Fold a verified webhook delivery into a job (recorded as a compare-and-swap); a
        job it finishes is no longer polled here, and a refunded failure marked for
        aftercare is read at once by whoever tracks it."""
        job = self.ledger.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r}")
        new = self.record_update(job, update, prompt=True)  # delivered as it finished
        for poller in self.pollers:
            if new.status.is_terminal and new.aftercare is None:
                poller.settle(job_id, new)
            else:
                poller.touch(job_id, new, now=new.aftercare is not None)
        if new.version != job.version:
            self.ledger.notify(job_id)  # the worker holding it, in another process, hears
        return new

    def confirm_op(self, job: Job, update: StatusUpdate) -> Op[Job | None]:
        """A webhook says the job finished: trust it only when a status read agrees, taken
        under the job's lease. When another process holds the lease, it acts: this returns
        None (in this process, its poller is told to look now)."""
        owner = new_owner("webhook")
        if not self.hold(job.id, owner):
            for poller in self.pollers:
                poller.touch(job.id, self.ledger.get(job.id) or job, now=True)
            # the holder, perhaps in another process, reads it now (PostgreSQL NOTIFY)
            self.ledger.notify(job.id)
            return None
        try:
            current = self.ledger.get(job.id) or job
            # set off by a delivery as the job finished: the time seen is its duration
            read = yield from self._read_op(current, prompt=True)
            if read.status is update.status:
                read = self.record_update(read, update, prompt=True)
            for poller in self.pollers:
                if read.status.is_terminal and read.aftercare is None:
                    poller.settle(job.id, read)
                else:
                    poller.touch(job.id, read, now=read.aftercare is not None)
            return read
        finally:
            self.let_go(job.id, owner)
