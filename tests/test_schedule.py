"""The poll schedule: few reads, lag bounded warm and cold, and an expected time that does
not drift with polling lag. The simulations drive a real `Poller` on a fake clock."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from routing_kit import finished_job
from videogw import Job, JobStatus
from videogw.poller import LEARN_AFTER, Poller, PollHistory
from videogw.schedule import (
    DIRECT_LOOK,
    TIMED_SHARE,
    completion_estimate,
    next_poll_delay,
    plan_poll,
    timed,
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


# -- the pure function ---------------------------------------------------------------------


def looks(expected: float | None, until: float, **kwargs: object) -> list[float]:
    """Ages at which a job would be read, from submit to `until`, without jitter."""
    ages, age = [], 0.0
    while age < until:
        age += next_poll_delay(age, expected, jitter=0, **kwargs)  # type: ignore[arg-type]
        ages.append(age)
    return ages


def test_with_an_observed_time_the_first_look_is_just_before_it_and_not_chopped_by_the_cap() -> (
    None
):
    ages = looks(120.0, 130.0, observed=True)
    assert ages[0] == pytest.approx(116.4)  # one wait, although the cap is 30 s
    assert ages[1:3] == pytest.approx([122.4, 128.4])  # then every 5 % of E


def plans_direct_look(elapsed: float, expected: float | None, **kwargs: bool) -> bool:
    """Does the next wait end at an untimed job's look just after E?"""
    return plan_poll(elapsed, expected, **kwargs)[1]  # type: ignore[arg-type]


def test_a_job_outside_the_timing_sample_looks_first_just_after_e() -> None:
    ages = looks(120.0, 130.0, observed=True, timed=False)
    assert ages[0] == pytest.approx(DIRECT_LOOK * 120.0)  # one wait, to 122.4
    assert ages[1] == pytest.approx(128.4)  # then every 5 % of E, as for a timed job
    assert plans_direct_look(0.0, 120.0, timed=False)
    # a timed job, a cold start (no measured E) and a backstop never look just after E
    assert not plans_direct_look(0.0, 120.0)
    assert not plans_direct_look(0.0, 120.0, timed=False, prior=True)
    assert not plans_direct_look(0.0, None, timed=False)
    assert not plans_direct_look(0.0, 120.0, timed=False, webhooked=True)
    # the early look comes first; the look after E only once it is behind
    assert not plans_direct_look(0.0, 120.0, timed=False, early_look=True)
    assert plans_direct_look(31.0, 120.0, timed=False, early_look=True)
    assert not plans_direct_look(123.0, 120.0, timed=False)  # past it: dense steps


def test_the_timing_sample_is_a_fifth_of_jobs_chosen_by_id() -> None:
    rng = random.Random(5)
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4).hex for _ in range(20_000)]
    share = sum(map(timed, ids)) / len(ids)
    assert abs(share - TIMED_SHARE) <= 0.015
    assert [timed(i) for i in ids[:50]] == [timed(i) for i in ids[:50]]  # every process agrees


def test_an_early_look_only_when_asked() -> None:
    assert looks(120.0, 117.0, early_look=True, observed=True)[:2] == pytest.approx([30.0, 116.4])
    assert looks(120.0, 117.0, observed=True)[0] == pytest.approx(116.4)


def test_when_nobody_says_whether_e_was_observed_planned_waits_keep_to_the_cap() -> None:
    assert looks(120.0, 117.0)[:4] == pytest.approx([30.0, 60.0, 90.0, 116.4])


def test_without_an_observed_time_each_wait_is_under_a_tenth_of_the_age() -> None:
    for expected, prior in ((None, False), (150.0, True)):
        ages = looks(expected, 600.0, prior=prior)
        for before, after in itertools.pairwise(ages[10:]):
            assert after - before <= 0.1 * before or after - before == 30.0  # the cap


