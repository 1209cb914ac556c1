"""Shared set-up for the routing, failover, ledger and poller tests: toy providers with
other names, prices and behaviours, and a kit that builds sync or async gateways over
in-process emulators on one fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from toy import IdempotentToyProvider, SecondToyProvider, ToyEmulator, ToyProvider
from videogw import (
    AsyncGateway,
    Attempt,
    AttemptOutcome,
    CostEstimate,
    Gateway,
    Job,
    JobStatus,
    Prepared,
    StatusUpdate,
    Task,
)
from videogw.emulator import EmuRequest, EmuResponse, FakeClock
from videogw.emulator.app import Emulator
from videogw.emulator.harness import Emulated, emulate
from videogw.models import new_idempotency_key
from videogw.schedule import timed
from videogw.store import JobStore
from videogw.testing import maybe_await, registry_with

REQUEST: dict[str, Any] = {
    "model": "dop-lite",
    "prompt": "a cat",
    "image": "https://example.com/cat.jpg",
}


def priced(amount: str, currency: str = "USD", usd: str | None = None) -> CostEstimate:
    return CostEstimate(
        amount=Decimal(amount),
        currency=currency,  # type: ignore[arg-type]
        usd=Decimal(usd) if usd is not None else None,
        basis="test price",
        source="tests/routing_kit.py",
    )


class CheapToyProvider(SecondToyProvider):
    name = "toy-cheap"
    default_base_url = "https://api.toy-cheap.test"

    def estimate(self, prepared: Prepared) -> CostEstimate:
        return priced("0.04")


class CreditsToyProvider(SecondToyProvider):
    """Prices in credits, with a known USD rate."""

    name = "toy-credits"
    default_base_url = "https://api.toy-credits.test"

    def estimate(self, prepared: Prepared) -> CostEstimate:
        return priced("7", "credits", usd="0.07")


class UnpricedToyProvider(SecondToyProvider):
    name = "toy-unpriced"
    default_base_url = "https://api.toy-unpriced.test"

    def estimate(self, prepared: Prepared) -> CostEstimate:
        raise NotImplementedError


class NoCancelToyProvider(SecondToyProvider):
    name = "toy-nocancel"
    default_base_url = "https://api.toy-nocancel.test"
    CAPABILITIES = ToyProvider.CAPABILITIES.model_copy(update={"cancel": False})


class ChargedFailureToyProvider(SecondToyProvider):
    """A vendor that keeps the money when a job fails."""

    name = "toy-keeps"
    default_base_url = "https://api.toy-keeps.test"

    def parse_status(self, job: Job, response: httpx.Response) -> StatusUpdate:
        update = super().parse_status(job, response)
        if update.status is JobStatus.failed:
            return StatusUpdate(
                status=update.status,
                raw_status=update.raw_status,
                error=update.error,
                charged=True,
                actual_cost=Decimal("0.10"),
                cost_currency="USD",
            )
        return update


class LenientEmulator(ToyEmulator):
    """Accepts what the toy emulator refuses as content."""

    async def submit(self, request: EmuRequest) -> EmuResponse:
        request.body = request.body.replace(b'"forbidden"', b'"allowed"')
        return await super().submit(request)


class LenientToyProvider(SecondToyProvider):
    name = "toy-lenient"
    default_base_url = "https://api.toy-lenient.test"

    @classmethod
    def emulator(cls, **kwargs: Any) -> Emulator:
        return LenientEmulator(**kwargs)


class MotionToyProvider(SecondToyProvider):
    name = "toy-motion"
    default_base_url = "https://api.toy-motion.test"
    CAPABILITIES = ToyProvider.CAPABILITIES.model_copy(
        update={
            "models": {
                "dop-lite": ToyProvider.CAPABILITIES.models["dop-lite"].model_copy(
                    update={"motion_required": True}
                )
            }
        }
    )


class UrlOnlyToyProvider(SecondToyProvider):
    name = "toy-urlonly"
    default_base_url = "https://api.toy-urlonly.test"
    CAPABILITIES = ToyProvider.CAPABILITIES.model_copy(
        update={
            "models": {
                "dop-lite": ToyProvider.CAPABILITIES.models["dop-lite"].model_copy(
                    update={"local_files": False}
                )
            }
        }
    )


CLASSES = (
    ToyProvider,
    SecondToyProvider,
    IdempotentToyProvider,
    CheapToyProvider,
    CreditsToyProvider,
    UnpricedToyProvider,
    NoCancelToyProvider,
    ChargedFailureToyProvider,
    LenientToyProvider,
    MotionToyProvider,
    UrlOnlyToyProvider,
)
NAMES = tuple(cls.name for cls in CLASSES)


class Kit:
    """Emulators for every test provider plus gateways (sync or async) over them."""

    def __init__(self, sync: bool, clock: FakeClock, names: tuple[str, ...] = NAMES) -> None:
        self.sync = sync
        self.clock = clock
        self.registry = registry_with(*CLASSES)
        self.emulated: Emulated = emulate(list(names), registry=self.registry, clock=clock)
        self._gateways: list[Any] = []

    def emulator(self, name: str) -> Any:
        return self.emulated.emulators[name]

    def gateway(
        self,
        route: dict[str, Any] | None = None,
        *,
        transports: dict[str, Any] | None = None,
        store: JobStore | None = None,
        **config: Any,
    ) -> Any:
        routes = {"dop-lite": route} if route is not None else {}
        cfg = self.emulated.config(routes=routes, **config)
        wired = self.emulated.transports(sync=self.sync)
        wired.update(transports or {})
        cls = Gateway if self.sync else AsyncGateway
        kwargs: dict[str, Any] = {"registry": self.registry, "clock": self.clock}
        if store is not None:
            kwargs["store"] = store
        gw = cls(cfg, transports=wired, **kwargs)
        self._gateways.append(gw)
        return gw

    async def close(self) -> None:
        for gw in self._gateways:
            await maybe_await(gw.aclose() if hasattr(gw, "aclose") else gw.close())


def request(**changes: Any) -> dict[str, Any]:
    return {**REQUEST, **changes}


def finished_job(
    provider: str,
    latency_s: float,
    *,
    model: str = "dop-lite",
    status: JobStatus = JobStatus.succeeded,
    cost: str | None = "0.10",
    currency: str = "USD",
    charged: bool | None = True,
    ended: datetime | None = None,
    estimate: CostEstimate | None = None,
) -> Job:
    """A job as the ledger would hold it once finished (for seeding statistics)."""
    ended = ended or datetime.now(UTC)
    started = ended - timedelta(seconds=latency_s)
    terminal = status.is_terminal
    attempt = Attempt(
        provider=provider,
        provider_model=f"{provider}-model",
        idempotency_key=new_idempotency_key(),
        outcome=AttemptOutcome.accepted,
        started_at=started,
        ended_at=ended if terminal else None,
        provider_job_id="p-" + new_idempotency_key(),
        status=status,
        estimate=estimate or priced("0.10"),
        actual_cost=Decimal(cost) if cost is not None else None,
        charged=charged,
    )
    return Job(
        model=model,
        task=Task.image_to_video,
        status=status,
        provider=provider,
        provider_job_id=attempt.provider_job_id,
        idempotency_key=attempt.idempotency_key,
        actual_cost=attempt.actual_cost,
        cost_currency=currency if cost is not None else None,  # type: ignore[arg-type]
        charged=charged,
        attempts=(attempt,),
        created_at=started,
        updated_at=ended,
        submitted_at=started,
        finished_at=ended if terminal else None,
    )


async def submit_one(gw: Any, sampled: bool) -> Any:
    """A job in the timing sample (or not): ids are random, a fifth are sampled; the others
    are cancelled at once."""
    for n in range(200):
        job = await maybe_await(gw.submit(request(prompt=f"pick {n}")))
        if timed(job.id) is sampled:
            return job
        await maybe_await(gw.cancel(job))
    raise AssertionError("no such job in 200 submits")
