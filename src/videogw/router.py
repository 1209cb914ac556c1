"""Which providers may serve a request, in what order, and what a failed submit allows.

`plan()` turns a request into prepared candidates (each validated by its provider) plus the
reason every other provider was left out. `decide()` is the money table of DESIGN §5:
given why a submit failed, may the next candidate be tried?
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .config import Config, RouteConfig
from .errors import (
    ConfigurationError,
    Failover,
    InvalidRequestError,
    NoCandidateError,
    UnknownModelError,
    UnsupportedRequestError,
    VideoGWError,
)
from .models import GenerationRequest
from .provider import Prepared, Provider

__all__ = ["Decision", "Plan", "Router", "decide"]


@dataclass(frozen=True)
class Decision:
    try_next: bool
    cooldown: bool = False
    disable: bool = False
    outcome_unknown: bool = False


# DESIGN §5, failover before acceptance. One row per kind of failure.
DECISIONS: dict[Failover, Decision] = {
    Failover.next: Decision(try_next=True),
    Failover.next_cooldown: Decision(try_next=True, cooldown=True),
    Failover.next_disable: Decision(try_next=True, disable=True),
    Failover.never: Decision(try_next=False),
    Failover.content: Decision(try_next=False),
    Failover.unknown: Decision(try_next=False, outcome_unknown=True),
}


def decide(error: VideoGWError, route: RouteConfig | None) -> Decision:
    kind = getattr(error, "failover", Failover.never)
    if kind is Failover.content and route is not None and route.content_failover:
        return Decision(try_next=True)
    return DECISIONS[kind]


@dataclass
class Plan:
    request: GenerationRequest
    model: str
    route: RouteConfig | None
    candidates: list[Prepared] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


class Router:
    def __init__(
        self,
        config: Config,
        providers: Callable[[], Sequence[str]],
        get: Callable[[str], Provider],
    ) -> None:
        self.config = config
        self._names = providers
        self._get = get

    def route_for(self, model: str) -> RouteConfig | None:
        return self.config.routes.get(model)

    def plan(self, request: GenerationRequest) -> Plan:
        """Candidates in order; raises when the request is wrong everywhere or unserved."""
        pinned = request.pinned_provider
        model = request.model_name
        route = None if pinned else self.route_for(model)
        if pinned:
            names: Sequence[str] = [pinned]
        elif route is not None:
            names = route.candidates
        else:
            names = self._names()
        plan = Plan(request, model, route)
        serves_model = False
        for name in names:
            provider = self._get(name)
            try:
                prepared = provider.prepare(request)
            except UnsupportedRequestError as exc:
                if exc.field != "model":
                    serves_model = True
                plan.skipped[name] = str(exc)
                if pinned:
                    raise
                continue
            except ConfigurationError as exc:
                serves_model = True
                plan.skipped[name] = str(exc)
                if pinned:
                    raise
                continue
            except InvalidRequestError:
                raise  # wrong for every provider: say so now, before anything is sent
            serves_model = True
            plan.candidates.append(prepared)
        if not plan.candidates:
            if not serves_model:
                raise UnknownModelError(f"no provider serves {model!r}", field="model")
            raise NoCandidateError(
                f"no provider can take this {model} request", reasons=plan.skipped
            )
        plan.model = plan.candidates[0].model
        return plan