def test_past_one_and_a_half_times_e_the_waits_grow_with_age() -> None:
    assert next_poll_delay(200.0, 100.0, jitter=0) == pytest.approx(20.0)
    assert next_poll_delay(400.0, 100.0, jitter=0) == pytest.approx(30.0)  # capped


@pytest.mark.parametrize(
    ("last_unfinished", "seen", "took"),
    [
        (57.0, 60.0, 58.5),  # close reads: the midpoint
        (0.0, 58.2, 58.2),  # seen on its first look: the look, an upper bound
        (30.0, 60.0, 60.0),  # far apart, but by the first look: the later read
        (0.0, 93.0, None),  # first read long after E (tracking began late): nothing
        (40.0, 93.0, None),
    ],
)
def test_completion_estimate(last_unfinished: float, seen: float, took: float | None) -> None:
    found = completion_estimate(last_unfinished, seen, 60.0)
    assert found == (pytest.approx(took) if took is not None else None)


def test_jobs_first_read_long_after_they_finished_teach_nothing() -> None:
    """wait_all after a long submit burst: most jobs are done before their first read.
    Those reads are upper bounds far above the truth; learning from them sent E (and so
    the first look of every younger job) from 60 s to ~90 s in a 10,000-job run."""
    now = [100.0]
    poller = Poller(
        monotonic=lambda: now[0],
        wall=lambda: EPOCH + timedelta(seconds=now[0]),
        expected=lambda job: 60.0,
        prior=lambda job: False,
        early_failures=lambda job: 0.0,
    )
    base = finished_job("toy", 1, status=JobStatus.running, charged=None, cost=None)
    finish: dict[str, float] = {}
    for n in range(50):  # submitted 0..98 s before tracking starts; each takes 60 s
        submitted = 100.0 - 2 * n
        job = base.model_copy(
            update={"id": f"j{n}", "submitted_at": EPOCH + timedelta(seconds=submitted)}
        )
        finish[job.id] = submitted + 60.0
        poller.add(job)
    while (entry := poller.pop_next()) is not None:
        now[0] = max(now[0], entry.due)
        done = now[0] >= finish[entry.job.id]
        status = JobStatus.succeeded if done else JobStatus.running
        poller.update(entry, entry.job.model_copy(update={"status": status}))
    found = poller.history.expected(("toy", "dop-lite"))
    assert found is not None  # the young jobs, read on schedule, taught it
    assert found <= 62.0


# -- a simulated fleet ---------------------------------------------------------------------


class Sim:
    """Jobs with known true durations, read by a `Poller` on a fake clock."""

    def __init__(self, poller_kwargs: dict[str, object] | None = None) -> None:
        self.now = 0.0
        # by default E is the ledger's measured p50 (prior=False), as tracking will say, and
        # the timing sample is the real one (a fifth of the jobs, by id)
        self.poller_kwargs = {"prior": lambda job: False, **(poller_kwargs or {})}
        self.ids = random.Random(11)  # job ids like uuid4's, the same on every run

    def wall(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now)

    def run(
        self,
        durations: list[float],
        expected: Callable[[Job], float | None],
        *,
        outcome: Callable[[int], JobStatus] = lambda n: JobStatus.succeeded,
        history: PollHistory | None = None,
        spread: float = 2.0,
    ) -> tuple[list[int], list[float], Poller]:
        """Submit one job per duration over `spread` seconds; track all to the end.
        Returns reads per job, lag per job (seen - true finish), and the poller."""
        poller = Poller(
            monotonic=lambda: self.now,
            wall=self.wall,
            expected=expected,
            rng=random.Random(7),
            history=history,
            **self.poller_kwargs,  # type: ignore[arg-type]
        )
        base = finished_job("toy", 1, status=JobStatus.running, charged=None, cost=None)
        start = self.now
        jobs: dict[str, tuple[Job, float, JobStatus]] = {}
        for n, took in enumerate(durations):
            self.now = start + spread * n / max(len(durations), 1)
            job_id = uuid.UUID(int=self.ids.getrandbits(128), version=4).hex
            job = base.model_copy(update={"id": job_id, "submitted_at": self.wall()})
            jobs[job.id] = (job, self.now + took, outcome(n))
            poller.add(job)
        reads = dict.fromkeys(jobs, 0)
        lag: dict[str, float] = {}
        while (entry := poller.pop_next()) is not None:
            self.now = max(self.now, entry.due)
            job, finish, status = jobs[entry.job.id]
            reads[job.id] += 1
            if self.now >= finish:
                lag[job.id] = self.now - finish
                poller.update(entry, entry.job.model_copy(update={"status": status}))
            else:
                poller.update(entry, entry.job)
        return list(reads.values()), list(lag.values()), poller


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def test_warm_jobs_take_at_most_two_and_a_half_reads_and_are_seen_within_five_percent() -> None:
    job_s = 60.0
    rng = random.Random(1)
    durations = [job_s * rng.uniform(0.98, 1.02) for _ in range(500)]
    reads, lag, _ = Sim().run(durations, expected=lambda job: job_s)
    assert sum(reads) / len(reads) <= 2.5
    assert p99(lag) <= 0.05 * job_s


