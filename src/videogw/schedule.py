"""When to look at a job next: pure functions, shared by `wait()` and the poller.

Vendor SDKs poll every 0.5-1 s. A video job takes minutes, so that is mostly wasted
requests. With an expected duration E that has been *observed* (the ledger's history, or
what this process just saw):

- no early looks, unless early failures are common for that provider and model
  (``early_look=True``: one look at a quarter of E). Looks at 0.25, 0.5 and 0.75 E cost
  about 3.5 of ~6 reads a job and found nothing when failures are rare;
- the first look planned from E in one wait (when E was observed, the poll cap does not
  chop it into 30 s pieces: that only spends reads), then every 5 % of E until 1.5 E, so a
  finished job is seen within 5 % of E; past 1.5 E, each wait is 10 % of the time elapsed
  (capped);
- where that first look falls depends on whether the job is in the *timing sample*
  (`timed`: a fifth of jobs, chosen by id). A timed job looks at 0.97 E, a look that
  rarely finds it done but bounds its real duration (below): E is learned from these jobs
  alone. Every other job looks first at 1.02 E, just after a job of typical length has
  finished, so most are read once. benchmarks/scale.py, 10,000 jobs of 60 s: 1.86 reads
  a job and a completion lag of 7.8 % of E at p99 when every job got the look before E
  (which, seeing `queued` turn `in_progress`, cost a ledger write too, and the reads
  queued behind the CPU); 1.26 reads and 3.0 % with the sample.

When E is only a *prior* (the model's typical time, or nothing at all: a cold start), each
wait is 9 % of the time elapsed (at least the floor, at most the cap), so a job is seen
within 10 % of its own time whatever E said.

Latency fed back into E must not include polling lag, or E drifts up a few per cent a
generation (60 -> 82 s in one run, when the ledger measured to when completion was *seen*).
`completion_estimate` gives the time to record instead: the midpoint between the last read
that saw the job unfinished and the read that saw it finished, when those are close; else,
when seen on a planned first look, the look itself, an upper bound that pulls E down
towards the truth instead of up; else nothing (a job first read long after it finished).
Only timed jobs are measured. An untimed job seen on its look at 1.02 E says only that it
took less than that (recorded, it would walk E up 2 % a generation), and the untimed jobs
that missed that look are the slow ones (recorded, they would bias E upward): their
latency is recorded as unknown (`Attempt.timed`), and the timed fifth, a random sample
by id, is an unbiased one.

When a webhook will say the job finished (``webhooked=True``: the provider sends them to
this gateway's receiver, and this process hears of them), every read before the delivery
is one the delivery makes redundant: the receiver's confirming read is the one read a job
needs. Polling is then only a backstop for a delivery that never comes: no early look,
the first look at E + max(cap, 25 % of E) (one wait, never chopped by the cap: the
delivery, not the cap, bounds the lag), then every 25 % of the age, at least the cap and
at most ten caps. benchmarks/webhooks.py saw completions 0.2-1.5 s (p95; 2.5 s at
worst, on a loaded 2-core VM) after the emulated finish, so the first backstop look comes
long after a delivery on time, and one read per job was all it took (1.00, against 2.1
polling). The margin is the larger of the cap and 25 % of E so that a job merely slower
than its median is not read before its delivery; a lost delivery costs about that much
lag (30 s for 30 s jobs, measured with 10 % of deliveries dropped). With no E at all, the
first look is one cap after submit.
"""

from __future__ import annotations

import random
import zlib

__all__ = [
    "COLD_STEP",
    "DENSE_STEP",
    "DIRECT_LOOK",
    "EARLY_FAILURE_RATE",
    "EARLY_LOOK",
    "EARLY_PROBE",
    "FIRST_LOOK",
    "TIMED_SHARE",
    "backstop_delay",
    "completion_estimate",
    "next_poll_delay",
    "plan_poll",
    "timed",
]

EARLY_LOOK = 0.25  # of E: the one early look, where early failures are common
EARLY_FAILURE_RATE = 0.10  # "common": at least this share of jobs fail before E / 2
EARLY_PROBE = 0.10  # with no rate known yet, this share of jobs get the early look (to learn it)
FIRST_LOOK = 0.97  # of E: a timed job's first look
DIRECT_LOOK = 1.02  # of E: the first look of a job outside the timing sample
TIMED_SHARE = 0.2  # of jobs: the timing sample, whose durations E is learned from
DENSE_STEP = 0.05  # of E, between looks from the first look to 1.5 E
DENSE_UNTIL = 1.5  # of E
LATE_STEP = 0.10  # of the time elapsed, past 1.5 E
COLD_STEP = 0.09  # of the time elapsed, with no observed E (lag <= 10 % with jitter)
PLAN_JITTER = 0.01  # of E, on a planned look (spreads a burst of jobs submitted together)
BACKSTOP_AFTER = 0.25  # of E, past E (at least the cap): a webhooked job's first look
BACKSTOP_STEP = 0.25  # of the age (at least the cap): between a webhooked job's later looks
BACKSTOP_CAPS = 10.0  # caps: the longest wait between a webhooked job's later looks


def timed(job_id: str) -> bool:
    """Is this job in the timing sample (`TIMED_SHARE` of jobs)? Decided by its id, so
    every process that tracks the job agrees (a `resume` elsewhere keeps its role), and
    the sample is as random as the ids are."""
    return zlib.crc32(job_id.encode()) % 1000 < TIMED_SHARE * 1000


