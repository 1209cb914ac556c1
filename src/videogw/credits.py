"""Which providers are out of credit (or refused our key) and skipped until reset.

A submit answered 401/403/402/406 marks the provider unusable (DESIGN §5): every later
request skips it, with the reason, until `reset()` or a refresh shows credit again. A
provider that reports its remaining credits (`StatusUpdate.remaining_credits`) is also
asked `Provider.credit_ok(remaining)`, which by default compares the balance with the
``low_credit_threshold`` setting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["CreditState"]

log = logging.getLogger("videogw.credits")


@dataclass
class _Mark:
    reason: str
    credit: bool  # out of credit (a refresh showing credit lifts it), else auth


class CreditState:
    def __init__(self) -> None:
        self._marks: dict[str, _Mark] = {}
        self._remaining: dict[str, Decimal] = {}

    def disable(self, provider: str, reason: str, *, credit: bool) -> None:
        self._marks[provider] = _Mark(reason, credit)

    def observe(self, provider: str, remaining: Decimal | None, threshold: Any = None) -> None:
        """A status read reported the account's remaining credits (a refresh)."""
        if remaining is None:
            return
        self._remaining[provider] = remaining
        mark = self._marks.get(provider)
        low = threshold is not None and remaining < Decimal(str(threshold))
        if mark is not None and mark.credit and remaining > 0 and not low:
            del self._marks[provider]

    def remaining(self, provider: str) -> Decimal | None:
        return self._remaining.get(provider)

    def blocked(self, provider: Any, prepared: Any) -> str | None:
        """Why `provider` (a Provider) must be skipped for `prepared`, or None."""
        name = provider.instance
        mark = self._marks.get(name)
        if mark is not None:
            return mark.reason
        remaining = self._remaining.get(name)
        try:
            ok = provider.credit_ok(remaining)
        except Exception:  # a broken plugin hook must not take the provider out of service
            log.exception("%s: credit_ok() failed; treating credit as unknown", name)
            ok = True
        if ok:
            return None
        threshold = provider.settings.low_credit_threshold
        seen = remaining if remaining is not None else "the balance it reported"
        return f"low credit: {seen} remaining, below low_credit_threshold {threshold}"

    def reset(self, provider: str | None = None) -> None:
        for store in (self._marks, self._remaining):
            for name in list(store):
                if provider is None or name == provider:
                    del store[name]
