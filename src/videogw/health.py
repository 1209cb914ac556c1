"""What videogw knows about each provider's standing: breakers, cool-downs, credit.

One object, handed to the router and the submit service, so both read and write the same
state (in this process; a fleet shares it through the ledger)."""

from __future__ import annotations

from collections.abc import Callable

from .breaker import Breakers
from .config import BreakerConfig
from .credits import CreditState
from .errors import InsufficientCreditsError, VideoGWError
from .policy import Decision

__all__ = ["ProviderHealth"]


class ProviderHealth:
    def __init__(self, config: BreakerConfig, monotonic: Callable[[], float]) -> None:
        self.breakers = Breakers(config, monotonic)
        self.credits = CreditState()

    def account(self, name: str, model: str, error: VideoGWError, decision: Decision) -> None:
        """What a failed submit does to the provider's standing (breaker, credit)."""
        if decision.cooldown:
            self.breakers.failure(name, model)
            after = getattr(error, "retry_after", None)
            if after:
                self.breakers.cool_down(name, float(after))
        else:
            self.breakers.release(name, model)
        if decision.disable:
            credit = isinstance(error, InsufficientCreditsError)
            what = "out of credit" if credit else "authentication failed"
            self.credits.disable(
                name, f"{what} ({error}); skipped until reset_provider({name!r})", credit=credit
            )

    def reset(self, name: str | None = None) -> None:
        self.breakers.reset(name)
        self.credits.reset(name)
