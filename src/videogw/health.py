"""What videogw knows about each provider's standing: breakers, cool-downs, credit.

One object, handed to the router and the submit service, so both read and write the same
state. Given the ledger, it is shared by the fleet: a cool-down from a `Retry-After`, a
circuit that opened, or an account out of credit (or a key refused) is written to the
ledger (`Ledger.pause` / `Ledger.disable`), and every process reads the fleet's standings
at most once a second before it plans or sends a submit, so each honours what one learned.
`reset` clears it fleet-wide."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .breaker import Breakers, BreakerState
from .config import BreakerConfig
from .credits import CreditState
from .errors import InsufficientCreditsError, LedgerError, VideoGWError
from .ledger import Ledger, new_owner
from .policy import Decision

__all__ = ["SHARED_REFRESH_S", "ProviderHealth"]

log = logging.getLogger("videogw")

SHARED_REFRESH_S = 1.0  # how stale this process's view of the fleet's standings may be


class ProviderHealth:
    def __init__(
        self,
        config: BreakerConfig,
        monotonic: Callable[[], float],
        ledger: Ledger | None = None,
    ) -> None:
        self.config = config
        self.breakers = Breakers(config, monotonic)
        self.credits = CreditState()
        self.ledger = ledger
        self._monotonic = monotonic
        self._next_refresh = 0.0
        self._from_fleet: set[str] = set()  # disabled because the ledger said so
        self.token = new_owner("health")  # marks what this process shared

    def refresh(self, *, force: bool = False) -> None:
        """Take on what the fleet learned (at most once per `SHARED_REFRESH_S`)."""
        if self.ledger is None:
            return
        now = self._monotonic()
        if not force and now < self._next_refresh:
            return
        self._next_refresh = now + SHARED_REFRESH_S
        try:
            standings = self.ledger.standings()
        except LedgerError as exc:
            log.warning("could not read the fleet's provider standings: %s", exc)
            return
        for name, standing in standings.items():
            if standing.by == self.token:
                continue  # this process learned it, and honours it already
            if standing.paused_s > 0:
                self.breakers.cool_down(name, standing.paused_s)
            if standing.disabled:
                self.credits.disable(name, standing.disabled, credit=standing.credit)
                self._from_fleet.add(name)
        for name in list(self._from_fleet):
            now_standing = standings.get(name)
            if now_standing is None or not now_standing.disabled:
                self.credits.reset(name)  # reset elsewhere in the fleet
                self._from_fleet.discard(name)

    def account(self, name: str, model: str, error: VideoGWError, decision: Decision) -> None:
        """What a failed submit does to the provider's standing (breaker, credit)."""
        if decision.cooldown:
            was_open = self.breakers.state(name, model) is BreakerState.open
            self.breakers.failure(name, model)
            after = getattr(error, "retry_after", None)
            if after:
                self.breakers.cool_down(name, float(after))
                self._share(
                    lambda led: led.pause(
                        name, float(after), f"Retry-After {after} s", by=self.token
                    )
                )
            if not was_open and self.breakers.state(name, model) is BreakerState.open:
                why = f"circuit opened after {self.config.failures} failures ({error})"
                self._share(lambda led: led.pause(name, self.config.cooldown_s, why, by=self.token))
        else:
            self.breakers.release(name, model)
        if decision.disable:
            credit = isinstance(error, InsufficientCreditsError)
            what = "out of credit" if credit else "authentication failed"
            reason = f"{what} ({error}); skipped until reset_provider({name!r})"
            self.credits.disable(name, reason, credit=credit)
            self._share(lambda led: led.disable(name, reason, credit=credit, by=self.token))

    def _share(self, write: Callable[[Ledger], None]) -> None:
        if self.ledger is None:
            return
        try:
            write(self.ledger)
        except LedgerError as exc:  # this process still honours it; the fleet learns later
            log.warning("could not share a provider's standing with the fleet: %s", exc)

    def reset(self, name: str | None = None) -> None:
        self.breakers.reset(name)
        self.credits.reset(name)
        if name is None:
            self._from_fleet.clear()
        else:
            self._from_fleet.discard(name)
        self._share(lambda led: led.reset_standing(name))
