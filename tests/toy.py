"""A throwaway provider and its emulator, for testing the core without any real plugin.

Wire format (invented): ``POST /v1/jobs`` (Bearer auth, optional Idempotency-Key) answers
``{"id", "state"}``; ``GET /v1/jobs/{id}`` answers ``{"id", "state", "video_url"}`` with
state pending|working|done|failed|blocked|cancelled; ``POST /v1/jobs/{id}/cancel``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import httpx

from videogw import (
    Accepted,
    Capabilities,
    CostEstimate,
    Job,
    JobError,
    JobStatus,
    ModelSpec,
    Output,
    Prepared,
    Provider,
    ProviderOptions,
    StatusUpdate,
    Task,
    errors,
    hookimpl,
)
from videogw.emulator import Emulator, EmuRequest, EmuResponse
from videogw.provider import Purpose


class ToyOptions(ProviderOptions):
    style: str | None = None


class ToyEmulator(Emulator):
    name = "toy"
    PHASES: ClassVar[dict[str, str]] = {
        "queued": "pending",
        "running": "working",
        "succeeded": "done",
        "failed": "failed",
        "nsfw": "blocked",
        "error": "failed",
        "cancelled": "cancelled",
    }

    def __init__(self, **kwargs: Any) -> None:
        self.by_key: dict[str, tuple[str, bytes]] = {}
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        self.route("POST", "/v1/jobs", "submit", self.submit)
        self.route("GET", "/v1/jobs/{id}", "status", self.status)
        self.route("POST", "/v1/jobs/{id}/cancel", "cancel", self.cancel)

    def credentials(self, request: EmuRequest) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token if scheme == "Bearer" and token else None

    async def submit(self, request: EmuRequest) -> EmuResponse:
        body = request.json()
        key = request.headers.get("idempotency-key")
        if key and key in self.by_key:
            job_id, seen = self.by_key[key]
            if seen != request.body:
                return self.error(request, 422, "idempotency key reused with another body")
            return EmuResponse.json({"id": job_id, "state": "pending"}, 201)
        if body.get("prompt") == "forbidden":
            return self.error(request, 400, "content refused")
        job = self.create_job(body.get("prompt", ""))
        if key:
            self.by_key[key] = (job.id, request.body)
        return EmuResponse.json({"id": job.id, "state": "pending"}, 201)

    async def status(self, request: EmuRequest) -> EmuResponse:
        job = self.jobs.get(request.params["id"])
        if job is None:
            return self.error(request, 404, "no such job")
        state = self.PHASES[job.phase(self.now())]
        body: dict[str, Any] = {"id": job.id, "state": state}
        if state == "done":
            body["video_url"] = f"{request.base_url}/files/{job.id}.mp4"
        return EmuResponse.json(body)

    async def cancel(self, request: EmuRequest) -> EmuResponse:
        job = self.jobs.get(request.params["id"])
        if job is None:
            return self.error(request, 404, "no such job")
        if job.phase(self.now()) != "queued":
            return self.error(request, 409, "already started")
        job.cancelled_at = self.now()
        return EmuResponse(204)


class ToyProvider(Provider):
    name = "toy"
    display_name = "Toy video API"
    default_base_url = "https://api.toy.test"
    api_key_envs = ("TOY_API_KEY",)
    Options = ToyOptions
    STATUS_MAP: ClassVar[dict[str, JobStatus]] = {
        "pending": JobStatus.queued,
        "working": JobStatus.running,
        "done": JobStatus.succeeded,
        "failed": JobStatus.failed,
        "blocked": JobStatus.content_filtered,
        "cancelled": JobStatus.cancelled,
    }
    CAPABILITIES = Capabilities(
        models={
            "dop-lite": ModelSpec(
                provider_model="toy-lite",
                task=Task.image_to_video,
                durations=(5,),
                typical_seconds=60,
            ),
            "toy-image": ModelSpec(provider_model="toy-img", task=Task.text_to_image),
        },
        cancel=True,
    )

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key()}"}

    def build_submit(self, prepared: Prepared) -> httpx.Request:
        request = prepared.request
        body: dict[str, Any] = {"model": prepared.spec.provider_model, "prompt": request.prompt}
        if request.image is not None:
            body["image_url"] = request.image.url
        if request.seed is not None:
            body["seed"] = request.seed
        headers = self._headers()
        if self.capabilities.idempotency:
            headers["Idempotency-Key"] = request.idempotency_key
        return httpx.Request("POST", self.url("/v1/jobs"), json=body, headers=headers)

    def parse_submit(self, prepared: Prepared, response: httpx.Response) -> Accepted:
        data = self.json(response)
        if not isinstance(data, dict) or "id" not in data:
            raise self.malformed(response, "submit answer has no job id")
        return Accepted(str(data["id"]), self.map_status(data.get("state")), data.get("state"))

    def build_status(self, job: Job) -> httpx.Request:
        return httpx.Request(
            "GET", self.url(f"/v1/jobs/{job.provider_job_id}"), headers=self._headers()
        )

    def parse_status(self, job: Job, response: httpx.Response) -> StatusUpdate:
        data = self.json(response)
        if not isinstance(data, dict):
            raise self.malformed(response, "status answer is not an object")
        raw = data.get("state")
        status = self.map_status(raw)
        outputs = (
            (Output(url=data["video_url"], media_type="video/mp4"),)
            if data.get("video_url")
            else None
        )
        error = None
        if status in (JobStatus.failed, JobStatus.content_filtered):
            error = JobError(kind=status.value, message=f"toy job ended {raw}")
        charged = {
            JobStatus.succeeded: True,
            JobStatus.failed: False,
            JobStatus.content_filtered: False,
        }.get(status)
        cost = Decimal("0.10") if status is JobStatus.succeeded else None
        return StatusUpdate(
            status=status,
            raw_status=raw,
            outputs=outputs,
            error=error,
            charged=charged,
            actual_cost=cost,
            cost_currency="USD" if cost else None,
        )

    def build_cancel(self, job: Job) -> httpx.Request:
        return httpx.Request(
            "POST", self.url(f"/v1/jobs/{job.provider_job_id}/cancel"), headers=self._headers()
        )

    def classify(self, response: httpx.Response, purpose: Purpose) -> errors.ProviderError | None:
        if response.status_code == 409 and purpose is Purpose.cancel:
            return self.error(errors.NotCancellableError, response)
        if response.status_code == 400 and "content" in self.error_message(response):
            return self.error(errors.ContentRefusedError, response)
        return super().classify(response, purpose)

    def estimate(self, prepared: Prepared) -> CostEstimate:
        return CostEstimate(
            amount=Decimal("0.10"), basis="toy price table, per clip", source="tests/toy.py"
        )

    @classmethod
    def emulator(cls, **kwargs: Any) -> Emulator:
        return ToyEmulator(**kwargs)


class IdempotentToyProvider(ToyProvider):
    """The same API, on an account that honours Idempotency-Key."""

    name = "toy-idem"
    CAPABILITIES = ToyProvider.CAPABILITIES.model_copy(update={"idempotency": True})


class SecondToyProvider(ToyProvider):
    """Another vendor with the same wire format, for failover tests."""

    name = "toy2"
    default_base_url = "https://api.toy2.test"


@hookimpl
def register_providers(register: Any) -> None:
    register(ToyProvider)
