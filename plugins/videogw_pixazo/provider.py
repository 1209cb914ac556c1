"""The Pixazo adapter: Higgsfield DoP image-to-video through ``gateway.pixazo.ai``.

Wire facts: reference/providers.md §3 and seed 003 (whose JSON examples are the contract).

- Submit ``POST /ai-model-api/v1/image-to-video`` (``Ocp-Apim-Subscription-Key``,
  ``Cache-Control: no-cache``) answers 202 ``{request_id, status, polling_url}``.
- Status ``GET /v2/requests/status/{request_id}``: QUEUED, PROCESSING, COMPLETED, FAILED,
  ERROR ("system error, not charged"); outputs in ``output.media_url[]``.
- Webhooks: ``X-Webhook-URL`` (https) and ``X-Webhook-Mode`` (terminal | sync) on the
  submit; the body is a status payload. Pixazo signs nothing, so the callback URL carries
  a per-job secret token (``vgw_token``) that `parse_webhook` checks.
- No cancel endpoint, no idempotency key: a submit is never retried.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from pydantic import Field

from videogw import (
    Accepted,
    Capabilities,
    CostEstimate,
    Job,
    JobError,
    JobStatus,
    ModelSpec,
    Motion,
    Output,
    Prepared,
    Provider,
    ProviderOptions,
    ProviderSettings,
    Purpose,
    StatusUpdate,
    Task,
    errors,
)
from videogw.models import SEED_MAX, SEED_MIN
from videogw.provider import json_loads

from . import prices

if TYPE_CHECKING:
    from videogw.emulator import Emulator

__all__ = ["TOKEN_PARAM", "PixazoOptions", "PixazoProvider", "PixazoSettings", "parse_timestamp"]

TOKEN_PARAM = "vgw_token"  # query parameter of the callback URL that carries the job's token
OFFICIAL_HOST = "gateway.pixazo.ai"
SUBMIT_PATH = "/ai-model-api/v1/image-to-video"
STATUS_PATH = "/v2/requests/status/{id}"
TIMESTAMPS = ("created_at", "updated_at", "completed_at")
# Extensions an output can have, fixed here rather than read from the system's mime.types
# (which maps odd ones, such as the seed's ``.ext``, to odd types).
MEDIA_TYPES = {
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "gif": "image/gif",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}

# Pixazo has no parameter for these: a request that sets one is not a Pixazo candidate
# rather than silently getting something else.
_NOT_SENDABLE = {
    "audio": "Pixazo's DoP endpoint takes no audio",
    "aspect_ratio": "Pixazo's DoP endpoint has no aspect ratio (the clip follows the image)",
    "resolution": "Pixazo's DoP endpoint has no resolution setting",
    "quality": "Pixazo's DoP endpoint has no quality setting (pick dop-lite/-turbo/-standard)",
}


class PixazoSettings(ProviderSettings):
    """``[providers.pixazo]``. Pixazo requires a motion preset on every clip; a request
    without one uses `default_motion_id` (or Pixazo is not a candidate for it)."""

    default_motion_id: str | None = Field(default=None, min_length=1, max_length=128)
    default_motion_strength: float = Field(default=0.5, ge=0.0, le=1.0)


class PixazoOptions(ProviderOptions):
    """``GenerationRequest.options`` for Pixazo."""

    webhook_mode: Literal["terminal", "sync"] = "terminal"  # sync: a POST per poll cycle
    check_nsfw: bool | None = None  # Pixazo's default is true; None sends nothing


def _spec(provider_model: str) -> ModelSpec:
    # Every Pixazo DoP clip is 5 s. Typical time: the seed's terminal-callback example ran
    # from created 13:17:32 to completed 13:19:23 (about 111 s); its other example (15 s)
    # has round illustrative timestamps.
    return ModelSpec(
        provider_model=provider_model,
        task=Task.image_to_video,
        durations=(5,),
        default_duration=5,
        local_files=False,
        end_image=True,
        typical_seconds=110.0,
    )


class PixazoProvider(Provider):
    name = "pixazo"
    display_name = "Pixazo gateway (Higgsfield DoP)"
    default_base_url = f"https://{OFFICIAL_HOST}"
    api_key_envs = ("PIXAZO_API_KEY",)
    Settings = PixazoSettings
    Options = PixazoOptions
    settings: PixazoSettings
    STATUS_MAP: ClassVar[Mapping[str, JobStatus]] = {
        "QUEUED": JobStatus.queued,
        "PROCESSING": JobStatus.running,
        "COMPLETED": JobStatus.succeeded,
        "FAILED": JobStatus.failed,
        "ERROR": JobStatus.failed,
    }
    # charged: COMPLETED is billed; ERROR is "not charged" [S003]; FAILED is undocumented.
    CHARGED: ClassVar[Mapping[str, bool | None]] = {"COMPLETED": True, "ERROR": False}
    CAPABILITIES = Capabilities(
        models={
            "dop-lite": _spec("dop-lite"),
            "dop-turbo": _spec("dop-turbo"),
            # declared equal by price: reference/providers.md §3.6
            "dop-standard": _spec("dop-preview"),
        },
        cancel=False,
        webhooks=True,
        idempotency=False,
    )

    def _headers(self) -> dict[str, str]:
        return {"Ocp-Apim-Subscription-Key": self.api_key(), "Cache-Control": "no-cache"}

    # -- preparing ---------------------------------------------------------------------------
    def validate(self, prepared: Prepared) -> Prepared:
        request, who = prepared.request, self.instance
        for name, why in _NOT_SENDABLE.items():
            if getattr(request, name) is not None:
                raise errors.UnsupportedRequestError(why, field=name, provider=who)
        if not (request.prompt or "").strip():
            # Pixazo answers 400 "prompt must be a non-empty string": say so before sending
            raise errors.UnsupportedRequestError(
                "Pixazo needs a prompt (describe the motion, e.g. 'a cat turns its head')",
                field="prompt",
                provider=who,
            )
        if request.motion is None and self.settings.default_motion_id is None:
            raise errors.UnsupportedRequestError(
                "Pixazo needs a motion preset id (motions_id) for every clip; give the "
                f"request a motion, or set default_motion_id in [providers.{who}] of the "
                "config file",
                field="motion",
                provider=who,
            )
        hook = request.webhook_url
        if hook is not None and not hook.lower().startswith("https://"):
            # GenerationRequest checks this too, but model_copy() skips validators.
            raise errors.InvalidRequestError(
                "Pixazo only calls https:// webhook URLs", field="webhook_url", provider=who
            )
        # Pixazo requires a seed: mint one when the user gave none, and keep it on the Job.
        seed = request.seed if request.seed is not None else SEED_MIN + secrets.randbelow(SEED_MAX)
        data: dict[str, Any] = {**prepared.provider_data, "seed": seed}
        if request.webhook_url is not None:
            assert isinstance(prepared.options, PixazoOptions)
            # A secret: it lives in provider_data (the ledger) by necessity; never log it.
            data["webhook_token"] = secrets.token_urlsafe(24)
            data["webhook_mode"] = prepared.options.webhook_mode
        return replace(prepared, provider_data=data)

    def _motion(self, prepared: Prepared) -> Motion:
        if prepared.request.motion is not None:
            return prepared.request.motion
        assert self.settings.default_motion_id is not None  # validate() saw to it
        return Motion(
            id=self.settings.default_motion_id, strength=self.settings.default_motion_strength
        )

    # -- submit ------------------------------------------------------------------------------
    def build_submit(self, prepared: Prepared) -> httpx.Request:
        request, options = prepared.request, prepared.options
        assert isinstance(options, PixazoOptions)
        assert request.image is not None
        assert request.image.url is not None
        motion = self._motion(prepared)
        # Key order follows seed 003's "Full Request", so the body is byte-for-byte its JSON.
        body: dict[str, Any] = {
            "model": prepared.spec.provider_model,
            "prompt": request.prompt,
            "seed": prepared.provider_data["seed"],
            "motions_id": motion.id,
            "motions_strength": motion.strength,
            "input_images": [request.image.url],
        }
        if request.end_image is not None:
            body["input_images_end"] = [request.end_image.url]
        body["enhance_prompt"] = True if request.enhance_prompt is None else request.enhance_prompt
        if options.check_nsfw is not None:
            body["check_nsfw"] = options.check_nsfw
        headers = {"Content-Type": "application/json", **self._headers()}
        token = prepared.provider_data.get("webhook_token")
        if request.webhook_url is not None and token:
            headers["X-Webhook-URL"] = callback_url(request.webhook_url, token)
            headers["X-Webhook-Mode"] = options.webhook_mode
        return httpx.Request("POST", self.url(SUBMIT_PATH), json=body, headers=headers)

    def parse_submit(self, prepared: Prepared, response: httpx.Response) -> Accepted:
        data = self.json(response)
        if not isinstance(data, dict) or not isinstance(data.get("request_id"), str):
            raise self.malformed(response, "submit answer has no request_id")
        raw = data.get("status")
        status = self.map_status(raw)
        extra = {"polling_url": data["polling_url"]} if data.get("polling_url") else {}
        return Accepted(
            provider_job_id=data["request_id"],
            # a 202 means queued; an unmapped word must not make the submit look unknown
            status=status if status is not JobStatus.unknown else JobStatus.queued,
            raw_status=raw if isinstance(raw, str) else None,
            provider_data=extra,
        )

    # -- status ------------------------------------------------------------------------------
    def build_status(self, job: Job) -> httpx.Request:
        return httpx.Request("GET", self.status_url(job), headers=self._headers())

    def status_url(self, job: Job) -> str:
        """The returned ``polling_url`` when it points at the configured host (or Pixazo's
        own); anything else is rebuilt, so the key never goes to a host nobody chose."""
        given = job.provider_data.get("polling_url")
        if isinstance(given, str) and self._trusted(given):
            return given
        assert job.provider_job_id is not None
        return self.url(STATUS_PATH.format(id=quote(job.provider_job_id, safe="")))

    def _trusted(self, url: str) -> bool:
        try:
            given, base = httpx.URL(url), httpx.URL(self.base_url)
        except httpx.InvalidURL:
            return False
        if (given.scheme, given.host, given.port) == (base.scheme, base.host, base.port):
            return True
        return given.scheme == "https" and given.host == OFFICIAL_HOST and given.port is None

    def parse_status(self, job: Job, response: httpx.Response) -> StatusUpdate:
        data = self.json(response)
        if not isinstance(data, dict):
            raise self.malformed(response, "status answer is not a JSON object")
        return self.update_from(job, data, response)

    def update_from(
        self, job: Job, data: Mapping[str, Any], response: httpx.Response | None = None
    ) -> StatusUpdate:
        """One status payload (GET answer or webhook body) as a `StatusUpdate`."""
        raw = data.get("status")
        status = self.map_status(raw)
        raw_text = raw if isinstance(raw, str) else None
        outputs: tuple[Output, ...] | None = None
        error = None
        cost = None
        if status is JobStatus.succeeded:
            outputs = _outputs(data.get("output"))
            if not outputs:
                raise self.malformed(response, "COMPLETED answer has no output.media_url")
            cost = self._price(job.provider_model) if job.provider_model else None
        elif status is JobStatus.failed:
            text = data.get("error")
            message = text if isinstance(text, str) and text else f"Pixazo reported {raw}"
            kind = "provider_error" if raw == "ERROR" else "generation_failed"
            error = JobError(kind=kind, message=message, provider_code=raw_text)
        stamps = {}
        for name in TIMESTAMPS:
            when = parse_timestamp(data.get(name))
            if when is not None:
                stamps[name] = when.isoformat()
        return StatusUpdate(
            status=status,
            raw_status=raw_text,
            outputs=outputs,
            error=error,
            actual_cost=cost,
            cost_currency="USD" if cost is not None else None,
            charged=self.CHARGED.get(raw_text or ""),
            provider_data=stamps,
        )

    # -- webhooks ----------------------------------------------------------------------------
    def parse_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        job: Job | None = None,
        query: Mapping[str, str] | None = None,
    ) -> StatusUpdate:
        """Check the delivery's token against the job's, then read it like a status answer.

        Deliveries are unsigned [S003]; the token in the callback URL is all that proves
        one came from the submit videogw made. Duplicates are normal: the dedupe key is
        ``request_id:status``.
        """
        if job is None:
            raise errors.WebhookRejectedError(
                f"{self.instance}: deliveries are unsigned; the job is needed to check its token"
            )
        expected = job.provider_data.get("webhook_token")
        given = (query or {}).get(TOKEN_PARAM)
        if not isinstance(expected, str) or not expected:
            raise errors.WebhookRejectedError(
                f"{self.instance}: job {job.id} was submitted without a webhook URL"
            )
        if not given or not hmac.compare_digest(given.encode(), expected.encode()):
            raise errors.WebhookRejectedError(
                f"{self.instance}: delivery for job {job.id} has a "
                f"{'wrong' if given else 'missing'} {TOKEN_PARAM}"
            )
        data = _json_object(body)
        request_id = data.get("request_id") if data is not None else None
        if data is None or not isinstance(request_id, str):  # verified, but unreadable
            raise self.malformed(None, "delivery is not a status payload with a request_id")
        if job.provider_job_id is not None and request_id != job.provider_job_id:
            raise errors.WebhookRejectedError(
                f"{self.instance}: delivery is about {request_id}, not job {job.id}"
            )
        update = self.update_from(job, data)
        return replace(
            update, provider_job_id=request_id, dedupe_key=f"{request_id}:{update.raw_status}"
        )

    # -- errors ------------------------------------------------------------------------------
    def classify(self, response: httpx.Response, purpose: Purpose) -> errors.ProviderError | None:
        if response.status_code == 400 and _is_model_not_found(_error_body(response)):
            return self.error(errors.ModelUnavailableError, response)
        return super().classify(response, purpose)

    def error(
        self,
        cls: type[errors.ProviderError],
        response: httpx.Response,
        message: str | None = None,
        **extra: Any,
    ) -> errors.ProviderError:
        code = _error_body(response).get("error")
        extra.setdefault("code", code if isinstance(code, str) and code else None)
        return super().error(cls, response, message, **extra)

    def error_message(self, response: httpx.Response) -> str:
        """``{"error": title, "message": detail}`` reads "title: detail"."""
        body = _error_body(response)
        title, detail = body.get("error"), body.get("message")
        parts = [p for p in (title, detail) if isinstance(p, str) and p]
        if len(parts) == 2 and parts[0] != parts[1]:
            return f"{parts[0]}: {parts[1]}"
        return parts[0] if parts else super().error_message(response)

    # -- cost --------------------------------------------------------------------------------
    def _price(self, provider_model: str) -> Decimal | None:
        override = self.price_override(provider_model)
        return override if override is not None else prices.PRICES_USD.get(provider_model)

    def estimate(self, prepared: Prepared) -> CostEstimate:
        model = prepared.spec.provider_model
        override = self.price_override(model)
        if override is not None:
            return CostEstimate(
                amount=override,
                usd=override,
                basis=f"configured price, {model} per 5 s clip",
                source=f"config: [providers.{self.instance}] prices.{model}",
                origin="config",
            )
        amount = prices.PRICES_USD[model]
        return CostEstimate(
            amount=amount,
            usd=amount,
            basis=f"Pixazo price table, {model} per 5 s clip",
            source=prices.SOURCE,
            as_of=prices.AS_OF,
            origin="table",
        )

    # -- emulator ----------------------------------------------------------------------------
    @classmethod
    def emulator(cls, **kwargs: Any) -> Emulator:
        from .emulator import PixazoEmulator

        return PixazoEmulator(**kwargs)


def callback_url(url: str, token: str) -> str:
    """`url` with the job's token appended as ``vgw_token`` (other query params kept)."""
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}{TOKEN_PARAM}={token}"))


