"""Chaos: 550 logical jobs across the four emulated providers under a fault mix, with a
simulated process crash in the middle and a `resume()` in a new gateway on the same
ledger file. Then the money invariants are checked against what the providers saw.

Fault mix, per provider (seeded): submit 503 / 429 with Retry-After / drop after accept,
status 503 / 429 / dropped connection / malformed JSON, slow answers, and job outcomes
failed (refunded where the provider refunds), error and NSFW. Some jobs sit queued past
the route's deadline (cancel, then resubmit, where cancel exists). The route spreads jobs
over the four providers in random order (weighted, seeded) and resubmits refunded
failures (`retry_failed`).

1. An `AsyncGateway` submits 200 jobs in batches (the fake clock moves between batches)
   and tracks them with `wait_all`, while 100 more are being submitted; after a fixed
   number of requests the process "dies": both tasks are cancelled wherever they are
   (mid-read, mid-submit, mid-resubmit) and the gateway is abandoned.
2. A new blocking `Gateway` on the same ledger file calls `resume()`, then submits and
   tracks 250 new jobs.

Invariants: every logical job ends terminal, or `unknown` and listed by
`unknown_submits()`; no provider saw two submits for one logical job unless it honours
idempotency keys and both carried the same key; every failover follows a row of the
money table that allows it; every job a provider billed is on record as a charged attempt
(or hangs off an `unknown` submit, listed for reconciliation); the spend in the ledger is
the sum of the charged attempts and equals what the providers billed.

Run with ``-s`` to see the figures; they are in the assertion messages too.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from videogw import AsyncGateway, AttemptOutcome, Gateway, Job, JobStatus
from videogw.emulator import (
    AsyncEmulatorTransport,
    FakeClock,
    FaultProfile,
    SyncEmulatorTransport,
    Timing,
)
from videogw.emulator.harness import Emulated, emulate
from videogw.errors import VideoGWError
from videogw.ledger import SQLiteLedger
from videogw.testing import registry_with
from videogw_hfrelay import HfRelayProvider
from videogw_higgsfield import HiggsfieldProvider
from videogw_pixazo import PixazoProvider
from videogw_pixazo.prices import PRICES_USD
from videogw_segmind import SegmindProvider

PROVIDERS = (HiggsfieldProvider, SegmindProvider, PixazoProvider, HfRelayProvider)
NAMES = tuple(cls.name for cls in PROVIDERS)
IDEMPOTENT = {cls.name: cls.CAPABILITIES.idempotency for cls in PROVIDERS}
FAULTS = (
    "submit:503@0.05 submit:429/1@0.04 submit:drop_after_accept@0.03 "
    "status:503@0.03 status:429/1@0.02 status:drop@0.01 status:malformed@0.04 "
    "*:slow/0.005@0.02 failed@0.08 error@0.03 nsfw@0.05"
)
TIMING = Timing(queue_s=3.0, run_s=12.0)
QUEUED_DEADLINE_S = 40.0
FIRST, DURING, SECOND = 200, 100, 250
CRASH_AFTER = 500  # requests into phase 1's tracking
MOTION = {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a"}
CAT = "https://example.com/cat.jpg"
TAG = re.compile(r"chaos#(\d+)")

# DESIGN §5: after which attempt endings may the job move to another provider
FAILOVER_ERRORS = {
    "RequestNotSentError",  # nothing was sent
    "CapacityError",  # 502/503/504, concurrency, 423
    "RateLimitError",  # 429
    "AuthenticationError",  # 401/403
    "InsufficientCreditsError",  # 402/406, Higgsfield 403
    "ModelUnavailableError",  # model unknown or disabled
}


@dataclass
class Recorder:
    """What every provider saw on the wire: each submit's logical job and key."""

    submits: dict[str, list[tuple[int, str | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    requests: int = 0
    crash_at: int | None = None
    crashed: asyncio.Event | None = None

    def see(self, provider: str, request: httpx.Request, content: bytes) -> None:
        self.requests += 1
        if self.crash_at is not None and self.requests >= self.crash_at and self.crashed:
            self.crashed.set()
        if request.method != "POST" or not content:
            return
        try:
            body = json.loads(content)
        except ValueError:
            return
        match = TAG.search(str(body.get("prompt", ""))) if isinstance(body, dict) else None
        if match is not None and "/estimate/" not in request.url.path:
            key = request.headers.get("idempotency-key")
            self.submits[provider].append((int(match.group(1)), key))


class RecordingAsync(AsyncEmulatorTransport):
    def __init__(self, app: Any, name: str, recorder: Recorder) -> None:
        super().__init__(app)
        self.name, self.recorder = name, recorder

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.recorder.see(self.name, request, await request.aread())
        return await super().handle_async_request(request)


class RecordingSync(SyncEmulatorTransport):
    def __init__(self, app: Any, name: str, recorder: Recorder) -> None:
        super().__init__(app)
        self.name, self.recorder = name, recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.recorder.see(self.name, request, request.read())
        return super().handle_request(request)


@dataclass
class World:
    clock: FakeClock
    emulated: Emulated
    recorder: Recorder
    ledger_path: Path

    def gateway(self, *, sync: bool, rng_seed: int) -> Any:
        route = {
            "candidates": list(NAMES),
            "strategy": "weighted",
            "retry_failed": True,
            "queued_deadline_s": QUEUED_DEADLINE_S,
        }
        config = self.emulated.config(
            routes={"dop-lite": route},
            breaker={"failures": 4, "window_s": 20.0, "cooldown_s": 5.0},
            poll={"floor_s": 1.0, "cap_s": 10.0},
        )
        kind = RecordingSync if sync else RecordingAsync
        transports = {
            name: kind(app, name, self.recorder) for name, app in self.emulated.emulators.items()
        }
        cls = Gateway if sync else AsyncGateway
        gateway = cls(
            config,
            transports=transports,
            registry=self.emulated.registry,
            clock=self.clock,
            store=SQLiteLedger(self.ledger_path),
            rng=random.Random(rng_seed),
        )
        return gateway


def request(n: int, rng: random.Random) -> dict[str, Any]:
    prompt = f"chaos#{n} a cat turns its head"
    if rng.random() < 0.06:
        prompt += " emulate:queue=90"  # stuck in the queue past the route's deadline
    return {
        "model": "dop-lite",
        "prompt": prompt,
        "image": CAT,
        "motion": MOTION,
        "seed": rng.randint(1, 1_000_000),
    }


@pytest.fixture
def world(tmp_path: Path) -> World:
    clock = FakeClock()
    emulated = emulate(
        NAMES,
        registry=registry_with(*PROVIDERS),
        faults=dict.fromkeys(NAMES, FAULTS),
        timing=TIMING,
        clock=clock,
        seed=20_260_501,
    )
    emulated.emulators["segmind"].credits = Decimal(1_000_000)  # never out of credit here
    return World(clock, emulated, Recorder(), tmp_path / "ledger.sqlite3")


async def submit_batches(
    gateway: Any, numbers: range, rng: random.Random, clock: FakeClock, jobs: list[Job]
) -> None:
    batch = 20
    for start in range(numbers.start, numbers.stop, batch):
        chunk = range(start, min(start + batch, numbers.stop))
        done = await asyncio.gather(
            *(gateway.submit(request(n, rng)) for n in chunk), return_exceptions=True
        )
        for found in done:
            if isinstance(found, Job):
                jobs.append(found)
            elif isinstance(found, VideoGWError):
                assert found.job is not None, found  # refused jobs are on record too
            else:
                raise found
        clock.advance(1.0)  # arrivals spread over time


async def phase_one(world: World) -> None:
    """Submit, track, and die mid-flight."""
    rng = random.Random(1)
    gateway = world.gateway(sync=False, rng_seed=11)
    jobs: list[Job] = []
    await submit_batches(gateway, range(FIRST), rng, world.clock, jobs)
    world.recorder.crash_at = world.recorder.requests + CRASH_AFTER
    world.recorder.crashed = asyncio.Event()
    tracking = asyncio.ensure_future(gateway.wait_all(jobs))
    more = asyncio.ensure_future(
        submit_batches(gateway, range(FIRST, FIRST + DURING), rng, world.clock, [])
    )
    crashed = asyncio.ensure_future(world.recorder.crashed.wait())
    await asyncio.wait({tracking, crashed}, return_when=asyncio.FIRST_COMPLETED)
    assert world.recorder.crashed.is_set(), "phase 1 finished before the crash point"
    for task in (tracking, more):
        task.cancel()  # the process dies wherever it is
    await asyncio.gather(tracking, more, crashed, return_exceptions=True)
    gateway.store.close()  # what the OS does to a dead process's file handles
    world.recorder.crash_at = None


def phase_two(world: World) -> tuple[int, int, int]:
    """A new process: resume what was on record, then carry on with new jobs."""
    rng = random.Random(2)
    with world.gateway(sync=True, rng_seed=22) as gateway:
        report = gateway.resume()
        resumed, listed = len(report.jobs), len(report.unknown)
        jobs: list[Job] = []
        refused: list[VideoGWError] = []
        for n in range(FIRST + DURING, FIRST + DURING + SECOND):
            try:
                jobs.append(gateway.submit(request(n, rng)))
            except VideoGWError as exc:  # refused everywhere: on record as failed
                refused.append(exc)
            if n % 20 == 0:
                world.clock.advance(1.0)
        gateway.wait_all(jobs)
        gateway.store.close()
    assert all(exc.job is not None for exc in refused), refused
    return resumed, listed, len(refused)


def billed(world: World) -> dict[str, set[str]]:
    """Jobs each provider would bill: the ones that completed."""
    now = world.clock()
    return {
        name: {i for i, job in app.jobs.items() if job.phase(now) == "succeeded"}
        for name, app in world.emulated.emulators.items()
    }


def provider_price(world: World, provider: str, job_id: str) -> Decimal:
    """What the provider itself says the job cost in USD (0 where it bills in credits or
    units and videogw records no USD figure)."""
    job = world.emulated.emulators[provider].jobs[job_id]
    if provider == "pixazo":
        return PRICES_USD[job.data["request"]["model"]]
    if provider == "segmind":
        return Decimal(str(job.data["cost"]))
    return Decimal(0)


async def test_chaos_jobs_end_accounted_for_and_nothing_is_bought_twice(world: World) -> None:
    await phase_one(world)
    resumed, listed, refused = phase_two(world)

    ledger = SQLiteLedger(world.ledger_path)
    jobs = ledger.find()
    unknown_ids = {job.id for job in ledger.unknown_submits()}
    spend = ledger.spend_usd(datetime(2000, 1, 1, tzinfo=UTC))
    prompts = {job.id: getattr(ledger.load_request(job.id), "prompt", "") for job in jobs}
    ledger.close()
    injected: Counter[str] = Counter()
    for app in world.emulated.emulators.values():
        injected.update(app.faults.injected)
    statuses = Counter(job.status.value for job in jobs)
    by_provider = Counter(a.provider for job in jobs for a in job.attempts)
    failovers = Counter(failover_kind(a) for job in jobs for a in job.attempts[:-1])
    figures = (
        f"jobs {len(jobs)} ({dict(statuses)}); attempts by provider {dict(by_provider)}; "
        f"faults injected {dict(sorted(injected.items()))} (total {sum(injected.values())}); "
        f"failovers {sum(failovers.values())} {dict(failovers)}; "
        f"unknown (listed for reconciliation) {len(unknown_ids)}; spend ${spend}; "
        f"after the crash: {resumed} resumed, {listed} listed unknown; "
        f"{refused} refused at submit in phase 2; requests {world.recorder.requests}"
    )
    print(f"\nchaos: {figures}")

    # every logical job is on record, and ended terminal or unknown (and then listed)
    assert FIRST + SECOND <= len(jobs) <= FIRST + DURING + SECOND, figures
    tags = [TAG.search(prompts[job.id]) for job in jobs]
    assert all(tags), "a job on record without its request"
    assert len({t.group(1) for t in tags if t}) == len(jobs), "two records for one logical job"
    open_jobs = [j for j in jobs if not j.status.is_terminal and j.id not in unknown_ids]
    assert not open_jobs, f"{len(open_jobs)} jobs neither finished nor listed; {figures}"
    for job in jobs:
        if job.status is JobStatus.unknown:
            assert job.id in unknown_ids, job
            assert job.provider_job_id is None, job
    assert len(jobs) >= 500, figures
    assert set(by_provider) == set(NAMES), figures
    assert sum(injected.values()) > 100, figures
    assert sum(failovers.values()) > 20, figures
    assert listed > 0 or resumed > 0, figures

    # no provider saw two submits for one logical job, except an idempotent replay
    for provider, seen in world.recorder.submits.items():
        keys: dict[int, list[str | None]] = defaultdict(list)
        for tag, key in seen:
            keys[tag].append(key)
        for tag, sent in keys.items():
            if len(sent) > 1:
                assert IDEMPOTENT[provider], f"{provider} got job chaos#{tag} {len(sent)} times"
                assert None not in sent, (provider, tag, sent)
                assert len(set(sent)) == 1, (provider, tag, sent)

    # failovers only where the money table allows them
    for job in jobs:
        providers = [a.provider for a in job.attempts]
        assert len(providers) == len(set(providers)), f"a provider was tried twice: {job.id}"
        for attempt in job.attempts[:-1]:
            assert allowed_failover(attempt), (job.id, attempt)

    # every billed job is on record as a charged attempt, or hangs off an unknown submit
    on_record: dict[tuple[str, str], Any] = {}
    for job in jobs:
        for attempt in job.attempts:
            if attempt.provider_job_id is not None:
                key = (attempt.provider, attempt.provider_job_id)
                assert key not in on_record, f"{key} is on two attempts"
                on_record[key] = attempt
    expected_spend = Decimal(0)
    for provider, done in billed(world).items():
        emulator_jobs = set(world.emulated.emulators[provider].jobs)
        orphans = emulator_jobs - {pid for (p, pid) in on_record if p == provider}
        unknown_attempts = sum(
            1
            for job in jobs
            for a in job.attempts
            # unknown, or written ahead and never answered (the process died mid-submit)
            if a.provider == provider
            and a.outcome in (AttemptOutcome.unknown, AttemptOutcome.sending)
        )
        assert len(orphans) <= unknown_attempts, (provider, len(orphans), unknown_attempts)
        for job_id in done - orphans:
            attempt = on_record[(provider, job_id)]
            assert attempt.charged is True, (provider, job_id, attempt)
            expected_spend += provider_price(world, provider, job_id)
    for (provider, job_id), attempt in on_record.items():
        if attempt.charged is True:
            assert job_id in billed(world)[provider], (provider, job_id, attempt)
    charged_sum = sum(
        (a.actual_cost or Decimal(0) for job in jobs for a in job.attempts if a.charged),
        start=Decimal(0),
    )
    job_spend = sum((job.spend for job in jobs), start=Decimal(0))
    assert spend == charged_sum == job_spend == expected_spend, (
        f"ledger ${spend}, charged attempts ${charged_sum}, jobs ${job_spend}, "
        f"billed by the providers ${expected_spend}; {figures}"
    )
    segmind = world.emulated.emulators["segmind"]
    billed_by_segmind = Decimal(1_000_000) - segmind.credits
    recorded_segmind = sum(
        (
            a.actual_cost or Decimal(0)
            for job in jobs
            for a in job.attempts
            if a.provider == "segmind" and a.charged
        ),
        start=Decimal(0),
    )
    assert billed_by_segmind == recorded_segmind, (billed_by_segmind, recorded_segmind)


def failover_kind(attempt: Any) -> str:
    if attempt.outcome is AttemptOutcome.accepted:
        return f"after acceptance: {attempt.status.value} (charged={attempt.charged})"
    return f"{(attempt.reason or '').split(':')[0]} (HTTP {attempt.http_status})"


def allowed_failover(attempt: Any) -> bool:
    """May a job move on after this attempt (DESIGN §5)?"""
    if attempt.outcome in (AttemptOutcome.not_sent, AttemptOutcome.rejected):
        return (attempt.reason or "").split(":")[0] in FAILOVER_ERRORS
    if attempt.outcome is AttemptOutcome.accepted:
        refunded = attempt.status is JobStatus.failed and attempt.charged is False
        # only the queued-deadline rule cancels here (cancel first, then resubmit)
        cancelled = attempt.status is JobStatus.cancelled and attempt.charged is False
        return refunded or cancelled
    return False  # unknown: a paid job may exist


def test_the_builtin_chaos_fault_profile_parses() -> None:
    # "*:" names every route; only a trailing "*N" counts requests
    profile = FaultProfile.parse("chaos")
    assert ("*", "slow", None) in [(r.route, r.fault.kind, r.times) for r in profile.rules]
    rules = FaultProfile.parse("submit:503*2 *:503*3 *:slow/1.5@0.02").rules
    assert [(r.route, r.fault.kind, r.times, r.rate) for r in rules] == [
        ("submit", "status", 2, None),
        ("*", "status", 3, None),
        ("*", "slow", None, 0.02),
    ]


def test_a_garbled_segmind_failure_is_read_again_not_given_up() -> None:
    # Segmind serves FAILED with HTTP 422; a truncated one is a garbled status answer
    clock = FakeClock()
    emulated = emulate(["segmind"], registry=registry_with(SegmindProvider), clock=clock)
    app = emulated.emulators["segmind"]
    with emulated.gateway(sync=True, clock=clock) as gateway:
        job = gateway.submit(
            {"model": "dop-lite", "prompt": "a cat emulate:failed", "image": CAT, "motion": MOTION}
        )
        clock.advance(60)
        app.faults = FaultProfile.parse("status:malformed*1")
        (done,) = gateway.wait_all([job])
    assert (done.status, done.charged) == (JobStatus.failed, False)
    assert app.count("status") == 2
