"""Emulators on a real loopback port: a plain httpx client, real sockets, real drops."""

from __future__ import annotations

import httpx
import pytest

from toy import ToyProvider
from videogw import AttemptOutcome, JobStatus
from videogw.emulator import FaultProfile, LoopbackServer
from videogw.emulator.clock import Timing
from videogw.emulator.harness import emulate
from videogw.engine import HTTP_ENV
from videogw.testing import maybe_await, registry_with

REQUEST = {"model": "dop-lite", "prompt": "a cat", "image": "https://example.com/cat.jpg"}


@pytest.fixture(params=["aiohttp", "httpx"])
def http(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each gateway test runs on every HTTP client the engine can use."""
    monkeypatch.setenv(HTTP_ENV, request.param)
    return str(request.param)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_job_runs_end_to_end_over_loopback(http: str, sync: bool) -> None:
    registry = registry_with(ToyProvider)
    with emulate(
        ["toy"], registry=registry, loopback=True, timing=Timing(queue_s=0.05, run_s=0.1)
    ) as emulated:
        base = emulated.settings["toy"]["base_url"]
        assert base.startswith("http://127.0.0.1:")
        gateway = emulated.gateway(sync=sync)
        try:
            job = await maybe_await(gateway.run(REQUEST, timeout=30))
        finally:
            await maybe_await(gateway.close() if sync else gateway.aclose())
    assert job.status is JobStatus.succeeded
    assert job.outputs[0].url.startswith(base)  # URLs point back at the emulator itself


def test_drop_after_accept_over_a_real_socket_is_an_unknown_outcome(http: str) -> None:
    registry = registry_with(ToyProvider)
    with emulate(["toy"], registry=registry, loopback=True) as emulated:
        emulator = emulated.emulators["toy"]
        emulator.faults = FaultProfile.parse("submit:drop_after_accept*1")
        with emulated.gateway() as gateway:
            job = gateway.submit(REQUEST)
    assert job.status is JobStatus.unknown
    assert job.attempts[-1].outcome is AttemptOutcome.unknown
    assert emulator.count("submit") == 1
    assert len(emulator.jobs) == 1


def test_fault_profiles_parse_and_count_what_they_inject() -> None:
    profile = FaultProfile.parse("submit:503*2 status:429/3@1.0 nsfw@0.5", seed=1)
    assert profile.draw("submit").status == 503  # type: ignore[union-attr]
    assert profile.draw("submit").status == 503  # type: ignore[union-attr]
    assert profile.draw("submit") is None
    fault = profile.draw("status")
    assert fault is not None
    assert (fault.status, fault.retry_after) == (429, 3.0)
    assert profile.injected == {"submit:503": 2, "status:429": 1}


def test_two_servers_get_their_own_ports() -> None:
    app_a, app_b = ToyProvider.emulator(), ToyProvider.emulator()
    with LoopbackServer(app_a) as a, LoopbackServer(app_b) as b:
        assert a.port != b.port
        answer = httpx.get(f"{a.base_url}/v1/jobs/nope", headers={"Authorization": "Bearer k"})
    assert answer.status_code == 404
    assert app_a.count("status") == 1
    assert app_b.count("status") == 0
