"""One row type for a provider's standing on a request: `estimate`, `explain` and
`compare` all answer with `Standing` rows, in one order, each saying why it is there.

The order is the order providers would be tried: candidates first, as the route's
strategy sorts them (`priority`: the route's list; `cheapest`: lowest estimate first;
`fastest`: lowest observed p50 first; `weighted`: a weighted random draw), then the
providers that are not candidates, each with why not. Without a route every provider that
serves the model is a candidate, in the config file's order (then the plugins' order) —
and `order_text` says so, so nobody has to guess.

```python
for row in gateway.compare(model="dop-lite", image=url, motion={"id": "m-1"}):
    print(row.position, row.provider, row.why, row.amount, row.currency)
```
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from .models import CostEstimate
from .stats import ProviderStats, usd_of

if TYPE_CHECKING:
    from .config import RouteConfig

__all__ = ["Standing", "order_text", "ranked", "strategy_of"]

S = TypeVar("S", bound="Standing")


@dataclass(frozen=True)
class Standing:
    """One provider's standing on one request."""

    provider: str
    model: str
    provider_model: str | None
    estimate: CostEstimate | None
    candidate: bool
    reason: str | None = None  # why not a candidate; or a note on a candidate (no estimate)
    stats: ProviderStats | None = None  # what the ledger observed there for this model
    position: int | None = None  # 1 = tried first; None: not a candidate
    why_here: str | None = None  # why this position (the strategy's reason)

    @property
    def why(self) -> str:
        """Why this row stands where it does, in words (one line)."""
        if not self.candidate:
            return self.reason or "not a candidate"
        parts = [p for p in (self.why_here, self.reason) if p]
        return "; ".join(parts)

    @property
    def amount(self) -> Decimal | None:
        return self.estimate.amount if self.estimate is not None else None

    @property
    def currency(self) -> str | None:
        return self.estimate.currency if self.estimate is not None else None

    @property
    def usd(self) -> Decimal | None:
        return usd_of(self.estimate)

    @property
    def source(self) -> str | None:
        return self.estimate.source if self.estimate is not None else None

    def as_dict(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "position": self.position,
            "provider": self.provider,
            "model": self.model,
            "provider_model": self.provider_model,
            "candidate": self.candidate,
            "why": self.why,
            "reason": self.reason,
            "estimate": self.estimate,
            "amount": self.amount,
            "currency": self.currency,
            "usd": self.usd,
            "basis": self.estimate.basis if self.estimate is not None else None,
            "source": self.source,
            "p50_s": stats.p50_s if stats else None,
            "p95_s": stats.p95_s if stats else None,
            "success_rate": stats.success_rate if stats else None,
            "mean_cost": stats.mean_cost if stats else None,
            "samples": stats.samples if stats else 0,
            "latency_samples": stats.latency_samples if stats else 0,
        }


def strategy_of(route: RouteConfig | None) -> str:
    return route.strategy if route is not None else "config order"


def order_text(model: str, route: RouteConfig | None, rows: Sequence[Standing]) -> str:
    """The try order and why, in one line: what `explain` prints above its rows."""
    order = " > ".join(r.provider for r in rows if r.candidate) or "nobody"
    if route is None:
        how = (
            f"no route for {model}: every provider that serves it, in the config file's order "
            f"(add [routes.{model}] to choose)"
        )
    else:
        how = {
            "priority": "the route's order",
            "cheapest": "lowest estimate first (USD; ties in the route's order)",
            "fastest": "lowest observed p50 first (no history: by estimate)",
            "weighted": "a weighted random draw (weights in the route)",
        }[route.strategy]
        how = f"route {model}, strategy {route.strategy}: {how}"
    return f"try order: {order} ({how})"


def _usd(amount: Decimal) -> str:
    cents = amount.quantize(Decimal("0.01"))
    return f"${cents:.2f}" if cents == amount else f"${amount.normalize():f}"


def _why_here(row: Standing, route: RouteConfig | None) -> str:
    strategy = strategy_of(route)
    if strategy == "cheapest":
        usd = row.usd
        if usd is not None:
            return f"cheapest first: {_usd(usd)}"
        return "no USD estimate, so after those with one"
    if strategy == "fastest":
        p50 = row.stats.p50_s if row.stats is not None else None
        if p50 is not None:
            return f"fastest first: p50 {p50:.1f} s"
        return "no history here yet: by estimate"
    if strategy == "weighted":
        weight = route.weights.get(row.provider, 1.0) if route is not None else 1.0
        return f"weighted draw (weight {weight:g})"
    if strategy == "priority":
        return "the route's order"
    return "the config file's order (no route)"


def ranked(rows: Iterable[S], route: RouteConfig | None) -> list[S]:
    """`rows` (candidates already in the order they would be tried) with their position and
    why; candidates first, then the others, in one order everywhere."""
    rows = list(rows)
    candidates = [r for r in rows if r.candidate]
    others = [r for r in rows if not r.candidate]
    placed = [
        replace(row, position=n, why_here=_why_here(row, route))
        for n, row in enumerate(candidates, 1)
    ]
    return placed + [replace(row, position=None, why_here=None) for row in others]
