"""Test helpers for provider authors: a conformance suite every provider's tests subclass.

```python
from videogw.testing import ProviderContract

class TestPixazoContract(ProviderContract):
    provider_class = PixazoProvider
    request = {"model": "dop-lite", "prompt": "a cat", "image": "https://example.com/cat.jpg",
               "motion": {"id": "...", "strength": 0.5}}
```

Every test runs twice, through `Gateway` and through `AsyncGateway` (both really await),
against the provider's own emulator with a fake clock, so no wall time passes and no
network is touched.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

from .emulator.clock import FakeClock
from .emulator.faults import FaultProfile
from .emulator.harness import Emulated, emulate
from .errors import (
    AuthenticationError,
    NoCandidateError,
    UnsupportedOperationError,
    UnsupportedRequestError,
)
from .hookspecs import hookimpl
from .models import AttemptOutcome, CostEstimate, GenerationRequest, Job, JobStatus
from .plugins import Registry
from .provider import Provider

__all__ = ["ProviderContract", "maybe_await", "registry_with"]


async def maybe_await(value: Any) -> Any:
    """Await `value` if it is awaitable (AsyncGateway), else return it (Gateway)."""
    if inspect.isawaitable(value):
        return await value
    return value


class _ClassesPlugin:
    def __init__(self, classes: tuple[type[Provider], ...]) -> None:
        self.classes = classes

    @hookimpl
    def register_providers(self, register: Any) -> None:
        for cls in self.classes:
            register(cls)


def registry_with(*classes: type[Provider], autoload: bool = False) -> Registry:
    """A private registry holding just these provider classes (no entry points)."""
    registry = Registry(autoload=autoload)
    registry.add_plugin(_ClassesPlugin(classes), name="+".join(c.name for c in classes))
    return registry


class ProviderContract:
    """The behaviour every provider must show. Subclass and set the class attributes."""

    provider_class: ClassVar[type[Provider]]
    request: ClassVar[dict[str, Any]]  # a request the emulator completes successfully
    wrong_key: ClassVar[str] = "wrong-key"
    refunded_on_failure: ClassVar[bool | None] = False  # what `charged` says after a failure
    #: settings over the emulator's (e.g. ``{"mode": "marketplace"}``) and the emulator's
    #: own options, to run the suite against one configuration of the provider
    settings: ClassVar[dict[str, Any]] = {}
    emulator_options: ClassVar[dict[str, Any]] = {}

    # -- fixtures ----------------------------------------------------------------------
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def registry(self) -> Registry:
        return registry_with(self.provider_class)

    @pytest.fixture
    def faults(self) -> str | None:
        return None

    @pytest.fixture
    def emulated(self, registry: Registry, clock: FakeClock, faults: str | None) -> Emulated:
        name = self.provider_class.name
        profile = FaultProfile.parse(faults) if faults else None
        emulated = emulate(
            [name], registry=registry, clock=clock, faults={name: profile} if profile else None
        )
        emulated.settings[name].update(self.settings)
        if self.emulator_options:
            app = self.provider_class.emulator(clock=clock, faults=profile, **self.emulator_options)
            emulated.emulators[name] = app
        return emulated

    @pytest.fixture(params=["sync", "async"])
    async def gateway(
        self, request: pytest.FixtureRequest, emulated: Emulated, clock: FakeClock
    ) -> AsyncIterator[Any]:
        gw = emulated.gateway(sync=request.param == "sync", clock=clock)
        yield gw
        await maybe_await(gw.aclose() if hasattr(gw, "aclose") else gw.close())

    @property
    def name(self) -> str:
        return self.provider_class.name

    def make_request(self, **changes: Any) -> GenerationRequest:
        data = {**self.request, **changes}
        return GenerationRequest.model_validate(data)

    # -- the contract --------------------------------------------------------------------
    async def test_submit_then_wait_succeeds(self, gateway: Any) -> None:
        job: Job = await maybe_await(gateway.submit(self.make_request()))
        assert job.provider == self.name
        assert job.provider_job_id
        assert job.status in (JobStatus.queued, JobStatus.running, JobStatus.succeeded)
        assert [a.outcome for a in job.attempts] == [AttemptOutcome.accepted]
        done: Job = await maybe_await(gateway.wait(job))
        assert done.status is JobStatus.succeeded, done.error
        assert done.outputs
        assert all(o.url for o in done.outputs)
        assert done.charged is not False
        assert done.finished_at is not None
        assert Job.model_validate_json(done.model_dump_json()) == done

    async def test_status_reads_the_same_job(self, gateway: Any) -> None:
        job: Job = await maybe_await(gateway.submit(self.make_request()))
        again: Job = await maybe_await(gateway.status(job))
        assert again.provider_job_id == job.provider_job_id
        assert again.id == job.id

    async def test_failed_job_is_data_not_an_exception(self, gateway: Any) -> None:
        prompt = f"{self.request.get('prompt', '')} emulate:failed".strip()
        job: Job = await maybe_await(gateway.run(self.make_request(prompt=prompt)))
        assert job.status is JobStatus.failed
        assert job.error is not None
        assert job.charged is self.refunded_on_failure

    async def test_cancel(self, gateway: Any, emulated: Emulated) -> None:
        prompt = f"{self.request.get('prompt', '')} emulate:queue=1000".strip()
        job: Job = await maybe_await(gateway.submit(self.make_request(prompt=prompt)))
        if gateway.provider(self.name).capabilities.cancel:
            cancelled: Job = await maybe_await(gateway.cancel(job))
            assert cancelled.status is JobStatus.cancelled
            assert cancelled.charged is False
        else:
            with pytest.raises(UnsupportedOperationError, match="keeps tracking"):
                await maybe_await(gateway.cancel(job))

    async def test_wrong_key_is_an_authentication_error(
        self, gateway: Any, emulated: Emulated
    ) -> None:
        emulator = emulated.emulators[self.name]
        emulator.api_key = "the-only-right-key"
        with pytest.raises(AuthenticationError) as caught:
            await maybe_await(gateway.submit(self.make_request()))
        assert caught.value.provider == self.name
        assert caught.value.status_code in (401, 403)
        assert not emulator.jobs

    async def test_unknown_option_is_refused_before_sending(
        self, gateway: Any, emulated: Emulated
    ) -> None:
        # an option this provider does not know takes it out of the candidates, with the
        # reason; pinned to it, its own refusal names the field
        with pytest.raises(NoCandidateError) as caught:
            await maybe_await(gateway.submit(self.make_request(options={"no_such_option": 1})))
        assert "options.no_such_option" in caught.value.reasons[self.name]
        pinned = self.make_request(options={self.name: {"no_such_option": 1}})
        pinned = pinned.model_copy(update={"model": f"{self.name}:{pinned.model_name}"})
        with pytest.raises(UnsupportedRequestError) as refused:
            await maybe_await(gateway.submit(pinned))
        assert refused.value.field == f"options.{self.name}.no_such_option"
        assert sum(emulated.emulators[self.name].counts.values()) == 0

    async def test_status_read_survives_a_503(self, gateway: Any, emulated: Emulated) -> None:
        emulated.emulators[self.name].faults = FaultProfile.parse("status:503*1")
        job: Job = await maybe_await(gateway.run(self.make_request()))
        assert job.status is JobStatus.succeeded

    async def test_drop_after_accept_never_buys_twice(
        self, gateway: Any, emulated: Emulated
    ) -> None:
        emulator = emulated.emulators[self.name]
        emulator.faults = FaultProfile.parse("submit:drop_after_accept*1")
        job: Job = await maybe_await(gateway.submit(self.make_request()))
        assert len(emulator.jobs) == 1, "the provider must hold exactly one job"
        if gateway.provider(self.name).capabilities.idempotency:
            assert job.provider_job_id == next(iter(emulator.jobs))
        else:
            assert job.status is JobStatus.unknown
            assert job.attempts[-1].outcome is AttemptOutcome.unknown
            assert emulator.count("submit") == 1

    def test_unmapped_raw_status_is_unknown(self) -> None:
        provider = self.provider_class()
        assert provider.map_status("a-status-nobody-has-seen") is JobStatus.unknown
        assert provider.map_status(None) is JobStatus.unknown
        assert all(isinstance(v, JobStatus) for v in self.provider_class.STATUS_MAP.values())

    def test_estimate_names_basis_and_source(self, emulated: Emulated) -> None:
        settings = self.provider_class.Settings.model_validate(emulated.settings[self.name])
        provider = self.provider_class(settings)
        estimate = provider.estimate(provider.prepare(self.make_request()))
        assert isinstance(estimate, CostEstimate)
        assert estimate.basis
        assert estimate.source
        assert estimate.amount >= 0
