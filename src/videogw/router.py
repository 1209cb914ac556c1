"""Which providers may serve a request, and in what order.

`explain()` assesses every provider for a request (candidate, or why not); `plan()` keeps
the candidates in the route's strategy order. What a failure allows is `videogw.policy`.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .config import Config, RouteConfig
from .errors import (
    ConfigurationError,
    InvalidRequestError,
    NoCandidateError,
    UnknownModelError,
    UnknownProviderError,
    UnsupportedRequestError,
    VideoGWError,
)
from .figures import Figures
from .health import ProviderHealth
from .models import CostEstimate, GenerationRequest
from .policy import DECISIONS, Decision, Situation, decide, situation_of
from .provider import Prepared, Provider
from .providerset import Providers
from .stats import ProviderStats, usd_of

__all__ = [
    "DECISIONS",
    "Candidacy",
    "Decision",
    "Plan",
    "Router",
    "Situation",
    "decide",
    "situation_of",
]


@dataclass
class Candidacy:
    """One provider's standing for one request (a row of `explain`)."""

    provider: str
    candidate: bool
    reason: str | None = None
    prepared: Prepared | None = None
    estimate: CostEstimate | None = None
    stats: ProviderStats | None = None
    serves_model: bool = False

    @property
    def model(self) -> str | None:
        return self.prepared.model if self.prepared is not None else None


@dataclass
class Plan:
    request: GenerationRequest
    model: str
    route: RouteConfig | None
    candidates: list[Prepared] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    estimates: dict[str, CostEstimate | None] = field(default_factory=dict)


@dataclass
class _Assessment:
    route: RouteConfig | None
    rows: list[Candidacy] = field(default_factory=list)
    invalid: InvalidRequestError | None = None
    pinned_error: VideoGWError | None = None


def _cost_key(estimate: CostEstimate | None) -> tuple[int, str, Decimal]:
    """Cheapest first: USD where known, else the amount within its currency, unknown last."""
    if estimate is None:
        return (2, "", Decimal(0))
    usd = usd_of(estimate)
    if usd is not None:
        return (0, "USD", usd)
    return (1, estimate.currency, estimate.amount)


