"""`compare`: a row per provider with estimate, ledger figures, and (opt-in) a real run."""

from __future__ import annotations

from decimal import Decimal

import pytest

from routing_kit import Kit, finished_job, request
from videogw import JobStatus
from videogw.compare import Comparison
from videogw.emulator import FaultProfile
from videogw.store import MemoryStore
from videogw.testing import maybe_await

ROUTE = {"candidates": ["toy", "toy-cheap", "toy-credits", "toy-motion"], "strategy": "cheapest"}


async def test_compare_lists_every_provider_with_estimate_and_ledger_figures(kit: Kit) -> None:
    store = MemoryStore()
    for latency in (20, 30, 40, 50):
        store.create(finished_job("toy", latency))
    store.create(finished_job("toy", 5, status=JobStatus.failed, charged=False, cost=None))
    gw = kit.gateway(ROUTE, store=store)
    rows: list[Comparison] = await maybe_await(gw.compare(request()))
    by = {row.provider: row for row in rows}
    assert set(by) == set(gw.provider_names())
    assert [r.provider for r in rows if r.candidate] == ["toy-cheap", "toy-credits", "toy"]
    cheap, credits, toy = by["toy-cheap"], by["toy-credits"], by["toy"]
    assert (cheap.amount, cheap.currency, cheap.usd) == (Decimal("0.04"), "USD", Decimal("0.04"))
    assert (credits.amount, credits.currency, credits.usd) == (
        Decimal("7"),
        "credits",
        Decimal("0.07"),
    )
    assert toy.source == "tests/toy.py"
    assert toy.provider_model == "toy-lite"
    assert toy.stats is not None
    assert (toy.stats.samples, toy.stats.p50_s, toy.stats.p95_s) == (5, 30, 50)
    assert toy.stats.success_rate == pytest.approx(0.8)
    assert toy.stats.mean_cost == Decimal("0.10")
    assert cheap.stats is not None
    assert cheap.stats.samples == 0
    assert not by["toy-motion"].candidate
    assert "motion" in (by["toy-motion"].reason or "")
    assert by["toy2"].reason == "not in the route for dop-lite"
    assert by["toy"].as_dict()["samples"] == 5
    assert by["toy"].as_dict()["latency_samples"] == 4  # the successes: p50/p95 are theirs
    assert sum(kit.emulator(n).count("submit") for n in ROUTE["candidates"]) == 0  # free


async def test_compare_run_measures_latency_and_actual_cost_on_every_candidate(
    kit: Kit,
) -> None:
    kit.emulator("toy-credits").faults = FaultProfile.parse("submit:503*1")
    gw = kit.gateway(ROUTE)
    rows: list[Comparison] = await maybe_await(gw.compare(request(), run=True))
    by = {row.provider: row for row in rows}
    for name in ("toy", "toy-cheap"):
        row = by[name]
        assert row.job is not None
        assert row.job.provider == name
        assert row.job.status is JobStatus.succeeded
        assert row.measured_latency_s is not None
        assert 2.5 <= row.measured_latency_s < 10
        assert (row.actual_cost, row.actual_currency) == (Decimal("0.10"), "USD")
    failed = by["toy-credits"]
    assert failed.job is None
    assert "503" in (failed.run_error or "")
    assert by["toy-motion"].job is None  # not a candidate: never run
    jobs = {r.job.id for r in rows if r.job is not None}
    assert len(jobs) == 2  # each run is its own logical job
    keys = {gw.get(job_id).idempotency_key for job_id in jobs}
    assert len(keys) == 2
    assert {gw.get(job_id).labels["compare"] for job_id in jobs} == {
        next(iter(gw.get(j).labels["compare"] for j in jobs))
    }
