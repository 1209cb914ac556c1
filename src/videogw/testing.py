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
import time
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

__all__ = ["LedgerContract", "ProviderContract", "maybe_await", "registry_with"]


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


def _attempt_job(
    *,
    outcome: AttemptOutcome = AttemptOutcome.accepted,
    status: JobStatus = JobStatus.running,
    estimate_usd: str = "0.10",
    key: str | None = None,
    charged: bool | None = None,
    client_key: str | None = None,
) -> Job:
    from datetime import UTC, datetime
    from decimal import Decimal

    from .models import Attempt, Task, new_idempotency_key

    now = datetime.now(UTC)
    key = key or new_idempotency_key()
    estimate = CostEstimate(
        amount=Decimal(estimate_usd), currency="USD", basis="test", source="test"
    )
    pjid = None if outcome is not AttemptOutcome.accepted else f"p-{key}"
    attempt = Attempt(
        provider="toy",
        provider_model="toy-model",
        idempotency_key=key,
        outcome=outcome,
        started_at=now,
        provider_job_id=pjid,
        status=status,
        estimate=estimate,
        charged=charged,
    )
    return Job(
        model="dop-lite",
        task=Task.image_to_video,
        status=status,
        provider="toy",
        provider_job_id=pjid,
        idempotency_key=key,
        charged=charged,
        estimate=estimate,
        attempts=(attempt,),
        labels={"client_key": client_key} if client_key else {},
        created_at=now,
        updated_at=now,
    )