class Router:
    def __init__(
        self,
        config: Config,
        providers: Providers,
        health: ProviderHealth,
        figures: Figures,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.providers = providers
        self.health = health
        self.figures = figures
        self.rng = rng or random.Random()

    def route_for(self, model: str) -> RouteConfig | None:
        """The route of a neutral model, if the config names one."""
        return self.config.routes.get(model)

    # -- assessing providers -----------------------------------------------------------
    def explain(
        self, request: GenerationRequest, *, exclude: Collection[str] = ()
    ) -> list[Candidacy]:
        """Every provider, candidates first in strategy order, each with why not if not."""
        found = self._assess(request, exclude, with_stats=True)
        candidates = self._order([r for r in found.rows if r.candidate], found.route)
        return candidates + [r for r in found.rows if not r.candidate]

    def plan(self, request: GenerationRequest, *, exclude: Collection[str] = ()) -> Plan:
        """Candidates in order; raises when the request is wrong everywhere or unserved."""
        found = self._assess(request, exclude)
        if found.invalid is not None:
            raise found.invalid  # wrong for every provider: say so before anything is sent
        model = request.model_name
        plan = Plan(request, model, found.route)
        for row in self._order([r for r in found.rows if r.candidate], found.route):
            assert row.prepared is not None
            plan.candidates.append(row.prepared)
            plan.estimates[row.provider] = row.estimate
        for row in found.rows:
            if not row.candidate:
                plan.skipped[row.provider] = row.reason or "not a candidate"
        if not plan.candidates:
            if found.pinned_error is not None:
                raise found.pinned_error  # the user named this provider: its own error
            if not any(r.serves_model for r in found.rows):
                raise UnknownModelError(f"no provider serves {model!r}", field="model")
            relevant = {r.provider: r.reason or "" for r in found.rows if r.serves_model}
            raise NoCandidateError(f"no provider can take this {model} request", reasons=relevant)
        plan.model = plan.candidates[0].model
        return plan

    def _assess(
        self, request: GenerationRequest, exclude: Collection[str], *, with_stats: bool = False
    ) -> _Assessment:
        pinned = request.pinned_provider
        model = request.model_name
        route = None if pinned else self.route_for(model)
        if pinned:
            names: list[str] = [pinned]
        elif route is not None:
            names = list(route.candidates)
        else:
            names = self.providers.names()
        found = _Assessment(route=route)
        # the ledger's figures cost a query per provider: only `fastest` and explain need them
        with_stats = with_stats or (route is not None and route.strategy == "fastest")
        for name in names:
            row, error = self._assess_one(name, request, route, exclude, with_stats)
            found.rows.append(row)
            if isinstance(error, InvalidRequestError) and not isinstance(
                error, UnsupportedRequestError
            ):
                found.invalid = found.invalid or error
            elif pinned and error is not None:
                found.pinned_error = error
        why = f"the request is pinned to {pinned}" if pinned else f"not in the route for {model}"
        found.rows.extend(
            Candidacy(n, False, why) for n in self.providers.names() if n not in names
        )
        return found

    def _assess_one(
        self,
        name: str,
        request: GenerationRequest,
        route: RouteConfig | None,
        exclude: Collection[str],
        with_stats: bool,
    ) -> tuple[Candidacy, VideoGWError | None]:
        try:
            provider = self.providers.get(name)
        except (UnknownProviderError, ConfigurationError) as exc:
            return Candidacy(name, False, f"not available: {exc}"), exc
        try:
            prepared = provider.prepare(request)
        except UnsupportedRequestError as exc:
            return Candidacy(name, False, str(exc), serves_model=exc.field != "model"), exc
        except ConfigurationError as exc:
            return Candidacy(name, False, f"not configured: {exc}", serves_model=True), exc
        except InvalidRequestError as exc:
            return Candidacy(name, False, str(exc), serves_model=True), exc
        row = Candidacy(name, False, prepared=prepared, serves_model=True)
        row.estimate = _table_estimate(provider, prepared)
        if with_stats:
            row.stats = self.figures.stats(name, prepared.model)
        row.reason = self._health(provider, prepared, row.estimate, route, exclude)
        row.candidate = row.reason is None
        return row, None

    def _health(
        self,
        provider: Provider,
        prepared: Prepared,
        estimate: CostEstimate | None,
        route: RouteConfig | None,
        exclude: Collection[str],
    ) -> str | None:
        name = provider.instance
        if name in exclude:
            return "already tried for this job"
        weighted = route is not None and route.strategy == "weighted"
        if weighted and route is not None and route.weights.get(name, 1.0) <= 0:
            return "weight 0 in the route"
        why = self.health.credits.blocked(provider, prepared)
        if why is not None:
            return why
        why = self.health.breakers.blocked(name, prepared.model)
        if why is not None:
            return why
        return self._budget(estimate, route)

    def _budget(self, estimate: CostEstimate | None, route: RouteConfig | None) -> str | None:
        per_job = route.max_cost_usd if route is not None else None
        daily = self.config.ledger.max_daily_spend_usd
        if per_job is None and daily is None:
            return None
        usd = usd_of(estimate)
        if usd is None:
            # a budget that cannot be checked is not a budget: never spend blind
            return "over budget: no USD estimate to check the budget against"
        if per_job is not None and usd > per_job:
            return f"over budget: estimate ${usd} > max_cost_usd ${per_job}"
        if daily is not None:
            # a first look; the submit's own write checks it again, atomically with its hold
            spent = self.figures.spent_today()
            if spent + usd > daily:
                return (
                    f"over daily budget: ${spent} spent or committed today + ${usd} "
                    f"> max_daily_spend_usd ${daily}"
                )
        return None

    # -- ordering ---------------------------------------------------------------------
    def _order(self, rows: list[Candidacy], route: RouteConfig | None) -> list[Candidacy]:
        strategy = route.strategy if route is not None else "priority"
        if strategy == "cheapest":
            return sorted(rows, key=lambda r: _cost_key(r.estimate))  # stable: route order
        if strategy == "fastest":

            def speed(row: Candidacy) -> tuple[int, float, tuple[int, str, Decimal]]:
                p50 = row.stats.p50_s if row.stats is not None else None
                known = 0 if p50 is not None else 1
                return (known, p50 or 0.0, _cost_key(row.estimate))

            return sorted(rows, key=speed)
        if strategy == "weighted":
            assert route is not None
            weights = route.weights

            # weighted order without replacement (Efraimidis-Spirakis): key u^(1/w)
            def draw(row: Candidacy) -> float:
                weight = weights.get(row.provider, 1.0)
                return float(self.rng.random() ** (1.0 / weight))

            keys = {row.provider: draw(row) for row in rows}
            return sorted(rows, key=lambda r: keys[r.provider], reverse=True)
        return rows


_SHARED: dict[CostEstimate, CostEstimate] = {}  # equal (frozen) estimates, one object each


def _table_estimate(provider: Provider, prepared: Prepared) -> CostEstimate | None:
    try:
        estimate = provider.estimate(prepared)
    except (NotImplementedError, VideoGWError, ValueError, ArithmeticError):
        return None
    # Every job keeps its estimate (twice: on the job and its attempt); ten thousand jobs
    # of one model share one object instead of ten thousand equal ones (~1.6 KiB each).
    if len(_SHARED) >= 1024:
        _SHARED.clear()
    try:
        return _SHARED.setdefault(estimate, estimate)
    except TypeError:  # an unhashable subclass: keep it as it is
        return estimate


def describe_rows(rows: Sequence[Candidacy]) -> dict[str, Any]:
    """`{provider: "candidate" | reason}`: a compact view for logs and errors."""
    return {r.provider: "candidate" if r.candidate else r.reason for r in rows}
