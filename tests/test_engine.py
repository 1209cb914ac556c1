"""The engine's rules: reads retry (honouring Retry-After), submits never retry blindly.

Every emulator-backed test runs three ways: in-process (httpx's ASGI transport) and on a
real loopback port through each HTTP client the engine can use (aiohttp, httpx). The wire
edge cases (refused, dropped, timeouts, TLS, proxies) are in test_transports.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from toy import IdempotentToyProvider, SecondToyProvider, ToyProvider
from videogw import AttemptOutcome, Gateway, JobStatus
from videogw.emulator import FakeClock, FaultProfile, SyncEmulatorTransport
from videogw.emulator.harness import Emulated, emulate
from videogw.engine import HTTP_ENV
from videogw.errors import AuthenticationError, RateLimitError
from videogw.testing import maybe_await, registry_with

REQUEST = {"model": "dop-lite", "prompt": "a cat", "image": "https://example.com/cat.jpg"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["in-process", "aiohttp", "httpx"])
def wire(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param != "in-process":
        monkeypatch.setenv(HTTP_ENV, request.param)
    return str(request.param)


@pytest.fixture
def emulated(clock: FakeClock, wire: str) -> Iterator[Emulated]:
    registry = registry_with(ToyProvider, SecondToyProvider, IdempotentToyProvider)
    loopback = wire != "in-process"
    with emulate(
        ["toy", "toy2", "toy-idem"], registry=registry, clock=clock, loopback=loopback
    ) as emulated:
        yield emulated


@pytest.fixture(params=["sync", "async"])
async def gateway(request: pytest.FixtureRequest, emulated: Emulated, clock: FakeClock) -> Any:
    gw = emulated.gateway(sync=request.param == "sync", clock=clock)
    yield gw
    await maybe_await(gw.aclose() if hasattr(gw, "aclose") else gw.close())


def pinned(provider: str) -> dict[str, Any]:
    return {**REQUEST, "model": f"{provider}:dop-lite"}


async def test_status_503_then_200_is_retried(gateway: Any, emulated: Emulated) -> None:
    job = await maybe_await(gateway.submit(pinned("toy")))
    emulated.emulators["toy"].faults = FaultProfile.parse("status:503*1")
    before = emulated.emulators["toy"].count("status")
    job = await maybe_await(gateway.status(job))
    assert emulated.emulators["toy"].count("status") == before + 2
    assert job.status in (JobStatus.queued, JobStatus.running)


async def test_429_retry_after_is_honoured(
    gateway: Any, emulated: Emulated, clock: FakeClock
) -> None:
    job = await maybe_await(gateway.submit(pinned("toy")))
    emulated.emulators["toy"].faults = FaultProfile.parse("status:429/2*1")
    clock.sleeps.clear()
    await maybe_await(gateway.status(job))
    assert clock.sleeps == [pytest.approx(2.0)]


async def test_a_long_retry_after_is_not_slept_through(gateway: Any, emulated: Emulated) -> None:
    job = await maybe_await(gateway.submit(pinned("toy")))
    emulated.emulators["toy"].faults = FaultProfile.parse("status:429/600*1")
    with pytest.raises(RateLimitError) as caught:
        await maybe_await(gateway.status(job))
    assert caught.value.retry_after == 600


async def test_reads_give_up_after_bounded_attempts(
    gateway: Any, emulated: Emulated, clock: FakeClock
) -> None:
    job = await maybe_await(gateway.submit(pinned("toy")))
    emulated.emulators["toy"].faults = FaultProfile.parse("status:503")
    before = emulated.emulators["toy"].count("status")
    with pytest.raises(Exception, match="503"):
        await maybe_await(gateway.status(job))
    assert emulated.emulators["toy"].count("status") - before == 4
    assert len(clock.sleeps) == 3


async def test_drop_after_accept_records_unknown_and_posts_once(
    gateway: Any, emulated: Emulated
) -> None:
    emulator = emulated.emulators["toy"]
    emulator.faults = FaultProfile.parse("submit:drop_after_accept*1")
    job = await maybe_await(gateway.submit(pinned("toy")))
    assert job.status is JobStatus.unknown
    assert job.provider_job_id is None
    attempt = job.attempts[-1]
    assert attempt.outcome is AttemptOutcome.unknown
    assert "OutcomeUnknownError" in (attempt.reason or "")
    assert emulator.count("submit") == 1
    assert len(emulator.jobs) == 1  # a paid job exists at the provider: we must not add one


async def test_idempotent_submit_is_replayed_with_the_same_key(
    gateway: Any, emulated: Emulated
) -> None:
    emulator = emulated.emulators["toy-idem"]
    emulator.faults = FaultProfile.parse("submit:drop_after_accept*1")
    job = await maybe_await(gateway.submit(pinned("toy-idem")))
    assert emulator.count("submit") == 2
    assert len(emulator.jobs) == 1
    assert job.provider_job_id in emulator.jobs
    assert set(emulator.by_key) == {job.idempotency_key}


async def test_non_idempotent_500_on_submit_is_an_unknown_outcome(
    gateway: Any, emulated: Emulated
) -> None:
    emulated.emulators["toy"].faults = FaultProfile.parse("submit:500*1")
    job = await maybe_await(gateway.submit(pinned("toy")))
    assert job.status is JobStatus.unknown
    assert emulated.emulators["toy"].count("submit") == 1


async def test_submit_is_not_retried_on_capacity_errors_but_fails_over(
    gateway: Any, emulated: Emulated
) -> None:
    emulated.emulators["toy"].faults = FaultProfile.parse("submit:503*1")
    request = {**REQUEST, "model": "dop-lite"}
    job = await maybe_await(gateway.submit(request))
    assert emulated.emulators["toy"].count("submit") == 1
    assert job.provider != "toy"
    assert [a.outcome for a in job.attempts][:2] == [
        AttemptOutcome.rejected,
        AttemptOutcome.accepted,
    ]
    assert job.attempts[0].http_status == 503


async def test_auth_failure_is_typed_and_names_the_provider(
    gateway: Any, emulated: Emulated
) -> None:
    emulated.emulators["toy"].api_key = "something-else"
    with pytest.raises(AuthenticationError) as caught:
        await maybe_await(gateway.submit(pinned("toy")))
    assert caught.value.provider == "toy"
    assert caught.value.status_code == 401
    assert caught.value.job is not None
    assert caught.value.job.attempts[-1].outcome is AttemptOutcome.rejected


def test_connection_refused_means_not_sent_and_fails_over(clock: FakeClock) -> None:
    registry = registry_with(ToyProvider, SecondToyProvider)
    emulated = emulate(["toy", "toy2"], registry=registry, clock=clock)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    transports = {
        "toy": httpx.MockTransport(refuse),
        "toy2": SyncEmulatorTransport(emulated.emulators["toy2"]),
    }
    with Gateway(emulated.config(), transports=transports, registry=registry, clock=clock) as gw:
        job = gw.submit(REQUEST)
    assert job.provider == "toy2"
    assert job.attempts[0].outcome is AttemptOutcome.not_sent
    assert job.attempts[0].charged is False


def test_requests_always_carry_a_timeout(clock: FakeClock) -> None:
    seen: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions.get("timeout", {}))
        return httpx.Response(201, json={"id": "x", "state": "pending"})

    provider = ToyProvider(ToyProvider.Settings(api_key="k", timeout_s=12))
    with Gateway(
        providers=[provider],
        registry=registry_with(ToyProvider),
        transport=httpx.MockTransport(record),
        clock=clock,
    ) as gw:
        gw.submit(pinned("toy"))
    assert seen[0]["read"] == 12


class UploadingToy(ToyProvider):
    """Uploads something before submitting, to exercise upload failures."""

    name = "toy-up"

    def submit_flow(self, prepared: Any) -> Any:
        from videogw.provider import Purpose

        upload = httpx.Request("PUT", "https://storage.toy.test/slot", content=b"bytes")
        yield self.call(upload, Purpose.upload)
        return (yield from super().submit_flow(prepared))


def test_a_failed_upload_means_nothing_was_submitted(clock: FakeClock) -> None:
    calls: list[str] = []

    def storage_down(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(500, json={"error": "storage down"})

    provider = UploadingToy(UploadingToy.Settings(api_key="k"))
    with (
        Gateway(
            providers=[provider],
            registry=registry_with(UploadingToy),
            transport=httpx.MockTransport(storage_down),
            clock=clock,
        ) as gw,
        pytest.raises(Exception, match="upload failed") as caught,
    ):
        gw.submit(pinned("toy-up"))
    assert calls == ["PUT"] * 4  # uploads are retried; the submit POST was never sent
    job = caught.value.job  # type: ignore[attr-defined]
    assert job.attempts[-1].outcome is AttemptOutcome.not_sent
