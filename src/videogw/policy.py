"""The money rules, in one place: what each failure means before and after acceptance.

`DECISIONS` is the table (one row per `Situation`, every row tested in
tests/test_failover.py) and `decide()` reads it. `settle_submit_error()` is the rule for a
failed submit call: once any try of it may have reached the provider, no later refusal
makes it "not sent" (unknown is sticky), and a 5xx to a submit that cannot be replayed may
hide a created job. The engine and the submit service ask these functions; neither
decides money on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from .errors import (
    Failover,
    OutcomeUnknownError,
    RequestNotSentError,
    ServerError,
    VideoGWError,
)

if TYPE_CHECKING:
    from .config import RouteConfig

__all__ = [
    "DECISIONS",
    "Decision",
    "Situation",
    "decide",
    "may_replay_submit",
    "settle_submit_error",
    "situation_of",
]


class Situation(StrEnum):
    """What happened to one attempt, in the terms of the money rules."""

    # before acceptance: the provider gave no job id
    not_sent = "not_sent"  # connect refused, DNS, TLS: nothing was created
    capacity = "capacity"  # 429, 502/503/504, concurrency limit, 423
    unusable = "unusable"  # 401/403 auth, 402/406 out of credit
    model_unavailable = "model_unavailable"  # model unknown or disabled on this account
    invalid = "invalid"  # 400/422: the request is wrong everywhere
    content_refused = "content_refused"  # moderation refused the input at submit
    unknown = "unknown"  # timeout/drop after sending, 500 without idempotency
    # after acceptance: the provider gave a job id
    failed_refunded = "failed_refunded"  # ended failed, charged=False
    failed_charged = "failed_charged"  # ended failed, charged or maybe charged
    queued_deadline_cancel = "queued_deadline_cancel"  # stuck queued; cancel exists
    queued_deadline_no_cancel = "queued_deadline_no_cancel"  # stuck queued; no cancel


@dataclass(frozen=True)
class Decision:
    try_next: bool  # move the logical job to the next candidate
    cooldown: bool = False  # count against the breaker; honour Retry-After
    disable: bool = False  # skip this provider until reset / refresh
    outcome_unknown: bool = False  # record `unknown` and stop: a paid job may exist
    cancel_first: bool = False  # cancel the live job before moving on
    route_flag: str | None = None  # `try_next` only when this RouteConfig flag is true
    note: str = ""


# DESIGN §5. One row per situation; every row has a test in tests/test_failover*.py.
DECISIONS: dict[Situation, Decision] = {
    Situation.not_sent: Decision(True, cooldown=True, note="nothing was created"),
    Situation.capacity: Decision(True, cooldown=True, note="honour Retry-After"),
    Situation.unusable: Decision(True, disable=True, note="unusable until reset"),
    Situation.model_unavailable: Decision(True, note="another provider may serve it"),
    Situation.invalid: Decision(False, note="wrong everywhere: raise"),
    Situation.content_refused: Decision(
        False, route_flag="content_failover", note="only when the route allows it"
    ),
    Situation.unknown: Decision(
        False, cooldown=True, outcome_unknown=True, note="a job may exist: never pay twice"
    ),
    Situation.failed_refunded: Decision(
        False, route_flag="retry_failed", note="refunded: the next candidate is free to try"
    ),
    Situation.failed_charged: Decision(False, note="paid for: never buy it again"),
    Situation.queued_deadline_cancel: Decision(
        True, cancel_first=True, note="cancel, then resubmit; never two live paid jobs"
    ),
    Situation.queued_deadline_no_cancel: Decision(False, note="no cancel: keep tracking it"),
}

_BY_FAILOVER: dict[Failover, Situation] = {
    Failover.next: Situation.model_unavailable,
    Failover.next_cooldown: Situation.capacity,
    Failover.next_disable: Situation.unusable,
    Failover.never: Situation.invalid,
    Failover.content: Situation.content_refused,
    Failover.unknown: Situation.unknown,
}


def situation_of(error: VideoGWError) -> Situation:
    """The money-table row of a failed submit."""
    if isinstance(error, RequestNotSentError):
        return Situation.not_sent
    return _BY_FAILOVER[getattr(error, "failover", Failover.never)]


def decide(what: VideoGWError | Situation, route: RouteConfig | None) -> Decision:
    """The table's answer, with the route's policy flags applied."""
    situation = what if isinstance(what, Situation) else situation_of(what)
    row = DECISIONS[situation]
    if row.route_flag is not None and route is not None and getattr(route, row.route_flag):
        return Decision(
            True,
            row.cooldown,
            row.disable,
            row.outcome_unknown,
            row.cancel_first,
            row.route_flag,
            row.note,
        )
    return row


def may_replay_submit(error: VideoGWError, *, replayable: bool) -> bool:
    """May a failed submit call be sent again, as is? Only a replayable one (the provider
    honours its idempotency key) whose outcome is unknown; a clear refusal is for the
    router to act on (fail over), not for the engine to repeat."""
    return replayable and isinstance(error, OutcomeUnknownError | ServerError)


def settle_submit_error(
    error: VideoGWError, *, provider: str, replayable: bool, maybe_sent: bool
) -> VideoGWError:
    """What a failed submit means to the caller.

    `maybe_sent`: an earlier try of this very submit may have reached the provider (its
    answer was lost, or it was a 5xx). Then only an acceptance resolves it: any later
    refusal (a 503, 429, 401, 422 to the replay) leaves the outcome unknown, since the
    first try may have created the job. A 5xx to a submit that cannot be replayed may hide
    a created job too."""
    if isinstance(error, OutcomeUnknownError):
        return error
    if maybe_sent:
        unknown = OutcomeUnknownError(
            f"an earlier try of this submit may have reached the provider, and its replay "
            f"ended: {error}; the first job may exist",
            provider=provider,
        )
        unknown.__cause__ = error
        return unknown
    if isinstance(error, ServerError) and not replayable:
        unknown = OutcomeUnknownError(
            f"submit answered HTTP {error.status_code} ({error.message}); the job may exist",
            provider=provider,
        )
        unknown.__cause__ = error
        return unknown
    return error