def next_poll_delay(
    elapsed: float,
    expected: float | None,
    *,
    floor: float = 1.0,
    cap: float = 30.0,
    jitter: float = 0.05,
    rng: random.Random | None = None,
    early_look: bool = False,
    prior: bool = False,
    observed: bool = False,
    webhooked: bool = False,
    timed: bool = True,
) -> float:
    """Seconds to wait before the next status read of a job `elapsed` seconds old.

    `expected` is E. `observed=True` says E was measured (the ledger's history, or this
    process's): the wait to the first look is then one wait, not chopped by `cap`.
    `prior=True` says E was not measured (a model's typical time), which is treated as no
    E at all. Neither (the caller cannot tell): planned waits stay within `cap`, so a wrong
    E costs at most a cap of lag. `early_look` asks for one look at a quarter of E.
    `webhooked=True`: a webhook will say when the job finishes, so the reads are only a
    backstop (`backstop_delay`; `early_look`, `prior` and `observed` do not matter).
    `timed=False`: the job is outside the timing sample, so its first planned look comes
    just after E (`DIRECT_LOOK`) instead of just before it."""
    return plan_poll(
        elapsed,
        expected,
        floor=floor,
        cap=cap,
        jitter=jitter,
        rng=rng,
        early_look=early_look,
        prior=prior,
        observed=observed,
        webhooked=webhooked,
        timed=timed,
    )[0]


def plan_poll(
    elapsed: float,
    expected: float | None,
    *,
    floor: float = 1.0,
    cap: float = 30.0,
    jitter: float = 0.05,
    rng: random.Random | None = None,
    early_look: bool = False,
    prior: bool = False,
    observed: bool = False,
    webhooked: bool = False,
    timed: bool = True,
) -> tuple[float, bool]:
    """`next_poll_delay`'s wait (same arguments), and whether it ends at an untimed job's
    look just after E: a read that bounds nothing, so the job is not measured (the
    module's docstring)."""
    if webhooked:
        delay = backstop_delay(elapsed, expected, floor=floor, cap=cap, jitter=jitter, rng=rng)
        return delay, False
    rand = rng or random
    elapsed = max(elapsed, 0.0)
    if expected is None or expected <= 0 or prior:
        delay = min(max(COLD_STEP * elapsed, floor), cap)
        return (delay * (1.0 + rand.uniform(-jitter, jitter)) if jitter else delay), False
    e = expected
    target = _planned(elapsed, e, early_look, timed)
    if target is not None:
        # a planned look: one wait, not capped; a little jitter so a burst spreads
        wobble = PLAN_JITTER * e * rand.uniform(-1.0, 1.0) if jitter else 0.0
        delay = max(target - elapsed + wobble, floor)
        return (delay if observed else min(delay, cap)), target == DIRECT_LOOK * e
    if elapsed < DENSE_UNTIL * e:
        delay = min(max(DENSE_STEP * e, floor), cap)
        # jitter only shortens a dense step, so the 5 % bound on lag holds
        return (delay * (1.0 - rand.uniform(0.0, jitter)) if jitter else delay), False
    delay = min(max(LATE_STEP * elapsed, floor), cap)
    return (delay * (1.0 + rand.uniform(-jitter, jitter)) if jitter else delay), False


def _planned(elapsed: float, e: float, early_look: bool, timed: bool) -> float | None:
    """The age of the planned look still ahead (the early one, else the first), if any:
    for a job outside the timing sample, the first is just after E (`DIRECT_LOOK`)."""
    half_step = 0.5 * DENSE_STEP * e
    if early_look and elapsed < EARLY_LOOK * e - half_step:
        return EARLY_LOOK * e
    first = (FIRST_LOOK if timed else DIRECT_LOOK) * e
    return first if elapsed < first - half_step else None


def backstop_delay(
    elapsed: float,
    expected: float | None,
    *,
    floor: float = 1.0,
    cap: float = 30.0,
    jitter: float = 0.05,
    rng: random.Random | None = None,
) -> float:
    """Seconds to the next read of a job a webhook will finish (the module's docstring):
    the first look at E + max(cap, 25 % of E), or one cap after submit with no E; then
    every 25 % of the age, within one to ten caps."""
    rand = rng or random
    elapsed = max(elapsed, 0.0)
    if expected is not None and expected > 0:
        margin = max(cap, BACKSTOP_AFTER * expected)
        if elapsed < expected + 0.5 * margin:  # the first look is not behind us
            first = expected + margin
            wobble = PLAN_JITTER * expected * rand.uniform(-1.0, 1.0) if jitter else 0.0
            return max(first - elapsed + wobble, floor)
    elif elapsed < 0.5 * cap:
        return max(cap - elapsed, floor)
    delay = min(max(BACKSTOP_STEP * elapsed, cap, floor), BACKSTOP_CAPS * cap)
    return delay * (1.0 + rand.uniform(-jitter, jitter)) if jitter else delay


def completion_estimate(
    last_unfinished: float, seen_finished: float, expected: float | None = None
) -> float | None:
    """How long a job most likely took, from two reads in seconds since its submit (the
    last that saw it unfinished, 0 if none, and the one that saw it finished): free of
    polling lag, for the expected time to learn from.

    The midpoint of the two reads when the one before was close (within 10 % of the time
    elapsed). Else, if the finished read was a planned look (by 1.02 E: the first look, or
    the early one), that look: an upper bound, which pulls an E that is too long down
    towards the truth. Else None: a job first read long after E (tracking started late,
    a resume) says little about how long it took."""
    gap = seen_finished - last_unfinished
    if 0 <= gap <= LATE_STEP * max(seen_finished, 0.0):
        return last_unfinished + gap / 2
    if expected is None or seen_finished <= (FIRST_LOOK + DENSE_STEP) * expected:
        return seen_finished
    return None
