"""An emulator of Pixazo's DoP image-to-video API, as documented in seed 003.

Routes: ``POST /ai-model-api/v1/image-to-video`` (202 ``{request_id, status, polling_url}``)
and ``GET /v2/requests/status/{request_id}``, both behind ``Ocp-Apim-Subscription-Key``;
errors are ``{"error", "message"}``. Job outcomes follow the shared prompt markers
(``emulate:failed`` -> FAILED, ``emulate:error`` -> ERROR, ``emulate:nsfw`` -> FAILED with
a moderation message). Every status payload mixes ISO-8601 and ``YYYY-MM-DD HH:MM:SS``
timestamps, as the seed's own callback example does, and reports
``application/octet-stream`` for an ``.mp4`` URL, as its status example does.

Webhooks (``X-Webhook-URL``, ``X-Webhook-Mode``): ``terminal`` posts once at the final
status, ``sync`` also posts every poll cycle (at most 15 s apart); any delivery is repeated
with probability `duplicate_rate`, since Pixazo warns that duplicates happen. Pixazo accepts
only https callback URLs; the emulator also takes loopback http ones so a local receiver
can be used.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from videogw.emulator import Delivery, EmulatedJob, Emulator, EmuRequest, EmuResponse, Timing

from .prices import PRICES_USD

__all__ = ["PixazoEmulator"]

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Insufficient Balance",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "seed",
        "motions_id",
        "motions_strength",
        "input_images",
        "input_images_end",
        "enhance_prompt",
        "check_nsfw",
    }
)


class PixazoEmulator(Emulator):
    name = "pixazo"
    # seed 003's terminal-callback example took about 111 s from created to completed
    realistic = Timing(queue_s=20.0, run_s=90.0)
    STATUSES: ClassVar[dict[str, str]] = {
        "queued": "QUEUED",
        "running": "PROCESSING",
        "succeeded": "COMPLETED",
        "failed": "FAILED",
        "nsfw": "FAILED",
        "error": "ERROR",
    }
    MESSAGES: ClassVar[dict[str, str]] = {
        "failed": "Video generation failed",
        "nsfw": "Content flagged by the NSFW check; request rejected",
        "error": "Internal error while processing the request",
    }

    def __init__(
        self,
        *,
        duplicate_rate: float = 0.1,
        balance: float | None = None,
        disabled_models: Iterable[str] = (),
        sync_interval_s: float = 15.0,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        self.duplicate_rate = duplicate_rate
        self.balance = balance  # USD in the wallet; None = unlimited
        self.disabled_models = frozenset(disabled_models)
        self.sync_interval_s = sync_interval_s
        self._rng = random.Random(seed)
        super().__init__(seed=seed, **kwargs)

    def setup_routes(self) -> None:
        self.route("POST", "/ai-model-api/v1/image-to-video", "submit", self.submit)
        self.route("GET", "/v2/requests/status/{id}", "status", self.status)
        self.route("GET", "/v1/{id}/output.mp4", "media", self.media, auth=False)

    # -- auth and errors ---------------------------------------------------------------------
    def credentials(self, request: EmuRequest) -> str | None:
        return request.headers.get("ocp-apim-subscription-key") or None

    def unauthorized(self, request: EmuRequest) -> EmuResponse:
        if self.credentials(request) is None:
            message = (
                "Access denied due to missing subscription key. Make sure to include "
                "subscription key when making requests to an API."
            )
        else:
            message = (
                "Access denied due to invalid subscription key. Make sure to provide a "
                "valid key for an active subscription."
            )
        return self.error(request, 401, message)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": REASONS.get(status, "Error"), "message": message}

    def new_id(self) -> str:
        return f"ai-model-api_{uuid.uuid4()}"

    # -- routes ------------------------------------------------------------------------------
    async def submit(self, request: EmuRequest) -> EmuResponse:
        try:
            body = request.json()
        except ValueError:
            return self.error(request, 400, "Request body is not valid JSON")
        problem = _check_body(body)
        if problem:
            return self.error(request, 400, problem)
        if body["model"] in self.disabled_models:  # the seed's documented 400
            return EmuResponse.json(
                {
                    "error": "Model not found",
                    "message": "Model 'ai-model-api' not found or is disabled",
                },
                400,
            )
        hook = request.headers.get("x-webhook-url")
        mode = request.headers.get("x-webhook-mode", "terminal")
        if hook is not None and not _callable(hook):
            return self.error(request, 400, "X-Webhook-URL must be an HTTPS URL")
        if mode not in ("terminal", "sync"):
            return self.error(request, 400, "X-Webhook-Mode must be 'terminal' or 'sync'")
        price = float(PRICES_USD[body["model"]])
        if self.balance is not None:
            if self.balance < price:  # the seed's documented 402
                return self.error(request, 402, "Your wallet does not have enough balance.")
            self.balance -= price
        job = self.create_job(
            body["prompt"], {"request": body, "base_url": request.base_url}, self.new_id()
        )
        if hook is not None:
            self._schedule(job, hook, mode)
        return EmuResponse.json(
            {
                "request_id": job.id,
                "status": "QUEUED",
                "polling_url": f"{request.base_url}/v2/requests/status/{job.id}",
            },
            202,
        )

    async def status(self, request: EmuRequest) -> EmuResponse:
        job = self.jobs.get(request.params["id"])
        if job is None:
            return self.error(request, 404, f"Request '{request.params['id']}' not found")
        return EmuResponse.json(self.payload(job))

    async def media(self, request: EmuRequest) -> EmuResponse:
        if request.params["id"] not in self.jobs:
            return self.error(request, 404, "Not found")
        return EmuResponse(200, b"\x00\x00\x00\x18ftypmp42emulated", {"content-type": "video/mp4"})

    # -- status payloads ---------------------------------------------------------------------
    def payload(self, job: EmulatedJob) -> dict[str, Any]:
        """The status body (and webhook body) of `job` now, in seed 003's shape."""
        now = self.now()
        phase = job.phase(now)
        status = self.STATUSES.get(phase, "ERROR")
        terminal = status in ("COMPLETED", "FAILED", "ERROR")
        output = None
        if status == "COMPLETED":
            output = {
                "media_url": [f"{job.data['base_url']}/v1/{job.id}/output.mp4"],
                "media_type": "application/octet-stream",
            }
        updated = min(now, job.finished_at())
        return {
            "request_id": job.id,
            "status": status,
            "model_id": "ai-model-api",
            "error": self.MESSAGES.get(phase) if status in ("FAILED", "ERROR") else None,
            "output": output,
            "created_at": _iso(job.created),
            "updated_at": _plain(updated),
            "completed_at": _plain(job.finished_at()) if terminal else None,
        }

    # -- webhooks ----------------------------------------------------------------------------
    def _schedule(self, job: EmulatedJob, url: str, mode: str) -> None:
        if mode == "sync":
            total = job.finished_at() - job.created
            step = min(self.sync_interval_s, max(total / 4, 0.1))
            due = job.created + step
            while due < job.finished_at():
                self.schedule_webhook(job, url, due)
                due += step
        self.schedule_webhook(job, url)  # the terminal delivery

    def webhook_deliveries(self, job: EmulatedJob, url: str) -> list[Delivery]:
        delivery = Delivery(
            url,
            {"content-type": "application/json"},
            EmuResponse.json(self.payload(job)).body,
        )
        if self._rng.random() < self.duplicate_rate:
            return [delivery, delivery]
        return [delivery]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _callable(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)


