"""Circuit breakers per provider + model, and Retry-After cool-downs per provider.

A breaker is *closed* until `failures` failures land within `window_s`; it is then *open*
(the router skips that provider for that model) for `cooldown_s`; then *half-open*: exactly
one submit (the probe) may go through. A success closes it, a failure opens it again.
Counted failures are the provider's own faults at submit (capacity, 5xx, not sent, unknown
outcome), never a request the user got wrong.

A cool-down is separate: a provider that answered 429/503 with Retry-After is skipped for
all models until that time (it asked us to wait, whatever the breaker says).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from .config import BreakerConfig

__all__ = ["BreakerState", "Breakers", "CircuitBreaker"]


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


@dataclass
class CircuitBreaker:
    config: BreakerConfig
    failures: deque[float] = field(default_factory=deque)
    opened_at: float | None = None
    probing: bool = False  # half-open and the single probe is out

    def state(self, now: float) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.closed
        if now - self.opened_at < self.config.cooldown_s:
            return BreakerState.open
        return BreakerState.half_open

    def allows(self, now: float) -> bool:
        """Whether a submit could go through now (without taking the probe)."""
        state = self.state(now)
        return state is BreakerState.closed or (
            state is BreakerState.half_open and not self.probing
        )

    def acquire(self, now: float) -> bool:
        """Take the right to submit now: always when closed, once when half-open."""
        state = self.state(now)
        if state is BreakerState.closed:
            return True
        if state is BreakerState.half_open and not self.probing:
            self.probing = True
            return True
        return False

    def success(self) -> None:
        self.failures.clear()
        self.opened_at = None
        self.probing = False

    def failure(self, now: float) -> None:
        if self.opened_at is not None:
            # a failed probe (or a late failure while open): open again for a full cool-down
            self.opened_at = now
            self.probing = False
            return
        self.failures.append(now)
        while self.failures and now - self.failures[0] > self.config.window_s:
            self.failures.popleft()
        if len(self.failures) >= self.config.failures:
            self.opened_at = now
            self.failures.clear()

    def release(self, now: float) -> None:
        """The probe ended without a verdict on the provider (e.g. an invalid request)."""
        self.probing = False

    def describe(self, now: float) -> str:
        state = self.state(now)
        if state is BreakerState.open:
            assert self.opened_at is not None
            left = self.config.cooldown_s - (now - self.opened_at)
            return (
                f"circuit breaker open ({self.config.failures} failures within "
                f"{self.config.window_s:g} s); half-open in {left:.0f} s"
            )
        if state is BreakerState.half_open and self.probing:
            return "circuit breaker half-open: one probe is already in flight"
        return f"circuit breaker {state.value}"


class Breakers:
    """Every breaker of a gateway, created on first use, plus per-provider cool-downs."""

    def __init__(self, config: BreakerConfig, monotonic: Callable[[], float]) -> None:
        self.config = config
        self._now = monotonic
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self._cool_until: dict[str, float] = {}

    def get(self, provider: str, model: str) -> CircuitBreaker:
        key = (provider, model)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = CircuitBreaker(self.config)
        return breaker

    def state(self, provider: str, model: str) -> BreakerState:
        return self.get(provider, model).state(self._now())

    def blocked(self, provider: str, model: str) -> str | None:
        """Why the router must skip this provider for this model now, or None."""
        now = self._now()
        until = self._cool_until.get(provider)
        if until is not None and now < until:
            return f"cooling down: the provider asked to wait {until - now:.0f} s more"
        breaker = self._breakers.get((provider, model))
        if breaker is not None and not breaker.allows(now):
            return breaker.describe(now)
        return None

    def acquire(self, provider: str, model: str) -> bool:
        until = self._cool_until.get(provider)
        now = self._now()
        if until is not None and now < until:
            return False
        return self.get(provider, model).acquire(now)

    def success(self, provider: str, model: str) -> None:
        self.get(provider, model).success()

    def failure(self, provider: str, model: str) -> None:
        self.get(provider, model).failure(self._now())

    def release(self, provider: str, model: str) -> None:
        self.get(provider, model).release(self._now())

    def cool_down(self, provider: str, seconds: float) -> None:
        until = self._now() + seconds
        self._cool_until[provider] = max(until, self._cool_until.get(provider, until))

    def reset(self, provider: str | None = None) -> None:
        for key in list(self._breakers):
            if provider is None or key[0] == provider:
                del self._breakers[key]
        for name in list(self._cool_until):
            if provider is None or name == provider:
                del self._cool_until[name]
