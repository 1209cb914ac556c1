"""Per-provider options, namespaced (``options={"higgsfield": {...}, "pixazo": {...}}``): each
provider reads its own; an option a provider does not know takes that provider out of the
candidates with a reason instead of refusing the request everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from videogw import Gateway, JobStatus
from videogw.emulator import FakeClock
from videogw.emulator.harness import Emulated, emulate
from videogw.errors import NoCandidateError
from videogw.testing import registry_with

higgsfield = pytest.importorskip("videogw_higgsfield")
pixazo = pytest.importorskip("videogw_pixazo")

DOP: dict[str, Any] = {
    "model": "dop-lite",
    "prompt": "a cat walks along a wall",
    "image": "https://example.com/cat.jpg",
    "motion": {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.5},
}


@pytest.fixture
def emulated() -> Emulated:
    registry = registry_with(higgsfield.HiggsfieldProvider, pixazo.PixazoProvider)
    return emulate(["pixazo", "higgsfield"], registry=registry, clock=FakeClock())


@pytest.fixture
def gw(emulated: Emulated) -> Iterator[Gateway]:
    config = emulated.config(routes={"dop-lite": {"candidates": ["pixazo", "higgsfield"]}})
    gateway: Gateway = emulated.gateway(config=config)
    yield gateway
    gateway.close()


def test_a_flat_option_pixazo_does_not_know_skips_pixazo_only(
    gw: Gateway, emulated: Emulated
) -> None:
    """Before: "unknown option for pixazo" refused the whole request."""
    request = {**DOP, "options": {"hf_expires_after": 7200}}
    rows = {row.provider: row for row in gw.explain(request)}
    assert not rows["pixazo"].candidate
    assert "options.hf_expires_after" in (rows["pixazo"].reason or "")
    assert "unknown option for pixazo" in (rows["pixazo"].reason or "")
    assert rows["higgsfield"].candidate
    job = gw.submit(request)
    assert job.provider == "higgsfield"
    assert emulated.emulators["pixazo"].count("submit") == 0
    (sent,) = emulated.emulators["higgsfield"].jobs.values()
    assert sent.data["expires"] == 7200


def test_namespaced_options_go_each_to_its_own_provider(gw: Gateway, emulated: Emulated) -> None:
    options = {"pixazo": {"check_nsfw": False}, "higgsfield": {"hf_expires_after": 7200}}
    job = gw.submit({**DOP, "options": options})
    assert job.provider == "pixazo"  # the route's first choice reads only its own namespace
    assert job.status in (JobStatus.queued, JobStatus.running)
    higgsfield_only = {"higgsfield": {"hf_expires_after": 3600}}
    pinned = gw.submit({**DOP, "model": "higgsfield:dop-lite", "options": higgsfield_only})
    assert pinned.provider == "higgsfield"


def test_an_option_no_candidate_knows_says_why_for_each(gw: Gateway) -> None:
    with pytest.raises(NoCandidateError) as caught:
        gw.submit({**DOP, "options": {"turbo_boost": True}})
    assert set(caught.value.reasons) == {"pixazo", "higgsfield"}
    assert all("options.turbo_boost" in why for why in caught.value.reasons.values())