class LedgerContract:
    """The conformance suite every `videogw.ledger.Ledger` backend passes.

    ```python
    class TestMyLedger(LedgerContract):
        @pytest.fixture
        def ledger(self, tmp_path):
            led = MyLedger(...)
            yield led
            led.close()
    ```

    A subclass provides the `ledger` fixture (empty, its clock the wall clock); a backend
    shared by processes also passes tests/test_ledger_processes.py's real-process tests.
    """

    @pytest.fixture
    def ledger(self) -> Any:  # pragma: no cover - subclasses provide it
        raise NotImplementedError

    def test_create_stores_version_one_and_get_round_trips(self, ledger: Any) -> None:
        job = _attempt_job()
        stored = ledger.create(job)
        assert stored.version == 1
        assert ledger.get(job.id) == stored
        assert ledger.get("no-such-job") is None

    def test_update_is_a_compare_and_swap(self, ledger: Any) -> None:
        from .errors import StaleJobError

        stored = ledger.create(_attempt_job())
        first = ledger.update(stored.model_copy(update={"status": JobStatus.queued}))
        assert first.version == 2
        with pytest.raises(StaleJobError):
            ledger.update(stored.model_copy(update={"status": JobStatus.succeeded}))
        assert ledger.get(stored.id).status is JobStatus.queued
        with pytest.raises(StaleJobError):
            ledger.update(_attempt_job())  # never stored: no blind insert either

    def test_idempotency_keys_are_unique(self, ledger: Any) -> None:
        from .errors import IdempotencyConflictError

        request = GenerationRequest(model="dop-lite", prompt="a cat", idempotency_key="k-1")
        job = _attempt_job(key="k-1")
        stored = ledger.create(job, request)
        again = ledger.create(_attempt_job(key="k-1"), request)
        assert again.id == stored.id
        assert ledger.get_by_key("k-1") == stored
        other = request.model_copy(update={"prompt": "a dog"})
        with pytest.raises(IdempotencyConflictError, match=stored.id):
            ledger.create(_attempt_job(key="k-1"), other)
        assert len(ledger.find()) == 1
        assert ledger.load_request(stored.id) == request

    def test_a_create_of_a_known_job_id_claims_no_key(self, ledger: Any) -> None:
        from .errors import StaleJobError

        request = GenerationRequest(model="dop-lite", prompt="a cat", idempotency_key="k-2")
        stored = ledger.create(_attempt_job())
        twin = _attempt_job(key="k-2").model_copy(update={"id": stored.id})
        with pytest.raises(StaleJobError):
            ledger.create(twin, request)
        assert ledger.get_by_key("k-2") is None
        assert ledger.get(stored.id) == stored
        # the key is still free: a job of its own takes it, with any request
        other = ledger.create(_attempt_job(key="k-2"), request.model_copy(update={"seed": 3}))
        assert ledger.get_by_key("k-2") == other

    def test_leases_exclude_other_owners_until_they_expire(self, ledger: Any) -> None:
        import time

        job = ledger.create(_attempt_job())
        assert ledger.acquire(job.id, "a", 0.3)
        assert ledger.acquire(job.id, "a", 0.3)  # renew
        assert not ledger.acquire(job.id, "b", 30)
        assert ledger.lease(job.id).owner == "a"
        time.sleep(0.4)
        assert ledger.lease(job.id) is None
        assert ledger.acquire(job.id, "b", 30)  # taken over
        ledger.release(job.id, "a")  # not a's to release
        assert ledger.lease(job.id).owner == "b"
        ledger.release(job.id, "b")
        assert ledger.lease(job.id) is None
        assert ledger.acquire_many([job.id, "nope"], "c", 30) == {job.id}

    def test_an_update_can_give_up_its_writers_lease(self, ledger: Any) -> None:
        from datetime import UTC, datetime
        from decimal import Decimal

        from .errors import BudgetExceededError, StaleJobError
        from .ledger import Budget

        stored = ledger.create(_attempt_job(), lease=("a", 60))
        stored = ledger.update(stored, release="b")  # not b's: kept
        assert ledger.lease(stored.id).owner == "a"
        with pytest.raises(StaleJobError):  # a refused write keeps it
            ledger.update(stored.model_copy(update={"version": 9}), release="a")
        since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        with pytest.raises(BudgetExceededError):
            ledger.update(stored, release="a", budget=Budget(since=since, daily_usd=Decimal(0)))
        assert ledger.lease(stored.id).owner == "a"
        assert ledger.get(stored.id) == stored
        done = ledger.update(stored.model_copy(update={"status": JobStatus.queued}), release="a")
        assert ledger.lease(stored.id) is None
        assert ledger.get(stored.id) == done
        assert ledger.acquire(stored.id, "b", 60)

    def test_claim_takes_disjoint_batches_of_open_jobs(self, ledger: Any) -> None:
        open_ids = {ledger.create(_attempt_job()).id for _ in range(5)}
        ledger.create(_attempt_job(status=JobStatus.succeeded, charged=True))
        ledger.create(_attempt_job(outcome=AttemptOutcome.sending, status=JobStatus.unknown))
        first = {j.id for j in ledger.claim("a", 30, 3)}
        second = {j.id for j in ledger.claim("b", 30, 10)}
        assert len(first) == 3
        assert not first & second
        assert first | second == open_ids
        assert ledger.claim("c", 30, 10) == []

    def test_aftercare_keeps_a_finished_job_claimable(self, ledger: Any) -> None:
        job = ledger.create(_attempt_job(status=JobStatus.failed, charged=False))
        assert ledger.claim("a", 30, 10) == []
        ledger.update(job.model_copy(update={"aftercare": "resubmit"}))
        assert [j.id for j in ledger.claim("a", 30, 10)] == [job.id]

    def test_unknown_submits_and_resumable(self, ledger: Any) -> None:
        live = ledger.create(_attempt_job())
        sending = ledger.create(
            _attempt_job(outcome=AttemptOutcome.sending, status=JobStatus.unknown)
        )
        ledger.create(_attempt_job(status=JobStatus.succeeded, charged=True))
        assert [j.id for j in ledger.unknown_submits()] == [sending.id]
        assert [j.id for j in ledger.resumable()] == [live.id]

    def test_holds_count_against_budgets_in_the_same_write(self, ledger: Any) -> None:
        from datetime import UTC, datetime, timedelta
        from decimal import Decimal

        from .errors import BudgetExceededError
        from .ledger import Budget

        since = datetime.now(UTC) - timedelta(hours=1)
        budget = Budget(since=since, daily_usd=Decimal("0.25"))
        for _ in range(2):  # 0.20 held
            ledger.create(
                _attempt_job(outcome=AttemptOutcome.sending, status=JobStatus.unknown),
                budget=budget,
            )
        assert ledger.committed_usd(since) == Decimal("0.2")
        with pytest.raises(BudgetExceededError):
            ledger.create(_attempt_job(), budget=budget)
        assert len(ledger.find()) == 2  # the refused write left nothing
        # a refunded failure releases its hold
        job = ledger.find()[0]
        ledger.update(
            job.model_copy(
                update={
                    "attempts": (
                        job.attempts[0].model_copy(
                            update={"outcome": AttemptOutcome.rejected, "charged": False}
                        ),
                    )
                }
            )
        )
        assert ledger.committed_usd(since) == Decimal("0.1")
        ledger.create(_attempt_job(), budget=budget)
        per_client = Budget(since=since, daily_usd=Decimal("0.15"), client_key="alice")
        ledger.create(_attempt_job(client_key="alice"), budget=per_client)
        with pytest.raises(BudgetExceededError, match="alice"):
            ledger.create(_attempt_job(client_key="alice"), budget=per_client)
        assert ledger.committed_usd(since, client_key="alice") == Decimal("0.1")

    def test_a_client_budget_and_the_overall_one_are_both_checked(self, ledger: Any) -> None:
        from datetime import UTC, datetime, timedelta
        from decimal import Decimal

        from .errors import BudgetExceededError
        from .ledger import Budget

        since = datetime.now(UTC) - timedelta(hours=1)
        ledger.create(_attempt_job(client_key="bob"))  # 0.10 held by bob
        both = Budget(
            since=since,
            daily_usd=Decimal("1"),
            client_key="carol",
            overall_daily_usd=Decimal("0.25"),
        )
        ledger.create(_attempt_job(client_key="carol"), budget=both)  # 0.20 overall
        with pytest.raises(BudgetExceededError, match=r"\$0\.3") as info:
            ledger.create(_attempt_job(client_key="carol"), budget=both)
        assert info.value.limit_usd == Decimal("0.25")
        assert ledger.committed_usd(since, client_key="carol") == Decimal("0.1")

    def test_client_keys_are_stored_hashed_and_revoked(self, ledger: Any) -> None:
        from datetime import UTC, datetime, timedelta
        from decimal import Decimal

        from .errors import LedgerError
        from .ledger import ClientKey

        t0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        first = ClientKey("k1", "ci", "h" * 64, t0, Decimal("2.50"))
        second = ClientKey("k2", "web", "g" * 64, t0 + timedelta(seconds=1))
        assert ledger.add_key(first) == first
        ledger.add_key(second)
        with pytest.raises(LedgerError):
            ledger.add_key(ClientKey("k1", "again", "f" * 64, t0))
        listed = ledger.list_keys()
        assert [k.id for k in listed] == ["k1", "k2"]
        assert listed[0].budget_usd_per_day == Decimal("2.5")
        assert listed[0].created_at == t0
        assert listed[0].active
        assert ledger.key_by_hash("g" * 64) == second
        assert ledger.key_by_hash("nope") is None
        at = t0 + timedelta(hours=1)
        revoked = ledger.revoke_key("ci", at)
        assert [(k.id, k.revoked_at) for k in revoked] == [("k1", at)]
        assert ledger.revoke_key("ci", at) == []  # already revoked
        stored = ledger.key_by_hash("h" * 64)
        assert stored is not None
        assert not stored.active
        assert stored.revoked_at == at
        assert [k.id for k in ledger.revoke_key("k2", at)] == ["k2"]

    def test_max_in_flight_counts_live_attempts_at_a_provider_in_the_same_write(
        self, ledger: Any
    ) -> None:
        from datetime import UTC, datetime

        from .errors import InFlightLimitError
        from .ledger import Budget

        limit = Budget(since=datetime.now(UTC), provider="toy", max_in_flight=2)
        first = ledger.create(_attempt_job(), budget=limit)
        ledger.create(
            _attempt_job(outcome=AttemptOutcome.sending, status=JobStatus.unknown), budget=limit
        )
        # neither an unknown outcome (awaiting reconciliation) nor a finished job counts
        ledger.create(_attempt_job(outcome=AttemptOutcome.unknown, status=JobStatus.unknown))
        ledger.create(_attempt_job(status=JobStatus.succeeded, charged=True))
        assert ledger.in_flight("toy") == 2
        assert ledger.in_flight("elsewhere") == 0
        with pytest.raises(InFlightLimitError, match="toy"):
            ledger.create(_attempt_job(), budget=limit)
        assert len(ledger.find()) == 4  # the refused write left nothing
        done = first.model_copy(
            update={
                "status": JobStatus.succeeded,
                "attempts": (first.attempts[0].model_copy(update={"status": JobStatus.succeeded}),),
            }
        )
        ledger.update(done)
        assert ledger.in_flight("toy") == 1
        ledger.create(_attempt_job(), budget=limit)
        assert ledger.in_flight("toy") == 2

    def test_provider_standing_is_shared(self, ledger: Any) -> None:
        assert ledger.standings() == {}
        ledger.pause("toy", 60, "Retry-After: 60", by="me")
        ledger.pause("toy", 1, "shorter")  # the longer pause stands
        ledger.disable("toy2", "out of credit", credit=True)
        ledger.pause("gone", 0.001, "expires")
        time.sleep(0.05)
        found = ledger.standings()
        assert set(found) == {"toy", "toy2"}
        assert 50 < found["toy"].paused_s <= 60
        assert found["toy"].pause_reason == "Retry-After: 60"
        assert found["toy"].disabled is None
        assert found["toy"].by == "me"
        assert found["toy2"].disabled == "out of credit"
        assert found["toy2"].credit is True
        assert found["toy2"].paused_s == 0
        ledger.reset_standing("toy")
        assert set(ledger.standings()) == {"toy2"}
        ledger.reset_standing()
        assert ledger.standings() == {}

    def test_find_filters_and_orders(self, ledger: Any) -> None:
        jobs = [ledger.create(_attempt_job()) for _ in range(3)]
        assert [j.id for j in ledger.find()] == [j.id for j in jobs]
        assert [j.id for j in ledger.find(newest_first=True, limit=2)] == [
            jobs[2].id,
            jobs[1].id,
        ]
        assert ledger.find(statuses=[]) == []
        assert len(ledger.find(provider="toy", statuses=[JobStatus.running])) == 3
        assert ledger.find(id_prefix=jobs[0].id) == [jobs[0]]
