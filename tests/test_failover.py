"""The money table (DESIGN §5): one test per row of `videogw.router.DECISIONS`, each
against emulators with an injected fault, through the sync and the async gateway."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from routing_kit import Kit, request
from videogw import AttemptOutcome, JobStatus
from videogw.emulator import FakeClock, FaultProfile, Timing
from videogw.errors import ContentRefusedError, ProviderRejectedError
from videogw.events import FailedOver, JobEvent
from videogw.policy import DECISIONS, Situation, decide
from videogw.testing import maybe_await

PAIR = {"candidates": ["toy", "toy2"]}


def submits(kit: Kit, name: str) -> int:
    return int(kit.emulator(name).count("submit"))


# -- before acceptance -----------------------------------------------------------------


async def test_row_not_sent_fails_over_and_counts_against_the_breaker(kit: Kit) -> None:
    def refuse(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=req)

    gw = kit.gateway(PAIR, transports={"toy": httpx.MockTransport(refuse)})
    job = await maybe_await(gw.submit(request()))
    assert job.provider == "toy2"
    assert [a.outcome for a in job.attempts] == [AttemptOutcome.not_sent, AttemptOutcome.accepted]
    assert job.attempts[0].charged is False
    assert len(gw.breakers.get("toy", "dop-lite").failures) == 1


async def test_row_capacity_503_fails_over(kit: Kit) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:503*1")
    events: list[JobEvent] = []
    gw = kit.gateway(PAIR)
    gw.on_event(events.append)
    job = await maybe_await(gw.submit(request()))
    assert (job.provider, submits(kit, "toy"), submits(kit, "toy2")) == ("toy2", 1, 1)
    assert job.attempts[0].outcome is AttemptOutcome.rejected
    assert job.attempts[0].http_status == 503
    over = [e for e in events if isinstance(e, FailedOver)]
    assert [(e.provider, e.next_provider) for e in over] == [("toy", "toy2")]


async def test_row_capacity_429_honours_retry_after_as_a_cool_down(
    kit: Kit, clock: FakeClock
) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:429/120*1")
    gw = kit.gateway(PAIR)
    first = await maybe_await(gw.submit(request()))
    assert first.provider == "toy2"
    why = {row.provider: row.reason for row in gw.explain(request())}
    assert "cooling down" in (why["toy"] or "")
    second = await maybe_await(gw.submit(request()))
    assert second.provider == "toy2"
    assert submits(kit, "toy") == 1  # skipped while cooling down
    clock.advance(121)
    third = await maybe_await(gw.submit(request()))
    assert third.provider == "toy"


async def test_row_unusable_auth_failure_disables_the_provider_until_reset(kit: Kit) -> None:
    kit.emulator("toy").api_key = "the-only-right-key"
    gw = kit.gateway(PAIR)
    job = await maybe_await(gw.submit(request()))
    assert job.provider == "toy2"
    assert job.attempts[0].http_status == 401
    why = {row.provider: row.reason for row in gw.explain(request())}
    assert "authentication failed" in (why["toy"] or "")
    await maybe_await(gw.submit(request()))
    assert submits(kit, "toy") == 1  # not asked again
    kit.emulator("toy").api_key = None
    gw.reset_provider("toy")
    again = await maybe_await(gw.submit(request()))
    assert again.provider == "toy"


async def test_row_unusable_out_of_credit_until_a_refresh_shows_credit(kit: Kit) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:402*1")
    gw = kit.gateway(PAIR)
    job = await maybe_await(gw.submit(request()))
    assert job.provider == "toy2"
    why = {row.provider: row.reason for row in gw.explain(request())}
    assert "out of credit" in (why["toy"] or "")
    gw.credits.observe("toy", Decimal(0))
    assert not next(r for r in gw.explain(request()) if r.provider == "toy").candidate
    gw.credits.observe("toy", Decimal(500))  # topped up: a balance read says so
    assert next(r for r in gw.explain(request()) if r.provider == "toy").candidate


async def test_row_model_unavailable_fails_over_without_a_breaker_mark(kit: Kit) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:404*1")
    gw = kit.gateway(PAIR)
    job = await maybe_await(gw.submit(request()))
    assert job.provider == "toy2"
    assert not gw.breakers.get("toy", "dop-lite").failures


async def test_row_invalid_request_raises_and_never_fails_over(kit: Kit) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:422*1")
    gw = kit.gateway(PAIR)
    with pytest.raises(ProviderRejectedError) as caught:
        await maybe_await(gw.submit(request()))
    assert submits(kit, "toy2") == 0
    job = caught.value.job
    assert job is not None
    assert job.status is JobStatus.failed  # nothing exists anywhere: not for reconciliation
    assert job.charged is False
    assert gw.unknown_submits() == []


async def test_row_content_refused_does_not_fail_over_by_default(kit: Kit) -> None:
    gw = kit.gateway({"candidates": ["toy", "toy-lenient"]})
    with pytest.raises(ContentRefusedError):
        await maybe_await(gw.submit(request(prompt="forbidden")))
    assert submits(kit, "toy-lenient") == 0


async def test_row_content_refused_fails_over_when_the_route_allows(kit: Kit) -> None:
    gw = kit.gateway({"candidates": ["toy", "toy-lenient"], "content_failover": True})
    job = await maybe_await(gw.submit(request(prompt="forbidden")))
    assert job.provider == "toy-lenient"
    assert job.attempts[0].outcome is AttemptOutcome.rejected


async def test_row_unknown_drop_after_accept_sends_nothing_elsewhere(kit: Kit) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:drop_after_accept*1")
    gw = kit.gateway(PAIR)
    job = await maybe_await(gw.submit(request()))
    assert job.status is JobStatus.unknown
    assert job.provider_job_id is None
    assert [a.outcome for a in job.attempts] == [AttemptOutcome.unknown]
    assert kit.emulator("toy2").count("submit") == 0  # the second provider received nothing
    assert len(kit.emulator("toy").jobs) == 1  # a paid job exists: reconcile, never re-buy
    assert [j.id for j in gw.unknown_submits()] == [job.id]


async def test_row_unknown_500_without_idempotency(kit: Kit) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:500*1")
    gw = kit.gateway(PAIR)
    job = await maybe_await(gw.submit(request()))
    assert job.status is JobStatus.unknown
    assert submits(kit, "toy2") == 0


async def test_row_unknown_with_idempotency_replays_the_same_key(kit: Kit) -> None:
    emulator = kit.emulator("toy-idem")
    emulator.faults = FaultProfile.parse("submit:drop_after_accept*1")
    gw = kit.gateway({"candidates": ["toy-idem", "toy2"]})
    job = await maybe_await(gw.submit(request()))
    assert job.provider == "toy-idem"
    assert job.provider_job_id in emulator.jobs
    assert (emulator.count("submit"), len(emulator.jobs)) == (2, 1)
    assert submits(kit, "toy2") == 0


async def test_a_request_refused_while_building_the_call_ends_failed_not_unknown(
    kit: Kit,
) -> None:
    from videogw.errors import InvalidRequestError

    gw = kit.gateway(PAIR)
    toy = gw.provider("toy")

    def refuse(prepared: object) -> object:
        raise InvalidRequestError("image too large for toy", field="image", provider="toy")

    toy.build_submit = refuse  # type: ignore[method-assign]
    with pytest.raises(InvalidRequestError) as caught:
        await maybe_await(gw.submit(request()))
    job = caught.value.job
    assert job is not None
    assert (job.status, [a.outcome for a in job.attempts]) == (
        JobStatus.failed,
        [AttemptOutcome.not_sent],
    )
    assert gw.unknown_submits() == []
    assert submits(kit, "toy") == submits(kit, "toy2") == 0


# -- after acceptance --------------------------------------------------------------------


async def test_row_failed_refunded_moves_on_with_retry_failed(
    kit: Kit,
) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("failed")  # every toy job fails, refunded
    gw = kit.gateway({**PAIR, "retry_failed": True})
    job = await maybe_await(gw.run(request()))
    assert job.status is JobStatus.succeeded
    assert job.provider == "toy2"
    first, second = job.attempts
    assert (first.provider, first.status, first.charged) == ("toy", JobStatus.failed, False)
    assert (second.provider, second.status, second.charged) == ("toy2", JobStatus.succeeded, True)
    assert job.spend == Decimal("0.10")  # only the second attempt was paid for
    assert job.charged is True
    assert submits(kit, "toy2") == 1
    assert gw.get(job.id) == job  # what the store holds is what was returned


async def test_row_failed_refunded_stays_failed_without_retry_failed(kit: Kit) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("failed")
    gw = kit.gateway(PAIR)
    job = await maybe_await(gw.run(request()))
    assert (job.status, job.charged, len(job.attempts)) == (JobStatus.failed, False, 1)
    assert submits(kit, "toy2") == 0


async def test_row_failed_charged_is_never_bought_again(kit: Kit) -> None:
    kit.emulator("toy-keeps").faults = FaultProfile.parse("failed")
    gw = kit.gateway({"candidates": ["toy-keeps", "toy2"], "retry_failed": True})
    job = await maybe_await(gw.run(request()))
    assert (job.status, job.charged, len(job.attempts)) == (JobStatus.failed, True, 1)
    assert submits(kit, "toy2") == 0


async def test_row_queued_deadline_cancels_then_resubmits(kit: Kit) -> None:
    kit.emulator("toy").timing = Timing(queue_s=1000, run_s=1)
    gw = kit.gateway({**PAIR, "queued_deadline_s": 30})
    job = await maybe_await(gw.run(request()))
    assert job.status is JobStatus.succeeded
    assert [(a.provider, a.status) for a in job.attempts] == [
        ("toy", JobStatus.cancelled),
        ("toy2", JobStatus.succeeded),
    ]
    assert job.attempts[0].charged is False
    (stuck,) = kit.emulator("toy").jobs.values()
    (moved,) = kit.emulator("toy2").jobs.values()
    # never two live paid jobs: the first was cancelled before the second was created
    assert stuck.cancelled_at is not None
    assert stuck.cancelled_at <= moved.created


async def test_row_queued_deadline_without_cancel_keeps_tracking(kit: Kit) -> None:
    kit.emulator("toy-nocancel").timing = Timing(queue_s=100, run_s=1)
    gw = kit.gateway({"candidates": ["toy-nocancel", "toy2"], "queued_deadline_s": 30})
    job = await maybe_await(gw.run(request()))
    assert (job.status, job.provider, len(job.attempts)) == (
        JobStatus.succeeded,
        "toy-nocancel",
        1,
    )
    assert "no cancel" in (job.attempts[0].reason or "")
    assert submits(kit, "toy2") == 0


async def test_queued_deadline_when_cancel_comes_too_late_keeps_tracking(kit: Kit) -> None:
    kit.emulator("toy").timing = Timing(queue_s=100, run_s=1)
    kit.emulator("toy").faults = FaultProfile.parse("cancel:409*1")  # "already started"
    gw = kit.gateway({**PAIR, "queued_deadline_s": 30})
    job = await maybe_await(gw.run(request()))
    assert (job.status, job.provider, len(job.attempts)) == (JobStatus.succeeded, "toy", 1)
    assert "already started" in (job.attempts[0].reason or "")
    assert kit.emulator("toy").count("cancel") == 1
    assert submits(kit, "toy2") == 0


# -- the table itself --------------------------------------------------------------------

ROW_TESTS = {
    Situation.not_sent: test_row_not_sent_fails_over_and_counts_against_the_breaker,
    Situation.capacity: test_row_capacity_503_fails_over,
    Situation.unusable: test_row_unusable_auth_failure_disables_the_provider_until_reset,
    Situation.model_unavailable: test_row_model_unavailable_fails_over_without_a_breaker_mark,
    Situation.invalid: test_row_invalid_request_raises_and_never_fails_over,
    Situation.content_refused: test_row_content_refused_does_not_fail_over_by_default,
    Situation.unknown: test_row_unknown_drop_after_accept_sends_nothing_elsewhere,
    Situation.failed_refunded: test_row_failed_refunded_moves_on_with_retry_failed,
    Situation.failed_charged: test_row_failed_charged_is_never_bought_again,
    Situation.queued_deadline_cancel: test_row_queued_deadline_cancels_then_resubmits,
    Situation.queued_deadline_no_cancel: test_row_queued_deadline_without_cancel_keeps_tracking,
}


def test_every_row_of_the_money_table_has_a_test() -> None:
    assert set(ROW_TESTS) == set(DECISIONS) == set(Situation)


def test_route_flags_only_open_their_own_rows() -> None:
    from videogw.config import RouteConfig

    loose = RouteConfig(candidates=["a"], retry_failed=True, content_failover=True)
    assert decide(Situation.failed_refunded, loose).try_next
    assert decide(Situation.content_refused, loose).try_next
    assert not decide(Situation.failed_refunded, None).try_next
    assert not decide(Situation.unknown, loose).try_next
    assert not decide(Situation.failed_charged, loose).try_next
    assert not decide(Situation.invalid, loose).try_next
