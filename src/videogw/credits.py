"""Which providers are out of credit (or refused our key) and skipped until reset.

A submit answered 401/403/402/406 marks the provider unusable (DESIGN §5): every later
request skips it, with the reason, until `reset()` or a refresh shows credit again. A
provider that reports its remaining credits (`StatusUpdate.remaining_credits`) may also
declare a low-credit rule, looked up only with `getattr` so any provider can opt in:

- a method ``credit_ok(remaining: Decimal, prepared: Prepared) -> bool``, or
- a settings field ``low_credit_threshold`` (skip when remaining is below it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["CreditState"]


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
        if remaining is None:
            return None
        hook = getattr(provider, "credit_ok", None)
        if callable(hook) and not hook(remaining, prepared):
            return f"low credit: {remaining} remaining (the provider's credit_ok said no)"
        threshold = getattr(provider.settings, "low_credit_threshold", None)
        if threshold is not None and remaining < Decimal(str(threshold)):
            return f"low credit: {remaining} remaining, below low_credit_threshold {threshold}"
        return None

    def reset(self, provider: str | None = None) -> None:
        for store in (self._marks, self._remaining):
            for name in list(store):
                if provider is None or name == provider:
                    del store[name]
