"""An emulator of the Higgsfield platform (and, with ``marketplace=True``, its RapidAPI-style
listing), wire-faithful to docs/providers/higgsfield.md

Routes: ``POST /{model_id}`` (submit), ``GET /requests/{id}/status``, ``POST
/requests/{id}/cancel`` (202 while queued, else 400), ``POST /files/generate-upload-url`` and
the presigned ``PUT /_storage/{token}`` it points at, ``POST /estimate/{model_id}``,
``GET /v1/motions``, ``POST /v1/speak/higgsfield`` + ``GET /v1/job-sets/{id}``.

Semantics: ``Authorization: Key id:secret``, or the legacy ``hf-api-key`` + ``hf-secret``
headers the docs still accept (else 401 ``{"detail": "Invalid credentials"}``); with
``api_key`` set, only that key (``id:secret``) is accepted;
``Idempotency-Key`` (same key and same fingerprint -> the same request; same key, other
parameters -> 422); ``max_concurrent`` live jobs, then 400 "concurrency limit"; outcomes
from the fault profile or prompt markers (``emulate:nsfw``, ``emulate:failed``); terminal
webhooks to ``?hf_webhook=`` signed with `webhook_secret` (Standard Webhooks).
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from typing import Any, ClassVar

from videogw.emulator import Delivery, EmulatedJob, Emulator, EmuRequest, EmuResponse, Timing

from .models import ALLOWED_UPLOAD_TYPES, BODY_FIELDS, MODELS, SOUL_SHAPE, SPEAK_PATH, family
from .tables import STATUSES
from .webhooks import sign
from .wire import EMULATOR_WEBHOOK_SECRET, PATH_MODELS

__all__ = ["MOTIONS", "HiggsfieldEmulator"]

PATHS = {spec.provider_model: neutral for neutral, spec in MODELS.items()}
PATHS |= {
    f"higgsfield-ai/dop/{tier}/first-last-frame": f"dop-{tier}"
    for tier in ("lite", "turbo", "standard")
}
EMULATOR_CREDITS = {"dop-lite": "2", "dop-turbo": "6.5", "dop-standard": "9", "soul": "0.25"}
PHASES = STATUSES.phases()  # emulated phase -> raw status, from the plugin's table
MOTIONS = [
    {
        "id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a",
        "name": "Dolly In",
        "description": "The camera glides toward the subject.",
        "preview_url": "https://cdn.higgsfield.ai/motions/dolly-in.mp4",
    },
    {
        "id": "5f0b4c3e-3a8f-4f43-9a38-0b1e0f6d2f0c",
        "name": "Crash Zoom In",
        "description": "A fast, dramatic zoom.",
        "preview_url": "https://cdn.higgsfield.ai/motions/crash-zoom-in.mp4",
    },
    {
        "id": "8a1b9e7d-6c5f-4e3d-8b2a-1c0d9e8f7a6b",
        "name": "FPV Drone",
        "description": "A first-person drone flight.",
        "preview_url": "https://cdn.higgsfield.ai/motions/fpv-drone.mp4",
    },
]
UPSTREAM = "https://platform.higgsfield.ai"  # where the listing's status URLs point (§5.3)


def _model_item(slug: str, operation: str, output: str, credits: float) -> dict[str, Any]:
    return {
        "slug": slug,
        "operation_type": operation,
        "output_type": output,
        "base_credits": credits,
    }


def _detail(loc: list[str], msg: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": ["body", *loc], "msg": msg}


class HiggsfieldEmulator(Emulator):
    name = "higgsfield"
    realistic = Timing(queue_s=20.0, run_s=150.0)
    RETENTION_S: ClassVar[int] = 604_800

    def __init__(
        self,
        *,
        marketplace: bool = False,
        rapidapi_host: str = "higgsfield-api.p.rapidapi.com",
        quota: int | None = None,
        max_concurrent: int | None = None,
        credits: float | None = None,
        webhook_secret: str = EMULATOR_WEBHOOK_SECRET,
        **kwargs: Any,
    ) -> None:
        self.marketplace = marketplace
        self.rapidapi_host = rapidapi_host
        self.quota = quota  # marketplace: requests allowed before the proxy answers 429
        self.max_concurrent = max_concurrent
        self.credits = credits  # a balance: a submit it cannot cover answers 403
        self.webhook_secret = webhook_secret
        self.by_key: dict[tuple[str, str], tuple[str, str]] = {}  # (account, key) -> (fp, id)
        self.uploads: dict[str, dict[str, Any]] = {}  # token -> slot (and bytes once PUT)
        self.proxied = 0
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        # specific routes first: the catch-all submit route matches any POST path
        self.route("POST", "/files/generate-upload-url", "upload_url", self.upload_url)
        self.route("PUT", "/_storage/{token}", "upload", self.upload, auth=False)
        self.route("GET", "/_files/{name}", "file", self.file, auth=False)
        self.route("POST", "/estimate/{model_id:path}", "estimate", self.estimate)
        self.route("GET", "/requests/{id}/status", "status", self.status)
        self.route("POST", "/requests/{id}/cancel", "cancel", self.cancel)
        self.route("DELETE", "/requests/{id}", "delete", self.delete)
        self.route("GET", "/v1/motions", "motions", self.motions)
        self.route("GET", "/models", "models", self.models)
        self.route("GET", "/v1/job-sets/{id}", "status", self.job_set)
        self.route("POST", f"/{SPEAK_PATH}", "submit", self.speak)
        self.route("POST", "/{model_id:path}", "submit", self.submit)

    # -- auth and errors -------------------------------------------------------------------
    def credentials(self, request: EmuRequest) -> str | None:
        if self.marketplace:
            return request.headers.get("x-rapidapi-key") or None
        legacy = request.headers.get("hf-api-key"), request.headers.get("hf-secret")
        if "authorization" not in request.headers and all(legacy):
            return f"{legacy[0]}:{legacy[1]}"  # the legacy headers the docs still accept
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key_id, colon, secret = token.partition(":")
        return token if scheme == "Key" and key_id and colon and secret else None

    def unauthorized(self, request: EmuRequest) -> EmuResponse:
        if not self.marketplace:
            return self.error(request, 401, "Invalid credentials")
        if self.credentials(request) is None:
            return self.proxy_error(
                401, "Invalid API key. Go to https://docs.rapidapi.com/docs/keys for more info."
            )
        return self.proxy_error(403, "You are not subscribed to this API.")

    def error_body(self, status: int, message: str) -> Any:
        return {"detail": message}

    def proxy_error(self, status: int, message: str, **headers: str) -> EmuResponse:
        return EmuResponse.json(
            {"message": message}, status, {"x-rapidapi-proxy-response": "true", **headers}
        )

    async def _dispatch(self, request: EmuRequest) -> Any:
        if not self.marketplace or request.path.startswith(("/_files/", "/_storage/")):
            return await super()._dispatch(request)  # outputs are on a CDN, not the proxy
        # the RapidAPI proxy answers for itself before the upstream sees anything
        if request.headers.get("x-rapidapi-host") != self.rapidapi_host:
            self.counts["proxy"] += 1
            return self.proxy_error(400, "Missing or wrong X-RapidAPI-Host header"), None
        if self.quota is not None and self.proxied >= self.quota:
            self.counts["proxy"] += 1
            limit = {
                "x-ratelimit-requests-limit": str(self.quota),
                "x-ratelimit-requests-remaining": "0",
                "x-ratelimit-reset": "42",
            }
            return self.proxy_error(
                429,
                "You have exceeded the MONTHLY quota for Requests on your current plan, BASIC.",
                **limit,
            ), None
        self.proxied += 1
        response, fault = await super()._dispatch(request)
        if self.quota is not None:
            response.headers["x-ratelimit-requests-limit"] = str(self.quota)
            response.headers["x-ratelimit-requests-remaining"] = str(self.quota - self.proxied)
        return response, fault

    # -- submit ----------------------------------------------------------------------------
    def _admit(self, request: EmuRequest, fingerprint: str) -> EmuResponse | str | None:
        """Idempotency and concurrency: a response to send now, the id of the request this
        key already made, or None to go ahead."""
        key = request.headers.get("idempotency-key")
        if key is not None:
            if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable() or " " in key:
                return self.error(request, 422, "Idempotency-Key must be 1-255 visible ASCII chars")
            seen = self.by_key.get((self.credentials(request) or "", key))
            if seen is not None:
                if seen[0] != fingerprint:
                    return self.error(
                        request, 422, "Idempotency-Key was already used with different parameters"
                    )
                return seen[1]
        if self.max_concurrent is not None:
            now = self.now()
            live = sum(j.phase(now) in ("queued", "running") for j in self.jobs.values())
            if live >= self.max_concurrent:
                return self.error(
                    request,
                    400,
                    f"Concurrency limit reached: {live} requests are"
                    " queued or in progress for this account",
                )
        return None

    def _remember(self, request: EmuRequest, fingerprint: str, rid: str) -> None:
        key = request.headers.get("idempotency-key")
        if key is not None:
            self.by_key[(self.credentials(request) or "", key)] = (fingerprint, rid)

    async def submit(self, request: EmuRequest) -> EmuResponse:
        path = request.params["model_id"]
        neutral = PATHS.get(path) or (path if path in PATH_MODELS else None)
        if neutral is None:
            return self.error(request, 404, "Model not found")
        try:
            body = request.json()
        except ValueError:
            return EmuResponse.json({"detail": [_detail([], "body is not valid JSON")]}, 422)
        problems = self._validate(neutral, body)
        if problems:
            return EmuResponse.json({"detail": problems}, 422)
        expires = request.headers.get("hf-expires-after")
        if expires is not None and not (expires.isdigit() and 3600 <= int(expires) <= 604_800):
            return self.error(request, 422, "Hf-Expires-After must be 3600..604800 seconds")
        fingerprint = json.dumps(
            [path, body, request.query.get("hf_webhook"), expires], sort_keys=True
        )
        admitted = self._admit(request, fingerprint)
        if isinstance(admitted, EmuResponse):
            return admitted
        if admitted is not None:
            job = self.jobs[admitted]
        else:
            price = self._credits(neutral, body)
            if self.credits is not None:
                if self.credits < price:
                    return self.error(request, 403, "Not enough credits")
                self.credits -= price
            job = self.create_job(
                str(body.get("prompt", "")),
                {
                    "model": neutral,
                    "images": body.get(SOUL_SHAPE.count_field, 1),
                    "motions": body.get("motions"),
                    "ignored": sorted(set(body) - BODY_FIELDS.get(family(neutral), set(body))),
                    "expires": int(expires) if expires else self.RETENTION_S,
                    "base_url": request.base_url,
                },
            )
            self._remember(request, fingerprint, job.id)
            hook = request.query.get("hf_webhook")
            if hook:
                self.schedule_webhook(job, hook)
        return EmuResponse.json(
            {
                "status": PHASES[job.phase(self.now())],
                "request_id": job.id,
                **self._urls_for(request.base_url, job.id),
            }
        )

    def _validate(self, neutral: str, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict):
            return [_detail([], "expected a JSON object")]
        if neutral in PATH_MODELS:
            return self._validate_path(PATH_MODELS[neutral], body)
        found = []
        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            found.append(_detail(["prompt"], "Field required"))
        if neutral != "soul" and not str(body.get("image_url", "")).startswith(
            ("https://", "http://")
        ):
            found.append(_detail(["image_url"], "Input should be a valid URL"))
        motions = body.get("motions", [])
        if not isinstance(motions, list) or len(motions) > 2:
            found.append(_detail(["motions"], "List should have at most 2 items"))
        seed = body.get("seed", 1)
        if not isinstance(seed, int) or not 1 <= seed <= 1_000_000:
            found.append(_detail(["seed"], "Input should be between 1 and 1000000"))
        resolution = body.get("resolution")
        if (
            neutral == "soul"
            and resolution is not None
            and resolution not in SOUL_SHAPE.resolutions
        ):
            allowed = ", ".join(repr(r) for r in SOUL_SHAPE.resolutions)
            found.append(_detail(["resolution"], f"Input should be {allowed}"))
        spec = MODELS[neutral]
        duration = body.get("duration")
        if duration is not None and spec.durations and duration not in spec.durations:
            found.append(_detail(["duration"], f"Input should be one of {list(spec.durations)}"))
        return found

    @staticmethod
    def _validate_path(model: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
        found = [_detail([name], "Field required") for name in model.required if not body.get(name)]
        for name, allowed in model.allowed.items():
            if name in body and body[name] not in allowed:
                choices = ", ".join(repr(a) for a in allowed)
                found.append({**_detail([name], f"Input should be {choices}"), "input": body[name]})
        return found

    async def speak(self, request: EmuRequest) -> EmuResponse:
        try:
            body = request.json()
        except ValueError:
            body = None
        params = body.get("params") if isinstance(body, dict) else None
        if not isinstance(params, dict):
            return EmuResponse.json({"detail": [_detail(["params"], "Field required")]}, 422)
        problems = [
            _detail(["params", name], "Field required")
            for name in ("input_image", "input_audio", "prompt")
            if not params.get(name)
        ]
        if params.get("duration", 10) not in (5, 10, 15):
            problems.append(_detail(["params", "duration"], "Input should be 5, 10 or 15"))
        if params.get("quality", "high") not in ("mid", "high"):
            problems.append(_detail(["params", "quality"], "Input should be 'mid' or 'high'"))
        if problems:
            return EmuResponse.json({"detail": problems}, 422)
        fingerprint = json.dumps([SPEAK_PATH, body], sort_keys=True)
        admitted = self._admit(request, fingerprint)
        if isinstance(admitted, EmuResponse):
            return admitted
        if admitted is not None:
            job = self.jobs[admitted]
        else:
            job = self.create_job(
                str(params.get("prompt", "")),
                {
                    "model": "speak-v2",
                    "params": params,
                    "base_url": request.base_url,
                    "job": self.new_id(),
                    "created_at": datetime.fromtimestamp(self.now(), UTC).isoformat(),
                },
            )
            self._remember(request, fingerprint, job.id)
        return EmuResponse.json(self._job_set(job, request.base_url))

    # -- status and cancel -------------------------------------------------------------------
    def _status_body(self, job: EmulatedJob, base_url: str) -> dict[str, Any]:
        phase = job.phase(self.now())
        rid = job.id
        body: dict[str, Any] = {
            "status": PHASES[phase],
            "request_id": rid,
            **self._urls_for(base_url, rid),
        }
        if phase == "succeeded" and not job.data.get("deleted"):
            model = PATH_MODELS.get(str(job.data.get("model")))
            if job.data.get("model") == "soul" or (model is not None and model.output == "images"):
                body["images"] = [
                    {"url": f"{base_url}/_files/{rid}-{n}.png"}
                    for n in range(int(job.data.get("images") or 1))
                ]
            else:
                body["video"] = {"url": f"{base_url}/_files/{rid}.mp4"}
        if phase in ("failed", "error"):
            body["error"] = "Generation failed: the model could not animate this image"
        if phase in ("succeeded", "failed", "error", "nsfw", "cancelled"):
            done = job.cancelled_at or job.finished_at()
            body["expires_at"] = (
                datetime.fromtimestamp(done + int(job.data.get("expires", self.RETENTION_S)), UTC)
                .isoformat()
                .replace("+00:00", "Z")
            )
        return body

    def _urls_for(self, base_url: str, rid: str) -> dict[str, str]:
        base = UPSTREAM if self.marketplace else base_url
        return {
            "status_url": f"{base}/requests/{rid}/status",
            "cancel_url": f"{base}/requests/{rid}/cancel",
        }

    def _job(self, request: EmuRequest, speak: bool = False) -> EmulatedJob | None:
        job = self.jobs.get(request.params["id"])
        if job is None or (job.data.get("model") == "speak-v2") != speak:
            return None
        return job

    async def status(self, request: EmuRequest) -> EmuResponse:
        job = self._job(request)
        if job is None:
            return self.error(request, 404, "Request not found")
        return EmuResponse.json(self._status_body(job, request.base_url))

    async def cancel(self, request: EmuRequest) -> EmuResponse:
        job = self._job(request)
        if job is None:
            return self.error(request, 404, "Request not found")
        phase = job.phase(self.now())
        if phase != "queued":
            return self.error(request, 400, f"Request cannot be canceled: it is {PHASES[phase]}")
        job.cancelled_at = self.now()
        return EmuResponse(202)

    async def delete(self, request: EmuRequest) -> EmuResponse:
        """Drop a finished request's outputs (idempotent); a running one cannot be [inf]."""
        job = self._job(request)
        if job is None:
            return self.error(request, 404, "Request not found")
        phase = job.phase(self.now())
        if phase in ("queued", "running"):
            return self.error(request, 400, f"Request is {PHASES[phase]}: it is not finished")
        job.data["deleted"] = True
        return EmuResponse.json({"request_id": job.id, "deleted": True})

    def _job_set(self, job: EmulatedJob, base_url: str) -> dict[str, Any]:
        phase = job.phase(self.now())
        results = None
        if phase == "succeeded":
            url = f"{base_url}/_files/{job.id}.mp4"
            results = {"min": {"type": "video", "url": url}, "raw": {"type": "video", "url": url}}
        entry: dict[str, Any] = {
            "id": job.data["job"],
            "job_set_type": "speak_v2",
            "status": PHASES[phase],
            "results": results,
        }
        if phase in ("failed", "error"):
            entry["error"] = "Generation failed"
        return {
            "id": job.id,
            "type": "speak_v2",
            "created_at": job.data["created_at"],
            "jobs": [entry],
            "input_params": job.data["params"],
        }

    async def job_set(self, request: EmuRequest) -> EmuResponse:
        job = self._job(request, speak=True)
        if job is None:
            return self.error(request, 404, "Job set not found")
        return EmuResponse.json(self._job_set(job, request.base_url))

    # -- uploads, estimate, motions --------------------------------------------------------
    async def upload_url(self, request: EmuRequest) -> EmuResponse:
        body = request.json() if request.body else {}
        kind = body.get("content_type") if isinstance(body, dict) else None
        if kind not in ALLOWED_UPLOAD_TYPES:
            return EmuResponse.json(
                {
                    "detail": [
                        _detail(
                            ["content_type"],
                            f"Input should be one of {', '.join(ALLOWED_UPLOAD_TYPES)}",
                        )
                    ]
                },
                422,
            )
        token = secrets.token_urlsafe(12)
        ext = kind.split("/")[1].replace("x-", "")
        headers = {"Content-Type": kind, "x-amz-tagging": "retention=temporary"}
        self.uploads[token] = {"content_type": kind, "headers": headers, "name": f"{token}.{ext}"}
        return EmuResponse.json(
            {
                "public_url": f"{request.base_url}/_files/{token}.{ext}",
                "upload_url": f"{request.base_url}/_storage/{token}",
                "content_type": kind,
                "upload_headers": headers,
            }
        )

    async def upload(self, request: EmuRequest) -> EmuResponse:
        slot = self.uploads.get(request.params["token"])
        if slot is None:
            return EmuResponse.text(
                "<Error><Code>NoSuchUpload</Code></Error>", 404, "application/xml"
            )
        if "authorization" in request.headers:  # a presigned URL carries its own auth
            return EmuResponse.text(
                "<Error><Code>InvalidArgument</Code><Message>Only one auth "
                "mechanism allowed</Message></Error>",
                400,
                "application/xml",
            )
        for name, value in slot["headers"].items():
            if request.headers.get(name.lower()) != value:
                return EmuResponse.text(
                    "<Error><Code>SignatureDoesNotMatch</Code></Error>", 403, "application/xml"
                )
        slot["data"] = request.body
        return EmuResponse(200)

    async def file(self, request: EmuRequest) -> EmuResponse:
        name = request.params["name"]
        for slot in self.uploads.values():
            if slot["name"] == name and "data" in slot:
                return EmuResponse(200, slot["data"], {"content-type": slot["content_type"]})
        kind = "image/png" if name.endswith(".png") else "video/mp4"
        return EmuResponse(200, b"\x00emulated output\x00", {"content-type": kind})

    async def estimate(self, request: EmuRequest) -> EmuResponse:
        path = request.params["model_id"]
        neutral = PATHS.get(path) or (path if path in PATH_MODELS else None)
        if neutral is None:
            return self.error(request, 404, "Model not found")
        credits = self._credits(neutral, request.json() if request.body else {})
        return EmuResponse.json({"credits": f"{credits:.3f}", "usd": f"{credits * 0.0625:.3f}"})

    @staticmethod
    def _credits(neutral: str, body: Any) -> float:
        """The emulator's own price (DoP and Soul from the plugin's table, others 10)."""
        count = body.get(SOUL_SHAPE.count_field, 1) if isinstance(body, dict) else 1
        by_path = PATH_MODELS.get(neutral)
        each = float(by_path.credits if by_path else EMULATOR_CREDITS.get(neutral, "10"))
        return each * (count if neutral == "soul" and isinstance(count, int) else 1)

    async def motions(self, request: EmuRequest) -> EmuResponse:
        return EmuResponse.json(MOTIONS)

    async def models(self, request: EmuRequest) -> EmuResponse:
        """``GET /models``: the paths this emulator serves (the fields observed live)."""
        items = []
        for path, neutral in PATHS.items():
            spec = MODELS[neutral]
            output = "image" if spec.task.value.endswith("image") else "video"
            credits = float(EMULATOR_CREDITS.get(neutral, "10"))
            items.append(_model_item(path, spec.task.value, output, credits))
        for path, model in PATH_MODELS.items():
            output = "image" if model.output == "images" else "video"
            items.append(_model_item(path, "generate", output, float(model.credits)))
        return EmuResponse.json({"models": items})

    # -- webhooks ----------------------------------------------------------------------------
    def webhook_deliveries(self, job: EmulatedJob, url: str) -> list[Delivery]:
        """Terminal states only (completed, failed, nsfw); a cancelled or deleted job sends
        nothing."""
        if job.data.get("deleted"):
            return []
        if job.phase(self.now()) not in ("succeeded", "failed", "error", "nsfw"):
            return []
        body = json.dumps(
            self._status_body(job, job.data["base_url"]), separators=(",", ":")
        ).encode()
        msg_id = f"msg_{base64.b32encode(job.id.encode()).decode().rstrip('=').lower()[:26]}"
        stamp = self.now()
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(stamp)),
            "webhook-signature": sign(self.webhook_secret, msg_id, stamp, body),
        }
        return [Delivery(url, headers, body)]