def test_jobs_of_the_expected_length_are_mostly_read_once() -> None:
    """Only the timing sample gets the look just before E (every job did: 2 reads a job,
    and in benchmarks/scale.py that look also wrote `queued` -> `in_progress` to the
    ledger); the rest are read just after E, once."""
    job_s = 60.0
    rng = random.Random(2)
    durations = [job_s * rng.uniform(0.99, 1.005) for _ in range(2000)]
    # (early failures rare, as the ledger would say: no early look either)
    sim = Sim({"early_failures": lambda job: 0.0})
    reads, lag, _ = sim.run(durations, expected=lambda job: job_s)
    assert sum(reads) / len(reads) <= 1 + TIMED_SHARE + 0.05
    assert p99(lag) <= 0.05 * job_s


def test_an_expected_time_inflated_by_lag_is_pulled_back_down() -> None:
    """An E 30 % too long (a ledger p50 measured to when jobs were *seen*): every job is
    seen on its first look, an upper bound, so what the poller learns shrinks batch by
    batch until the first look lands on the job's real time."""
    job_s = 60.0
    history = PollHistory()
    sim = Sim()
    learned = [1.3 * job_s]
    # the median of the last 101 durations of timed jobs (a fifth): it takes a few batches
    for _ in range(30):
        sim.run([job_s] * 100, expected=lambda job: 1.3 * job_s, history=history)
        found = history.expected(("toy", "dop-lite"))
        assert found is not None
        learned.append(found)
    assert all(b <= a * 1.001 for a, b in itertools.pairwise(learned))
    assert learned[-1] <= 1.05 * job_s