def _check_body(body: Any) -> str | None:
    """The first rule of seed 003's parameter table that `body` breaks, or None."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        return f"Unknown parameter: {unknown[0]}"
    for name in ("model", "prompt", "seed", "motions_id", "motions_strength", "input_images"):
        if name not in body:
            return f"{name} is required"
    if body["model"] not in PRICES_USD:
        return "model must be one of dop-lite, dop-preview, dop-turbo"
    if not isinstance(body["prompt"], str) or not body["prompt"].strip():
        return "prompt must be a non-empty string"
    seed = body["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not 1 <= seed <= 1_000_000:
        return "seed must be an integer between 1 and 1000000"
    if not isinstance(body["motions_id"], str) or not body["motions_id"]:
        return "motions_id must be a motion preset id"
    strength = body["motions_strength"]
    if isinstance(strength, bool) or not isinstance(strength, int | float):
        return "motions_strength must be a number"
    if not 0.0 <= strength <= 1.0:
        return "motions_strength must be between 0 and 1"
    if not _urls(body["input_images"]) or len(body["input_images"]) != 1:
        return "input_images must contain exactly 1 public image URL"
    end = body.get("input_images_end")
    if end is not None and not _urls(end):
        return "input_images_end must contain at least 1 public image URL"
    if not isinstance(body.get("enhance_prompt"), bool):
        return "enhance_prompt is required and must be a boolean"
    if "check_nsfw" in body and not isinstance(body["check_nsfw"], bool):
        return "check_nsfw must be a boolean"
    return None


def _urls(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(u, str) and u.startswith(("https://", "http://")) for u in value)
    )
