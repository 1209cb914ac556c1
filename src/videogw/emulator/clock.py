"""The emulators' job clock: a job's status is computed from elapsed time and its script,
so there is no background task per job and ten thousand jobs cost only their records."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["EmulatedJob", "FakeClock", "JobScript", "Phase", "Timing", "script_from_prompt"]

Phase = Literal["queued", "running", "succeeded", "failed", "nsfw", "cancelled", "error"]
Outcome = Literal["succeeded", "failed", "nsfw", "error"]


@dataclass(frozen=True)
class Timing:
    """How long emulated jobs take. `fast` suits tests and demos; each provider's emulator
    has a `realistic` profile from its documented latencies."""

    queue_s: float = 0.5
    run_s: float = 2.0


FAST = Timing()


@dataclass(frozen=True)
class JobScript:
    queue_s: float
    run_s: float
    outcome: Outcome = "succeeded"


@dataclass
class EmulatedJob:
    id: str
    created: float
    script: JobScript
    data: dict[str, Any] = field(default_factory=dict)
    cancelled_at: float | None = None

    def phase(self, now: float) -> Phase:
        if self.cancelled_at is not None:
            return "cancelled"
        elapsed = now - self.created
        if elapsed < self.script.queue_s:
            return "queued"
        if elapsed < self.script.queue_s + self.script.run_s:
            return "running"
        return self.script.outcome

    def finished_at(self) -> float:
        return self.created + self.script.queue_s + self.script.run_s

    def progress(self, now: float) -> float:
        run_start = self.created + self.script.queue_s
        if now <= run_start:
            return 0.0
        return min(1.0, (now - run_start) / max(self.script.run_s, 1e-9))


_MARK = re.compile(r"emulate:(\w+)(?:=([\d.]+))?")


def script_from_prompt(prompt: str, default: JobScript) -> JobScript:
    """Emulator-only markers in a prompt steer one job deterministically:
    ``emulate:failed``, ``emulate:nsfw``, ``emulate:error``, ``emulate:queue=5``,
    ``emulate:run=10``. Real providers never see them."""
    queue, run, outcome = default.queue_s, default.run_s, default.outcome
    for name, value in _MARK.findall(prompt or ""):
        if name in ("failed", "nsfw", "error", "succeeded"):
            outcome = name
        elif name == "queue" and value:
            queue = float(value)
        elif name == "run" and value:
            run = float(value)
    return JobScript(queue, run, outcome)


class FakeClock:
    """A clock for tests: sleeping advances time instantly. Serves both the gateway (as its
    `Clock`) and the emulators (as their `now`)."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    # the videogw.engine.Clock interface
    def now(self) -> Any:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(self.t, UTC)

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    async def asleep(self, seconds: float) -> None:
        import asyncio

        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


WallClock: Callable[[], float] = time.time
