"""Fault injection for the emulators, by rate or by explicit schedule.

A profile is written as a short spec (also what ``videogw emulate --faults`` takes)::

    submit:503*2        the first two submits answer 503
    status:429/2@0.1    10 % of status reads answer 429 with Retry-After: 2
    submit:drop_after_accept*1   the job is created, then the connection drops
    status:malformed@0.05        5 % of status reads return broken JSON
    *:slow/1.5@0.02     2 % of all requests take 1.5 s longer
    submit:drop@0.01    the connection drops before the request is handled
    nsfw@0.05  failed@0.1  error@0.02    job outcomes (per created job)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["PROFILES", "Fault", "FaultProfile", "FaultRule"]

FaultKind = Literal["status", "drop", "drop_after_accept", "malformed", "slow"]


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int = 503
    retry_after: float | None = None
    delay_s: float = 0.0


@dataclass
class FaultRule:
    route: str  # a route kind such as "submit" or "status", or "*"
    fault: Fault
    times: int | None = None  # the first N matching requests
    rate: float | None = None  # else this share of them

    def matches(self, route: str) -> bool:
        return self.route in ("*", route)


@dataclass
class FaultProfile:
    rules: list[FaultRule] = field(default_factory=list)
    outcomes: dict[str, float] = field(default_factory=dict)  # "failed" -> rate
    seed: int = 0
    injected: dict[str, int] = field(default_factory=dict)  # what was injected, by kind

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self, route: str) -> Fault | None:
        for rule in self.rules:
            if not rule.matches(route):
                continue
            if rule.times is not None:
                if rule.times <= 0:
                    continue
                rule.times -= 1
            elif rule.rate is not None and self._rng.random() >= rule.rate:
                continue
            label = f"{route}:{rule.fault.kind}"
            if rule.fault.kind == "status":
                label = f"{route}:{rule.fault.status}"
            self.injected[label] = self.injected.get(label, 0) + 1
            return rule.fault
        return None

    def outcome(self) -> str:
        roll = self._rng.random()
        for name, rate in self.outcomes.items():
            if roll < rate:
                self.injected[f"outcome:{name}"] = self.injected.get(f"outcome:{name}", 0) + 1
                return name
            roll -= rate
        return "succeeded"

    @classmethod
    def parse(cls, spec: str | None, *, seed: int = 0) -> FaultProfile:
        spec = PROFILES.get(spec or "none", spec or "")
        profile = cls(seed=seed)
        for item in spec.replace(",", " ").split():
            profile._add(item)
        return profile

    def _add(self, item: str) -> None:
        rate: float | None = None
        times: int | None = None
        body = item
        if "@" in body:
            body, rate_text = body.split("@", 1)
            rate = float(rate_text)
        head, star, count = body.rpartition("*")
        if star and count.isdigit():  # "*N" at the end; a leading "*:" is the any-route
            body, times = head, int(count)
        route, _, what = body.rpartition(":")
        if not route and what in ("failed", "nsfw", "error"):
            self.outcomes[what] = rate if rate is not None else 1.0
            return
        fault = _fault(what)
        if rate is None and times is None:
            rate = 1.0
        self.rules.append(FaultRule(route or "*", fault, times, rate))


def _fault(text: str) -> Fault:
    name, _, arg = text.partition("/")
    if name.isdigit():
        status = int(name)
        retry_after = float(arg) if arg else (2.0 if status == 429 else None)
        return Fault("status", status=status, retry_after=retry_after)
    if name in ("drop", "drop_after_accept", "malformed"):
        return Fault(name)  # type: ignore[arg-type]
    if name == "slow":
        return Fault("slow", delay_s=float(arg or 1.0))
    raise ValueError(
        f"unknown fault {text!r}: expected an HTTP status (503, 429/2), drop, "
        "drop_after_accept, malformed or slow/SECONDS"
    )


PROFILES: dict[str, str] = {
    "none": "",
    "flaky": "submit:503@0.05 status:503@0.05 status:429/1@0.03 failed@0.05",
    "chaos": (
        "submit:503@0.08 submit:429/1@0.05 submit:drop_after_accept@0.03 "
        "status:malformed@0.03 status:503@0.05 *:slow/0.2@0.02 failed@0.08 nsfw@0.04"
    ),
}
