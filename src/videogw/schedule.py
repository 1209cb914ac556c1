"""When to look at a job next: one pure function, shared by `wait()` and the poller.

Vendor SDKs poll every 0.5-1 s. A video job takes minutes, so that is mostly wasted
requests. With an expected duration E (from the ledger's history or the model's typical
time) we look a few times early (catching fast failures), then densely around E, so a
finished job is seen within 5 % of E. Without one, each wait is 10 % of the time elapsed,
so the lag stays within 10 % of the job's own time.
"""

from __future__ import annotations

import random

__all__ = ["next_poll_delay"]


def next_poll_delay(
    elapsed: float,
    expected: float | None,
    *,
    floor: float = 1.0,
    cap: float = 30.0,
    jitter: float = 0.05,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before the next status read of a job `elapsed` seconds old."""
    if expected is not None and expected > 0 and elapsed < 1.5 * expected:
        if elapsed < 0.9 * expected:
            # a quarter of E at a time, but never jump past 0.9 E
            delay = min(0.25 * expected, 0.9 * expected - elapsed)
        else:
            delay = 0.05 * expected
    else:
        delay = 0.1 * max(elapsed, 0.0)
    delay = min(max(delay, floor), cap)
    if jitter:
        delay *= 1.0 + (rng or random).uniform(-jitter, jitter)
    return delay
