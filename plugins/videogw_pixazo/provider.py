"""The Pixazo adapter: Higgsfield DoP image-to-video through ``gateway.pixazo.ai``.

Wire facts: docs/providers/pixazo.md and seed 003 (whose JSON examples are the contract).

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
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from videogw import (
    Accepted,
    CostEstimate,
    Job,
    JobError,
    JobStatus,
    Motion,
    Output,
    Prepared,
    Provider,
    Purpose,
    StatusUpdate,
    errors,
)
from videogw.models import SEED_MAX, SEED_MIN
from videogw.tables import first_rule
from videogw.wire import request as http_request
from videogw.wire import trusted_url

from . import prices
from .config import PixazoOptions, PixazoSettings
from .tables import CAPABILITIES, ERRORS, NOT_SENDABLE, STATUSES
from .wire import (
    OFFICIAL_HOST,
    STATUS_PATH,
    SUBMIT_PATH,
    TIMESTAMPS,
    TOKEN_PARAM,
    callback_url,
    error_body,
    json_object,
    parse_timestamp,
)
from .wire import outputs as read_outputs

if TYPE_CHECKING:
    from videogw.emulator import Emulator

__all__ = ["TOKEN_PARAM", "PixazoOptions", "PixazoProvider", "PixazoSettings", "parse_timestamp"]


class PixazoProvider(Provider):
    name = "pixazo"
    display_name = "Pixazo gateway (Higgsfield DoP)"
    default_base_url = f"https://{OFFICIAL_HOST}"
    api_key_envs = ("PIXAZO_API_KEY",)
    Settings = PixazoSettings
    Options = PixazoOptions
    settings: PixazoSettings
    STATUS_MAP = STATUSES.status_map
    CAPABILITIES = CAPABILITIES

    def _headers(self) -> dict[str, str]:
        return {"Ocp-Apim-Subscription-Key": self.api_key(), "Cache-Control": "no-cache"}

    # -- preparing ---------------------------------------------------------------------------
    def validate(self, prepared: Prepared) -> Prepared:
        request, who = prepared.request, self.instance
        for name, why in NOT_SENDABLE.items():
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
        return http_request("POST", self.http_url(SUBMIT_PATH), json=body, headers=headers)

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
        return http_request("GET", self.status_url(job), headers=self._headers())

    def status_url(self, job: Job) -> str:
        """The returned ``polling_url`` when it points at the configured host (or Pixazo's
        own); anything else is rebuilt, so the key never goes to a host nobody chose."""
        given = job.provider_data.get("polling_url")
        if isinstance(given, str) and self._trusted(given):
            return given
        assert job.provider_job_id is not None
        return self.url(STATUS_PATH.format(id=quote(job.provider_job_id, safe="")))

    def _trusted(self, url: str) -> bool:
        return trusted_url(url, self.base_url, (OFFICIAL_HOST,))

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
            outputs = read_outputs(data.get("output"))
            if not outputs:
                raise self.malformed(response, "COMPLETED answer has no output.media_url")
            cost = self._price(job.model, job.provider_model) if job.provider_model else None
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
            charged=STATUSES.charged(raw),
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
        data = json_object(body)
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
        code, message = response.status_code, self.error_message(response)
        found = first_rule(ERRORS, code, purpose, message) if code >= 400 else None
        return self.error(found, response) if found else super().classify(response, purpose)

    def error(
        self,
        cls: type[errors.ProviderError],
        response: httpx.Response,
        message: str | None = None,
        **extra: Any,
    ) -> errors.ProviderError:
        code = error_body(response).get("error")
        extra.setdefault("code", code if isinstance(code, str) and code else None)
        return super().error(cls, response, message, **extra)

    def error_message(self, response: httpx.Response) -> str:
        """``{"error": title, "message": detail}`` reads "title: detail"."""
        body = error_body(response)
        title, detail = body.get("error"), body.get("message")
        parts = [p for p in (title, detail) if isinstance(p, str) and p]
        if len(parts) == 2 and parts[0] != parts[1]:
            return f"{parts[0]}: {parts[1]}"
        return parts[0] if parts else super().error_message(response)

    # -- cost --------------------------------------------------------------------------------
    def price_keys(self) -> list[str]:
        """Neutral models; Pixazo's own names are still understood."""
        return [
            *self.capabilities.models,
            *(s.provider_model for s in self.CAPABILITIES.models.values()),
        ]

    def _price(self, neutral: str, provider_model: str) -> Decimal | None:
        found = prices.configured(self.price_override, neutral, provider_model)
        return found[1] if found else prices.PRICES_USD.get(provider_model)

    def estimate(self, prepared: Prepared) -> CostEstimate:
        return prices.estimate(prepared, self.price_override, self.instance)

    # -- emulator ----------------------------------------------------------------------------
    @classmethod
    def emulator(cls, **kwargs: Any) -> Emulator:
        from .emulator import PixazoEmulator

        return PixazoEmulator(**kwargs)