def test_the_expected_time_does_not_drift_over_generations() -> None:
    """Each generation's E is the median of the previous one's lag-free estimates (what the
    ledger would learn): it stays within 5 % of the true time, where feeding back the time
    the job was *seen* finished walked 60 s up to 82 s."""
    job_s = 60.0
    expected = job_s
    rng = random.Random(3)
    for _ in range(12):
        # fewer jobs than the poller learns from: it keeps to the E it was given
        durations = [job_s * rng.uniform(0.97, 1.03) for _ in range(LEARN_AFTER - 1)]
        sim = Sim({"timing": lambda job_id: True})
        _, _, poller = sim.run(durations, expected=lambda job, e=expected: e)  # type: ignore[misc]
        took = list(poller.history._took[("toy", "dop-lite")])
        expected = sorted(took)[len(took) // 2]
        assert 0.95 * job_s <= expected <= 1.05 * job_s


@pytest.mark.parametrize("start", [0.8, 1.0, 1.25])
def test_learning_from_the_timing_sample_alone_does_not_drift(start: float) -> None:
    """The untimed jobs are read just after E: had their times been learned, E would walk up
    2 % a generation (each is seen at about 1.02 E) and the ones that missed that look, the
    slow ones, would bias it up further. From the timing sample alone, generation after
    generation (each starting from the last one's median, as the ledger's p50 would), E
    finds the true time from either side and stays there."""
    job_s = 60.0
    expected = start * job_s
    rng = random.Random(4)
    for _ in range(15):
        durations = [job_s * rng.uniform(0.97, 1.03) for _ in range(200)]
        _, _, poller = Sim().run(durations, expected=lambda job, e=expected: e)  # type: ignore[misc]
        took = sorted(poller.history._took[("toy", "dop-lite")])
        assert len(took) <= 0.35 * len(durations)  # the sample only
        expected = took[len(took) // 2]
    assert 0.97 * job_s <= expected <= 1.03 * job_s


def test_a_cold_start_is_seen_within_ten_percent_then_learns() -> None:
    """No observed E (only dop-lite's typical 150 s) for 30 s jobs: lag stays within 10 %,
    and once a few jobs finished the rest are read on the learned schedule."""
    job_s, typical = 30.0, 150.0
    sim = Sim({"prior": lambda job: True})
    history = PollHistory()
    reads, lag, _ = sim.run([job_s] * 20, expected=lambda job: typical, history=history)
    assert max(lag) <= 0.10 * job_s
    learned = history.expected(("toy", "dop-lite"))
    assert learned is not None
    assert abs(learned - job_s) <= 0.05 * job_s
    # the next batch (same history: the gateway's) is warm: few reads, small lag
    reads, lag, _ = sim.run([job_s] * 50, expected=lambda job: typical, history=history)
    assert sum(reads) / len(reads) <= 2.5
    assert p99(lag) <= 0.05 * job_s


def test_an_early_look_is_kept_where_early_failures_are_common() -> None:
    job_s = 100.0

    def outcome(n: int) -> JobStatus:
        return JobStatus.failed if n % 4 == 0 else JobStatus.succeeded

    def durations(count: int) -> list[float]:
        return [5.0 if n % 4 == 0 else job_s for n in range(count)]

    # the ledger says a quarter fail early: every job gets one early look at E / 4
    sim = Sim({"early_failures": lambda job: 0.25})
    reads, lag, _ = sim.run(durations(40), expected=lambda job: job_s, outcome=outcome)
    assert sorted(lag)[-10:][-1] <= 25.0  # even the worst: seen at the early look
    # the ledger says early failures are rare: no early looks at all
    sim = Sim({"early_failures": lambda job: 0.0})
    reads_rare, lag_rare, _ = sim.run(durations(40), expected=lambda job: job_s, outcome=outcome)
    assert sum(reads_rare) < sum(reads)
    assert sorted(lag_rare)[-10] >= 85.0  # failures seen only at the look near E
    # the ledger says nothing: one job in ten gets the early look, and that is enough to
    # learn the rate; the next batch (same history) looks early at every job
    history = PollHistory()
    sim = Sim()
    sim.run(durations(400), expected=lambda job: job_s, outcome=outcome, history=history)
    rate = history.early_failure_rate(("toy", "dop-lite"))
    assert rate is not None
    assert 0.1 <= rate <= 0.4
    _, lag_next, _ = sim.run(
        durations(40), expected=lambda job: job_s, outcome=outcome, history=history
    )
    assert max(lag_next) <= 25.0


def test_a_read_is_timed_from_when_it_was_sent_not_when_its_answer_was_handled() -> None:
    """Under load a read waits for a worker and its answer waits for the CPU: neither is
    the job's time, so neither may feed the expected time."""
    now = [0.0]
    poller = Poller(
        monotonic=lambda: now[0],
        wall=lambda: EPOCH + timedelta(seconds=now[0]),
        expected=lambda job: 60.0,
        prior=lambda job: False,
        early_failures=lambda job: 0.0,
        timing=lambda job_id: True,
    )
    base = finished_job("toy", 1, status=JobStatus.running, charged=None, cost=None)
    for n in range(LEARN_AFTER):  # job n: submitted at 100 n; unfinished at +58, done at +61
        start = 100.0 * n
        now[0] = start
        job = base.model_copy(
            update={"id": f"j{n}", "submitted_at": EPOCH + timedelta(seconds=start)}
        )
        poller.add(job, first_delay=58.0)
        now[0] = start + 58.0
        entry = poller.pop_next()
        assert entry is not None
        poller.sending(entry)
        poller.update(entry, entry.job)
        now[0] = start + 61.0
        entry = poller.pop_next()
        assert entry is not None
        poller.sending(entry)
        now[0] = start + 70.0  # the answer is handled 9 s later
        poller.update(entry, entry.job.model_copy(update={"status": JobStatus.succeeded}))
    assert poller.history.expected(("toy", "dop-lite")) == pytest.approx(59.5)


# -- a job a webhook will finish: polling is only a backstop ------------------------------


def test_a_webhooked_job_gets_no_early_look_and_its_first_look_comes_well_after_e() -> None:
    # the delivery makes every read before it redundant: none before E + max(cap, E / 4)
    for kwargs in ({}, {"early_look": True, "observed": True}, {"prior": True}):
        assert looks(30.0, 61.0, webhooked=True, **kwargs)[0] == pytest.approx(60.0)
    assert looks(120.0, 151.0, webhooked=True)[0] == pytest.approx(150.0)
    # one wait, even past the cap: the delivery, not the cap, bounds the lag
    assert looks(400.0, 501.0, webhooked=True)[0] == pytest.approx(500.0)


def test_a_webhooked_jobs_later_looks_are_a_quarter_of_its_age_within_one_to_ten_caps() -> None:
    assert looks(30.0, 180.0, webhooked=True) == pytest.approx([60.0, 90.0, 120.0, 150.0, 187.5])
    assert next_poll_delay(4000.0, 30.0, jitter=0, webhooked=True) == pytest.approx(300.0)
    # no E at all: one cap after submit, then the same cadence
    assert looks(None, 100.0, webhooked=True) == pytest.approx([30.0, 60.0, 90.0, 120.0])


def test_the_poller_asks_for_the_backstop_only_for_jobs_its_predicate_names() -> None:
    base = finished_job("toy", 1, status=JobStatus.running, charged=None, cost=None)
    hooked, polled = (
        base.model_copy(update={"id": name, "submitted_at": EPOCH}) for name in ("a", "b")
    )
    poller = Poller(
        monotonic=lambda: 0.0,
        wall=lambda: EPOCH,
        expected=lambda job: 100.0,
        observed=lambda job: True,
        early_failures=lambda job: 0.0,
        webhooked=lambda job: job.id == "a",
        timing=lambda job_id: True,
    )
    assert poller.delay_for(hooked) >= 129.0  # E + 30 s, less the 1 % plan jitter
    assert poller.delay_for(polled) <= 98.0  # 0.97 E


def test_the_learned_expected_time_follows_every_new_duration() -> None:
    """`PollHistory.expected` keeps its median between observations (every read asks for
    it): a new duration must still move it at once."""
    history = PollHistory()
    key = ("toy", "dop-lite")
    for took in (10.0, 20.0, 30.0):
        history.observe(key, JobStatus.succeeded, took, 20.0, early=False)
    assert history.expected(key) == 20.0
    assert history.expected(key) == 20.0
    history.observe(key, JobStatus.succeeded, 40.0, 20.0, early=False)
    assert history.expected(key) == 25.0
    history.observe(key, JobStatus.succeeded, None, 20.0, early=False)  # not measured
    history.observe(key, JobStatus.failed, 1.0, 20.0, early=False)  # not a success
    assert history.expected(key) == 25.0
