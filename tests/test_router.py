"""Routing: strategies, explain() reasons, circuit breakers, credit state and budgets."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from routing_kit import Kit, finished_job, priced, request
from videogw import AsyncGateway, Gateway, JobStatus
from videogw.breaker import BreakerState, CircuitBreaker
from videogw.config import BreakerConfig
from videogw.emulator import FakeClock, FaultProfile
from videogw.errors import NoCandidateError, UnsupportedRequestError
from videogw.store import MemoryStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kit(clock: FakeClock) -> Iterator[Kit]:
    kit = Kit(True, clock)
    yield kit
    asyncio.run(kit.close())


@pytest.fixture
async def akit(clock: FakeClock) -> AsyncIterator[Kit]:
    kit = Kit(False, clock)
    yield kit
    await kit.close()


def order(gw: Gateway, **changes: Any) -> list[str]:
    return [c.provider for c in gw.router.plan(gw._request(request(**changes), {})).candidates]


def reasons(gw: Gateway, **changes: Any) -> dict[str, str | None]:
    return {row.provider: row.reason for row in gw.explain(request(**changes))}


# -- strategies --------------------------------------------------------------------------


def test_priority_keeps_the_route_order(kit: Kit) -> None:
    gw = kit.gateway({"candidates": ["toy2", "toy-cheap", "toy"]})
    assert order(gw) == ["toy2", "toy-cheap", "toy"]


def test_cheapest_orders_by_usd_then_same_currency_then_unknown_last(kit: Kit) -> None:
    route = {
        "candidates": ["toy-unpriced", "toy", "toy-credits", "toy-cheap"],
        "strategy": "cheapest",
    }
    gw = kit.gateway(route)
    # toy-cheap $0.04 < toy-credits 7 credits = $0.07 < toy $0.10 < no estimate at all
    assert order(gw) == ["toy-cheap", "toy-credits", "toy", "toy-unpriced"]


def test_cheapest_compares_credits_without_a_rate_only_among_themselves() -> None:
    from videogw.router import _cost_key

    usd, no_rate_a, no_rate_b = priced("9.00"), priced("5", "credits"), priced("3", "credits")
    ranked = sorted([no_rate_a, None, usd, no_rate_b], key=_cost_key)
    assert ranked == [usd, no_rate_b, no_rate_a, None]


def test_fastest_orders_by_observed_p50_with_the_estimate_as_tie_break(kit: Kit) -> None:
    store = MemoryStore()
    for latency in (30, 32, 34):
        store.create(finished_job("toy", latency))
    for latency in (90, 95, 99):
        store.create(finished_job("toy-cheap", latency))
    for latency in (30, 32, 34):
        store.create(finished_job("toy2", latency))  # as fast as toy; same price
    route = {"candidates": ["toy-cheap", "toy2", "toy-unpriced", "toy"], "strategy": "fastest"}
    gw = kit.gateway(route, store=store)
    # toy and toy2 tie on p50 and price: route order breaks the tie; no history goes last
    assert order(gw) == ["toy2", "toy", "toy-cheap", "toy-unpriced"]
    stats = gw.stats("toy-cheap", "dop-lite")
    assert stats is not None
    assert stats.p50_s == pytest.approx(95)
    assert stats.samples == 3


def test_fastest_uses_the_estimate_when_latencies_tie(kit: Kit) -> None:
    store = MemoryStore()
    for name in ("toy", "toy-cheap"):
        store.create(finished_job(name, 40))
    gw = kit.gateway({"candidates": ["toy", "toy-cheap"], "strategy": "fastest"}, store=store)
    assert order(gw) == ["toy-cheap", "toy"]


def test_weighted_is_reproducible_with_a_seeded_rng_and_follows_the_weights(
    kit: Kit,
) -> None:
    route = {
        "candidates": ["toy", "toy2", "toy-cheap"],
        "strategy": "weighted",
        "weights": {"toy": 8, "toy2": 1, "toy-cheap": 0},
    }
    gw = kit.gateway(route)
    gw.router.rng = random.Random(7)
    first = [order(gw)[0] for _ in range(400)]
    gw.router.rng = random.Random(7)
    assert [order(gw)[0] for _ in range(400)] == first
    assert 0.8 < first.count("toy") / 400 < 0.97  # weight 8 of 9
    assert "toy-cheap" not in first
    assert reasons(gw)["toy-cheap"] == "weight 0 in the route"


def test_a_pinned_request_goes_only_to_its_provider(kit: Kit) -> None:
    gw = kit.gateway({"candidates": ["toy", "toy2"]})
    assert order(gw, model="toy-cheap:dop-lite") == ["toy-cheap"]
    why = reasons(gw, model="toy-cheap:dop-lite")
    assert why["toy"] == "the request is pinned to toy-cheap"


# -- explain -----------------------------------------------------------------------------


def test_explain_says_why_each_provider_is_not_a_candidate(kit: Kit, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG not really")
    route = {
        "candidates": ["toy", "toy-motion", "toy-urlonly", "toy-cheap"],
        "max_cost_usd": "0.05",
    }
    gw = kit.gateway(route)
    gw.credits.disable("toy-cheap", "out of credit (HTTP 402)", credit=True)
    rows = gw.explain(request(image=str(image)))
    why = {row.provider: row.reason for row in rows}
    assert [row.provider for row in rows if row.candidate] == []
    assert "over budget" in (why["toy"] or "")
    assert "motion" in (why["toy-motion"] or "")
    assert "local files" in (why["toy-urlonly"] or "")
    assert "out of credit" in (why["toy-cheap"] or "")
    assert why["toy2"] == "not in the route for dop-lite"
    with pytest.raises(NoCandidateError) as caught:
        gw.router.plan(gw._request(request(image=str(image)), {}))
    assert set(caught.value.reasons) == {"toy", "toy-motion", "toy-urlonly", "toy-cheap"}


def test_explain_lists_candidates_first_in_strategy_order(kit: Kit) -> None:
    gw = kit.gateway({"candidates": ["toy", "toy-cheap"], "strategy": "cheapest"})
    rows = gw.explain(request())
    assert [(r.provider, r.candidate) for r in rows[:2]] == [("toy-cheap", True), ("toy", True)]
    assert rows[0].estimate is not None
    assert rows[0].estimate.amount == Decimal("0.04")
    assert all(not r.candidate for r in rows[2:])


def test_a_pinned_provider_that_cannot_serve_raises_its_own_error(kit: Kit) -> None:
    gw = kit.gateway()
    with pytest.raises(UnsupportedRequestError, match="motion"):
        gw.router.plan(gw._request(request(model="toy-motion:dop-lite"), {}))


# -- budgets -----------------------------------------------------------------------------


def test_max_cost_per_job_skips_dearer_and_unpriced_providers(kit: Kit) -> None:
    route = {"candidates": ["toy", "toy-unpriced", "toy-cheap"], "max_cost_usd": "0.05"}
    gw = kit.gateway(route)
    assert order(gw) == ["toy-cheap"]
    why = reasons(gw)
    assert "$0.10 > max_cost_usd $0.05" in (why["toy"] or "")
    assert "no USD estimate" in (why["toy-unpriced"] or "")


@pytest.mark.parametrize("ledger", ["memory", "sqlite"])
def test_daily_budget_counts_todays_charged_and_live_attempts(
    kit: Kit, clock: FakeClock, tmp_path: Path, ledger: str
) -> None:
    from videogw.ledger import SQLiteLedger

    store: Any = MemoryStore() if ledger == "memory" else SQLiteLedger(tmp_path / "l.sqlite3")
    now = clock.now()
    store.create(finished_job("toy", 10, cost="0.10", ended=now - timedelta(minutes=5)))
    store.create(finished_job("toy", 10, cost="0.10", ended=now - timedelta(days=2)))  # not today
    store.create(finished_job("toy", 10, status=JobStatus.failed, charged=False, ended=now))
    live = finished_job("toy2", 10, status=JobStatus.running, charged=None, cost=None, ended=now)
    store.create(live)  # may still cost its estimate, $0.10
    route = {"candidates": ["toy", "toy-cheap"]}
    gw = kit.gateway(route, store=store, ledger={"max_daily_spend_usd": "0.25"})
    # $0.10 charged + $0.10 committed today: $0.10 more breaks $0.25, $0.04 does not
    assert order(gw) == ["toy-cheap"]
    assert "over daily budget" in (reasons(gw)["toy"] or "")
    midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
    assert store.spend_usd(midnight) == Decimal("0.1")
    assert store.committed_usd(midnight) == Decimal("0.1")


# -- breakers ------------------------------------------------------------------------------


def test_an_open_breaker_removes_the_provider_and_half_open_lets_one_probe_through(
    kit: Kit, clock: FakeClock
) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:503*2")
    breaker = {"failures": 2, "window_s": 60, "cooldown_s": 30}
    gw = kit.gateway({"candidates": ["toy", "toy2"]}, breaker=breaker)
    for _ in range(2):
        assert gw.submit(request()).provider == "toy2"
    assert gw.breakers.state("toy", "dop-lite") is BreakerState.open
    assert "circuit breaker open" in (reasons(gw)["toy"] or "")
    assert gw.submit(request()).provider == "toy2"
    assert kit.emulator("toy").count("submit") == 2  # open: not even asked

    clock.advance(31)
    assert gw.breakers.state("toy", "dop-lite") is BreakerState.half_open
    assert order(gw) == ["toy", "toy2"]
    assert gw.breakers.acquire("toy", "dop-lite")  # the probe
    assert not gw.breakers.acquire("toy", "dop-lite")  # nobody else while it is out
    assert "probe is already in flight" in (reasons(gw)["toy"] or "")
    gw.breakers.release("toy", "dop-lite")

    job = gw.submit(request())  # this submit is the probe; it succeeds
    assert job.provider == "toy"
    assert gw.breakers.state("toy", "dop-lite") is BreakerState.closed


async def test_half_open_admits_a_single_probe_among_concurrent_submits(
    akit: Kit, clock: FakeClock
) -> None:
    kit = akit
    gw: AsyncGateway = kit.gateway(
        {"candidates": ["toy", "toy2"]}, breaker={"failures": 1, "cooldown_s": 30}
    )
    kit.emulator("toy").faults = FaultProfile.parse("submit:503*1")
    assert (await gw.submit(request())).provider == "toy2"
    clock.advance(31)
    kit.emulator("toy").faults = FaultProfile.parse("submit:slow/0.05*1")
    jobs = await asyncio.gather(*(gw.submit(request()) for _ in range(3)))
    assert sorted(j.provider or "" for j in jobs) == ["toy", "toy2", "toy2"]
    assert kit.emulator("toy").count("submit") == 2  # the first failure, then one probe


def test_a_failed_probe_opens_the_breaker_again(kit: Kit, clock: FakeClock) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:503*2")
    gw = kit.gateway({"candidates": ["toy", "toy2"]}, breaker={"failures": 1, "cooldown_s": 30})
    gw.submit(request())
    clock.advance(31)
    assert gw.submit(request()).provider == "toy2"  # probe sent to toy, refused again
    assert kit.emulator("toy").count("submit") == 2
    assert gw.breakers.state("toy", "dop-lite") is BreakerState.open


def test_breaker_counts_only_failures_within_the_window() -> None:
    breaker = CircuitBreaker(BreakerConfig(failures=3, window_s=10, cooldown_s=5))
    for t in (0.0, 5.0, 16.0, 17.0):
        breaker.failure(t)
    assert breaker.state(17.0) is BreakerState.closed  # 0 s and 5 s left the 10 s window
    breaker.failure(18.0)
    assert breaker.state(18.0) is BreakerState.open
    assert breaker.state(23.5) is BreakerState.half_open


def test_low_credit_hook_and_threshold_are_read_with_getattr(kit: Kit) -> None:
    gw = kit.gateway({"candidates": ["toy", "toy2"]})
    toy = gw.provider("toy")
    gw.credits.observe("toy", Decimal(3))
    assert order(gw) == ["toy", "toy2"]  # no rule declared: a balance alone never blocks
    toy.credit_ok = lambda remaining: remaining is None or remaining >= 5  # type: ignore[attr-defined]
    assert order(gw) == ["toy2"]
    assert "low credit" in (reasons(gw)["toy"] or "")
