"""An emulator of Segmind's inference API for the two Higgsfield models
(docs/providers/segmind.md).

Routes: ``POST /v2/{slug}`` (queue), ``GET /v2/requests/{id}/status``,
``GET /v2/requests/{id}``, ``POST /v1/{slug}`` (sync: video bytes and ``x-cost`` /
``x-remaining-credits`` headers), ``POST /upload-asset`` (Segmind storage; its real host is
another one, but tests route every request of the provider here) and ``GET /outputs/{name}``.

Quirks kept: ``x-api-key`` auth (401 ``{"error": ...}``); FAILED served with HTTP 422 on
both the status and the result URL; request records answer 404 after ``retention_s``;
406 for too little credit and for a non-JSON Content-Type; HTML 405 for a wrong verb; 429
carries ``x-rate-limit-reset-at-utc`` and no Retry-After; a completed job is charged once,
when it is first seen finished, so ``metrics.remaining_credits`` falls job by job.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from videogw.emulator import EmulatedJob, Emulator, EmuRequest, EmuResponse, Timing

from . import prices
from .prices import DOP_MODELS
from .wire import DOP_SLUG, SPEAK_SLUG

__all__ = ["FAKE_MP4", "SegmindEmulator"]

FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 16
_NEUTRAL_DOP = {body: neutral for neutral, body in DOP_MODELS.items()}
_REQUIRED = {
    SPEAK_SLUG: ("input_image", "input_audio", "prompt"),
    DOP_SLUG: ("model", "image_urls", "enhance_prompt"),
}
_HTML_405 = (
    "<html><head><title>405 Not Allowed</title></head><body><center>"
    "<h1>405 Not Allowed</h1></center><hr><center>nginx</center></body></html>"
)


class SegmindEmulator(Emulator):
    name = "segmind"
    realistic = Timing(queue_s=15.0, run_s=320.0)  # speech2video: 306-361 s end to end
    RAW: ClassVar[dict[str, str]] = {
        "queued": "QUEUED",
        "running": "PROCESSING",
        "succeeded": "COMPLETED",
    }
    FAILURES: ClassVar[dict[str, str]] = {
        "failed": "Inference failed: the model could not generate a video from these inputs",
        "nsfw": "Inference failed: input flagged by the content filter",
        "error": "Inference failed: internal error",
        "cancelled": "Inference failed: request cancelled",
    }

    def __init__(
        self,
        *,
        credits: Decimal | float | str = Decimal("100"),
        retention_s: float = 3600.0,
        retired: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        self.credits = Decimal(str(credits))
        self.retention_s = retention_s
        self.retired = set(retired)
        self.uploads: dict[str, bytes] = {}
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        self.route("POST", "/v2/{slug}", "submit", self.submit_v2)
        self.route("GET", "/v2/requests/{id}/status", "status", self.status)
        self.route("GET", "/v2/requests/{id}", "result", self.result)
        self.route("POST", "/v1/{slug}", "submit", self.submit_v1)
        self.route("POST", "/upload-asset", "upload", self.upload)
        self.route("GET", "/inference-request/request-history/{id}", "generations", self.generation)
        self.route("GET", "/outputs/{name}", "download", self.download, auth=False)
        for path in ("/v2/{slug}", "/v1/{slug}", "/upload-asset"):
            for method in ("GET", "PUT", "PATCH", "DELETE"):
                self.route(method, path, "wrong_verb", self.wrong_verb, auth=False)
        for path in ("/v2/requests/{id}/status", "/v2/requests/{id}"):
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                self.route(method, path, "wrong_verb", self.wrong_verb, auth=False)

    # -- auth and errors -----------------------------------------------------------------
    def credentials(self, request: EmuRequest) -> str | None:
        return request.headers.get("x-api-key") or None

    def unauthorized(self, request: EmuRequest) -> EmuResponse:
        if "x-api-key" not in request.headers:
            return self.error(request, 401, "Missing Authorization or x-api-key in header")
        return EmuResponse.json(
            {
                "error": "invalid_token",
                "error_description": "The API key is invalid or revoked",
                "status_code": 401,
            },
            401,
        )

    def error(
        self,
        request: EmuRequest,
        status: int,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> EmuResponse:
        extra = dict(headers or {})
        if status == 429:  # Segmind says when the window resets, not how long to wait
            wait = float(extra.pop("retry-after", 60))
            reset = datetime.fromtimestamp(self.now() + wait, UTC)
            extra["x-rate-limit-reset-at-utc"] = reset.isoformat(timespec="seconds")
            message = "Rate limit exceeded" if message == "injected fault" else message
        return super().error(request, status, message, extra)

    async def wrong_verb(self, request: EmuRequest) -> EmuResponse:
        return EmuResponse.text(_HTML_405, 405, "text/html")

    # -- submit ----------------------------------------------------------------------------
    def _check_submit(self, request: EmuRequest) -> EmuResponse | tuple[dict[str, Any], Decimal]:
        slug = request.params["slug"]
        if slug in self.retired:
            return self.error(request, 410, f"Model {slug} has been retired")
        if slug not in _REQUIRED:
            return self.error(request, 404, f"Model {slug} not found")
        if "application/json" not in request.headers.get("content-type", ""):
            return self.error(request, 406, "Invalid content type")
        try:
            body = request.json()
        except ValueError:
            return self.error(request, 400, "Malformed JSON body")
        if not isinstance(body, dict):
            return self.error(request, 400, "Body must be a JSON object")
        problem = _problem(slug, body)
        if problem:
            return self.error(request, 400, problem)
        if slug == SPEAK_SLUG:
            cost = prices.speak_price(body.get("quality", "high"), body.get("duration", 10))
        else:
            cost = prices.dop_price(_NEUTRAL_DOP[body["model"]])
        if self.credits < cost:
            return self.error(
                request, 406, f"Not enough credits: balance {self.credits} is below cost {cost}"
            )
        return body, cost

    async def submit_v2(self, request: EmuRequest) -> EmuResponse:
        checked = self._check_submit(request)
        if isinstance(checked, EmuResponse):
            return checked
        body, cost = checked
        job = self.create_job(
            body.get("prompt", ""), {"cost": cost, "body": body, "slug": request.params["slug"]}
        )
        base = f"{request.base_url}/v2/requests/{job.id}"
        return EmuResponse.json(
            {
                "request_id": job.id,
                "status": "QUEUED",
                "poll_url": f"{request.base_url}/v1/requests/{job.id}",
                "status_url": f"{base}/status",
                "response_url": base,
            }
        )

    async def submit_v1(self, request: EmuRequest) -> EmuResponse:
        checked = self._check_submit(request)
        if isinstance(checked, EmuResponse):
            return checked
        body, cost = checked
        job = self.create_job(body.get("prompt", ""), {"cost": cost, "body": body, "v1": True})
        if job.script.outcome != "succeeded":  # undocumented; the model page lists only 500
            return self.error(request, 500, self.FAILURES[job.script.outcome])
        self._charge(job)
        return EmuResponse(
            200,
            FAKE_MP4,
            {
                "content-type": "video/mp4",
                "x-request-id": job.id,
                "x-cost": str(cost),
                "x-remaining-credits": str(self.credits),
                "x-generation-time": f"{job.script.run_s:g}",
                "x-seed-value": str(body.get("seed", 42)),
            },
        )

    # -- status and result -----------------------------------------------------------------
    def _job(self, request: EmuRequest) -> EmulatedJob | EmuResponse:
        job_id = request.params["id"]
        job = self.jobs.get(job_id)
        if job is None or job.data.get("v1") or self.now() - job.created > self.retention_s:
            return self.error(request, 404, f"Request {job_id} not found")
        return job

    def _charge(self, job: EmulatedJob) -> None:
        """Bill a finished job once, when it is first seen done."""
        if "remaining" not in job.data:
            self.credits -= job.data["cost"]
            job.data["remaining"] = self.credits

    def _answer(self, request: EmuRequest, *, full: bool) -> EmuResponse:
        found = self._job(request)
        if isinstance(found, EmuResponse):
            return found
        job, now = found, self.now()
        phase = job.phase(now)
        metrics: dict[str, Any] = {}
        body: dict[str, Any] = {"request_id": job.id}
        if phase in self.FAILURES:
            metrics = {"queue_time": job.script.queue_s, "inference_time": job.script.run_s}
            body |= {"status": "FAILED", "error": self.FAILURES[phase], "metrics": metrics}
            return EmuResponse.json(body, 422)
        raw = self.RAW[phase]
        if raw == "COMPLETED":
            self._charge(job)
            metrics = {"inference_time": job.script.run_s}
        if not full:
            base = f"{request.base_url}/v2/requests/{job.id}"
            body |= {"status_url": f"{base}/status", "response_url": base}
            return EmuResponse.json(body | {"status": raw, "metrics": metrics})
        output = None
        if raw == "COMPLETED":
            output = f"{request.base_url}/outputs/{job.id}.mp4"
            metrics |= {
                "cost": float(job.data["cost"]),
                "remaining_credits": float(job.data["remaining"]),
                "queue_time": job.script.queue_s,
                "total_time": job.script.queue_s + job.script.run_s,
                "retry_count": 0,
            }
        return EmuResponse.json(
            body | {"status": raw, "error": None, "metrics": metrics, "output": output}
        )

    async def status(self, request: EmuRequest) -> EmuResponse:
        return self._answer(request, full=False)

    async def result(self, request: EmuRequest) -> EmuResponse:
        return self._answer(request, full=True)

    async def generation(self, request: EmuRequest) -> EmuResponse:
        """The generations API (SDK ``generations.get``): any request of this account, of
        any age, with its cost in USD (``credits_deduction``) and its output URL."""
        job = self.jobs.get(request.params["id"])
        if job is None:
            return self.error(request, 404, f"Request {request.params['id']} not found")
        phase = job.phase(self.now())
        status = "FAILED" if phase in self.FAILURES else self.RAW[phase]
        done = status in ("COMPLETED", "FAILED")
        if status == "COMPLETED":
            self._charge(job)
        created = datetime.fromtimestamp(job.created, UTC).isoformat()
        updated = datetime.fromtimestamp(min(self.now(), job.finished_at()), UTC).isoformat()
        return EmuResponse.json(
            {
                "request_id": job.id,
                "model_name": job.data.get("slug", SPEAK_SLUG),
                "model_status": status if done else "PENDING",
                "credits_deduction": float(job.data["cost"]) if status == "COMPLETED" else 0,
                "request_body": job.data.get("body", {}),
                "generation_url": (
                    f"{request.base_url}/outputs/{job.id}.mp4" if status == "COMPLETED" else None
                ),
                "latency_ms": int((job.script.queue_s + job.script.run_s) * 1000) if done else None,
                "created_at": created,
                "updated_at": updated,
                "error": self.FAILURES.get(phase),
            }
        )

    async def download(self, request: EmuRequest) -> EmuResponse:
        return EmuResponse(200, FAKE_MP4, {"content-type": "video/mp4"})

    # -- storage -----------------------------------------------------------------------------
    async def upload(self, request: EmuRequest) -> EmuResponse:
        try:
            data_urls = request.json()["data_urls"]
            decoded = [_data_url(item) for item in data_urls]
        except (ValueError, KeyError, TypeError, binascii.Error):
            return self.error(request, 400, "data_urls must be a list of base64 data URLs")
        urls = []
        for kind, content in decoded:
            name = f"{self.new_id()}{mimetypes.guess_extension(kind) or '.bin'}"
            self.uploads[name] = content
            urls.append(f"{request.base_url}/assets/{name}")
        return EmuResponse.json({"file_urls": urls, "message": "Files uploaded successfully"})


def _data_url(item: str) -> tuple[str, bytes]:
    header, _, payload = item.partition(",")
    if not header.startswith("data:") or not header.endswith(";base64"):
        raise ValueError(item[:40])
    return header[5:-7], base64.b64decode(payload, validate=True)


def _problem(slug: str, body: dict[str, Any]) -> str | None:
    """What Segmind's validation would refuse in this body (400), or None."""
    for name in _REQUIRED[slug]:
        if body.get(name) in (None, "", []):
            return f"{name} is required"
    seed = body.get("seed", 42)
    if not isinstance(seed, int) or not 1 <= seed <= 1_000_000:
        return "seed must be an integer between 1 and 1000000"
    if slug == SPEAK_SLUG:
        if body.get("quality", "high") not in ("high", "mid"):
            return "quality must be one of: high, mid"
        if body.get("duration", 10) not in (5, 10, 15):
            return "duration must be one of: 5, 10, 15"
    elif body["model"] not in _NEUTRAL_DOP:
        return f"model must be one of: {', '.join(_NEUTRAL_DOP)}"
    return None
