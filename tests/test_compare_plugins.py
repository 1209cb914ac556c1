"""`compare` across the four real provider plugins, on their emulators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from videogw import Gateway, JobStatus
from videogw.emulator import FakeClock
from videogw.emulator.harness import Emulated, emulate
from videogw.testing import registry_with

higgsfield = pytest.importorskip("videogw_higgsfield")
segmind = pytest.importorskip("videogw_segmind")
pixazo = pytest.importorskip("videogw_pixazo")
hfrelay = pytest.importorskip("videogw_hfrelay")

NAMES = ["higgsfield", "segmind", "pixazo", "hfrelay"]
DOP_LITE: dict[str, Any] = {
    "model": "dop-lite",
    "prompt": "a cat walks along a wall",
    "image": "https://example.com/cat.jpg",
    "motion": {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.5},
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulated(clock: FakeClock) -> Emulated:
    registry = registry_with(
        higgsfield.HiggsfieldProvider,
        segmind.SegmindProvider,
        pixazo.PixazoProvider,
        hfrelay.HfRelayProvider,
    )
    return emulate(NAMES, registry=registry, clock=clock)


@pytest.fixture
def gw(emulated: Emulated, clock: FakeClock) -> Iterator[Gateway]:
    config = emulated.config(routes={"dop-lite": {"candidates": NAMES, "strategy": "cheapest"}})
    gateway: Gateway = emulated.gateway(config=config, clock=clock)
    yield gateway
    gateway.close()


def test_compare_on_a_dop_lite_request_lists_all_four_providers_with_estimates_and_sources(
    gw: Gateway, emulated: Emulated
) -> None:
    rows = gw.compare(DOP_LITE)
    by = {r.provider: r for r in rows}
    assert set(NAMES) <= set(by)
    for name in NAMES:
        row = by[name]
        assert row.candidate, (name, row.reason)
        assert row.estimate is not None, name
        assert row.amount is not None
        assert row.amount > 0
        assert row.currency in ("USD", "credits", "units")
        assert row.source, name
        assert row.estimate.basis, name
        assert row.stats is not None
        assert row.stats.samples == 0
    assert by["pixazo"].provider_model == "dop-lite"
    # cheapest in USD first; a price with no USD rate (relative units) goes last
    order = [r.provider for r in rows if r.candidate]
    if by["hfrelay"].usd is None:  # relative units without a configured USD base price
        assert order[-1] == "hfrelay"
    usds = [r.usd for r in rows if r.candidate and r.usd is not None]
    assert usds == sorted(usds)
    assert sum(e.count("submit") for e in emulated.emulators.values()) == 0  # nothing spent


def test_compare_run_on_all_four_reports_measured_latency_and_actual_cost(gw: Gateway) -> None:
    rows = gw.compare(DOP_LITE, run=True)
    ran = {r.provider: r for r in rows if r.job is not None}
    assert set(ran) == set(NAMES)
    for name, row in ran.items():
        assert row.job is not None, name
        assert row.job.status is JobStatus.succeeded, name
        assert row.job.provider == name
        assert row.measured_latency_s is not None
        assert row.measured_latency_s > 0
    # Segmind and Pixazo report what the job cost; it lands on the row
    assert ran["segmind"].actual_cost is not None
    assert ran["pixazo"].actual_cost is not None
