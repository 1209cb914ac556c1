"""What routing and polling read from the ledger's history: observed latency, success and
cost per provider and model (cached briefly, so ten thousand polls cost one query), and
today's spend plus holds for the daily budget."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from decimal import Decimal

from .ledger import Ledger
from .stats import ProviderStats

__all__ = ["STATS_TTL_S", "Figures"]

STATS_TTL_S = 30.0  # how long routing and polling reuse the ledger's figures


class Figures:
    def __init__(
        self, ledger: Ledger, *, now: Callable[[], datetime], monotonic: Callable[[], float]
    ) -> None:
        self.ledger = ledger
        self._now = now
        self._monotonic = monotonic
        self._cache: dict[tuple[str, str], tuple[float, ProviderStats]] = {}

    def stats(self, provider: str, model: str) -> ProviderStats:
        """What the ledger observed for a provider and neutral model (cached briefly)."""
        key = (provider, model)
        now = self._monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < STATS_TTL_S:
            return hit[1]
        value = self.ledger.stats(provider, model)
        self._cache[key] = (now, value)
        return value

    def refresh(self) -> None:
        self._cache.clear()

    def start_of_day(self) -> datetime:
        now = self._now()
        return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)

    def spent_today(self) -> Decimal:
        """USD charged today plus what live attempts hold."""
        since = self.start_of_day()
        return self.ledger.spend_usd(since) + self.ledger.committed_usd(since)