def parse_timestamp(value: object) -> datetime | None:
    """ISO-8601 (``2026-05-22T13:17:32.110Z``) or ``2026-05-22 13:19:23`` (zone-less, taken
    as UTC), as an aware datetime; None for anything else (the seed even shows ``"..."``)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _outputs(output: object) -> tuple[Output, ...]:
    if not isinstance(output, dict):
        return ()
    urls = output.get("media_url")
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list):
        return ()
    given = output.get("media_type")
    return tuple(
        Output(url=url, media_type=_media_type(url, given if isinstance(given, str) else None))
        for url in urls
        if isinstance(url, str) and url
    )


def _media_type(url: str, given: str | None) -> str | None:
    """Pixazo may say ``application/octet-stream``: then the URL's extension decides; an
    extension nobody knows (the seed's own ``output.ext``) leaves the given type."""
    if given and given != "application/octet-stream":
        return given
    _, dot, ext = urlsplit(url).path.rpartition(".")
    return MEDIA_TYPES.get(ext.lower(), given) if dot else given


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json_loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error_body(response: httpx.Response) -> dict[str, Any]:
    return _json_object(response.content) or {}


def _is_model_not_found(body: Mapping[str, Any]) -> bool:
    title, detail = str(body.get("error") or ""), str(body.get("message") or "")
    return title.lower() == "model not found" or "not found or is disabled" in detail.lower()
