"""videogw provider for Segmind's Higgsfield models: Speak v2 (``higgsfield-speech2video``)
and DoP image-to-video (``higgsfield-image2video``).

Wire facts and their sources: docs/providers/segmind.md. The data is in `tables`
(statuses, charges, error rules, models), `models` (settings, fields, bodies) and
`prices`; the queue and sync modes are classes in `modes`. This module reads answers:
status and result bodies (FAILED comes with HTTP 422), and, past the ~1 h retention of
request records, the generations API's row, which settles the job with its cost.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from videogw import (
    Accepted,
    Capabilities,
    CostEstimate,
    GenerationRequest,
    Job,
    JobError,
    JobStatus,
    ModelSpec,
    Output,
    Prepared,
    Provider,
    ProviderSettings,
    StatusUpdate,
    errors,
)
from videogw.emulator import Emulator
from videogw.provider import Flow, Purpose
from videogw.tables import first_rule
from videogw.wire import request as http_request

from . import prices
from .models import SegmindOptions, SegmindSettings, build_body, check
from .modes import MODES, Queue
from .prices import DOP_MODELS
from .tables import CAPABILITIES, ERRORS, SPEAK_DEFAULT_QUALITY, STATUSES, TERMINAL_RAW
from .wire import (
    DOP_SLUG,
    HISTORY_STATUS,
    data_url,
    json_object,
    media_type,
    money,
    output_urls,
    rate_limit_reset,
)

__all__ = ["SegmindOptions", "SegmindProvider", "SegmindSettings"]

OUTPUT_LIFETIME = timedelta(days=7)  # output files outlive the request record


class SegmindProvider(Provider):
    name = "segmind"
    display_name = "Segmind (Higgsfield Speak v2 and DoP)"
    default_base_url = "https://api.segmind.com"
    api_key_envs = ("SEGMIND_API_KEY",)
    Settings = SegmindSettings
    Options = SegmindOptions
    STATUS_MAP = STATUSES.status_map
    CAPABILITIES = CAPABILITIES
    settings: SegmindSettings

    def __init__(self, settings: ProviderSettings | None = None, *, instance: str | None = None):
        super().__init__(settings, instance=instance)
        self.mode: Queue = MODES[self.settings.mode](self)
        self._capabilities = self.mode.capabilities(self.CAPABILITIES)
        #: the last balance Segmind reported (USD credits); see `credit_ok`
        self.remaining_credits: Decimal | None = None

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key()}

    def credit_ok(self, remaining: Decimal | None = None) -> bool:
        """May the router send work here? False when the balance (`remaining`, else the last
        one Segmind reported) is below ``low_credit_threshold``; True when either is unknown."""
        threshold = self.settings.low_credit_threshold
        balance = remaining if remaining is not None else self.remaining_credits
        return threshold is None or balance is None or balance >= threshold

    # -- preparing ---------------------------------------------------------------------
    def resolve_model(self, request: GenerationRequest) -> tuple[str, ModelSpec]:
        name = request.model_name
        if name == DOP_SLUG:
            raise errors.UnsupportedRequestError(
                f"{DOP_SLUG} serves several models; name one of "
                f"{', '.join(DOP_MODELS)} (dop-preview is accepted for dop-standard)",
                field="model",
                provider=self.instance,
            )
        for neutral, body_model in DOP_MODELS.items():
            if name == body_model:
                return neutral, self.capabilities.models[neutral]
        return super().resolve_model(request)

    def validate(self, prepared: Prepared) -> Prepared:
        check(prepared, self.settings, self.instance)
        return prepared

    def body(self, prepared: Prepared) -> dict[str, Any]:
        return build_body(prepared)

    # -- submit --------------------------------------------------------------------------
    def submit_flow(self, prepared: Prepared) -> Flow[Accepted]:
        local = [
            name
            for name in ("image", "audio")
            if (media := getattr(prepared.request, name)) is not None and not media.is_remote
        ]
        if local:
            try:
                response = yield self.call(self.build_upload(prepared, local), Purpose.upload)
                uploaded = self.parse_upload(local, response)
            except (
                errors.ServerError,
                errors.MalformedResponseError,
                errors.OutcomeUnknownError,
            ) as exc:
                # An upload creates nothing billable: the job itself was never sent.
                raise errors.RequestNotSentError(
                    f"upload to Segmind storage failed ({exc}); nothing was submitted",
                    provider=self.instance,
                ) from exc
            prepared = replace(
                prepared, provider_data={**prepared.provider_data, "uploaded": uploaded}
            )
        response = yield self.call(self.build_submit(prepared), Purpose.submit)
        return self.mode.finish(prepared, self.parse_submit(prepared, response), response)

    def build_upload(self, prepared: Prepared, names: list[str]) -> httpx.Request:
        """``POST {storage_url}`` with the inputs as data URLs (reads local files)."""
        media = [getattr(prepared.request, name) for name in names]
        data_urls = [data_url(m.read_bytes(), m.guess_content_type()) for m in media]
        headers = {**self.headers(), "accept": "application/json"}
        return http_request(
            "POST", self.settings.storage_url, json={"data_urls": data_urls}, headers=headers
        )

    def parse_upload(self, names: list[str], response: httpx.Response) -> dict[str, str]:
        data = self.json(response)
        urls = data.get("file_urls") if isinstance(data, dict) else None
        if not isinstance(urls, list) or len(urls) != len(names):
            raise self.malformed(response, f"upload answer has no file_urls for {names}")
        return dict(zip(names, (str(url) for url in urls), strict=True))

    def build_submit(self, prepared: Prepared) -> httpx.Request:
        return self.mode.build_submit(prepared, build_body(prepared))

    def parse_submit(self, prepared: Prepared, response: httpx.Response) -> Accepted:
        uploaded = prepared.provider_data.get("uploaded")
        return self.mode.parse_submit(
            prepared, response, {"uploaded": uploaded} if uploaded else {}
        )

    # -- status --------------------------------------------------------------------------
    def status_flow(self, job: Job) -> Flow[StatusUpdate]:
        mode = MODES.get(str(job.provider_data.get("mode")), type(self.mode))(self)
        return (yield from mode.status_flow(job))

    def _get(self, url: str) -> httpx.Request:
        # Rebuilt from base_url rather than the answer's URLs: the key goes to known hosts only.
        return http_request("GET", url, headers=self.headers())

    def build_status(self, job: Job) -> httpx.Request:
        return self._get(self.url(f"/v2/requests/{_quoted(job)}/status"))

    def build_result(self, job: Job) -> httpx.Request:
        return self._get(self.url(f"/v2/requests/{_quoted(job)}"))

    def build_generation(self, job: Job) -> httpx.Request:
        return self._get(f"{self.settings.history_url.rstrip('/')}/{_quoted(job)}")

    def parse_status(self, job: Job, response: httpx.Response) -> StatusUpdate:
        """Reads a status body or a result body (FAILED ones arrive with HTTP 422)."""
        if response.status_code == 404:
            return self._expired(job, response)
        data = self.json(response)
        if not isinstance(data, dict):
            raise self.malformed(response, "status answer is not an object")
        found = data.get("metrics")
        metrics: dict[str, Any] = found if isinstance(found, dict) else {}
        billing = self.billing(metrics.get("cost"), metrics.get("remaining_credits"))
        urls = None
        if "output" in data and self.map_status(data.get("status")) is JobStatus.succeeded:
            urls = output_urls(data["output"])
            if not urls:
                raise self.malformed(response, "COMPLETED result has no output URL")
        extra = {"metrics": metrics} if urls else {}
        return self._update(job, data.get("status"), data.get("error"), urls, billing, extra)

    def parse_generation(self, job: Job, response: httpx.Response) -> StatusUpdate | None:
        """A generations row (``model_status``, ``generation_url``, ``credits_deduction``,
        ``latency_ms``, ``error``) as the status it settles; None if it says nothing."""
        row = json_object(response)
        raw = HISTORY_STATUS.get(str(row.get("model_status", "")).upper())
        if row.get("request_id") not in (None, job.provider_job_id) or raw is None:
            return None
        data = {"generations": {k: row.get(k) for k in ("model_status", "latency_ms")}}
        billing = self.billing(row.get("credits_deduction"), None)
        urls = output_urls(row.get("generation_url")) if raw == "COMPLETED" else None
        return self._update(job, raw, row.get("error"), urls, billing, data)

    def _update(
        self,
        job: Job,
        raw: object,
        error: object,
        urls: list[str] | None,
        billing: dict[str, Any],
        data: dict[str, Any],
    ) -> StatusUpdate:
        """One reading of a status, result or generations row: failed (not charged), still
        running, or succeeded with its outputs (charged) once their URLs are known."""
        status, text = self.map_status(raw), raw if isinstance(raw, str) else None
        charged = STATUSES.charged(raw)
        if status is JobStatus.failed:
            message = str(error or "Segmind reported FAILED")
            failure = JobError(kind="generation_failed", message=message)
            return StatusUpdate(status, raw_status=text, error=failure, charged=charged)
        if status is not JobStatus.succeeded or urls is None:
            return StatusUpdate(status, raw_status=text, provider_data=data)
        expires = job.submitted_at + OUTPUT_LIFETIME if job.submitted_at else None
        outputs = tuple(Output(url=u, media_type=media_type(u), expires_at=expires) for u in urls)
        extra = {"outputs": outputs, "charged": charged, "provider_data": data, **billing}
        return StatusUpdate(status, raw_status=text, **extra)

    def _expired(self, job: Job, response: httpx.Response) -> StatusUpdate:
        if job.status.is_terminal:
            return StatusUpdate(status=job.status)  # keep what was known
        message = (
            f"Segmind no longer holds request {job.provider_job_id} "
            f"({self.error_message(response)}); status and results are kept about an hour "
            "after submission, so the outcome is unknown: it may have completed and been billed"
        )
        error = JobError(kind="expired", message=message, provider_code="404")
        return StatusUpdate(status=JobStatus.expired, error=error)

    # -- cost ----------------------------------------------------------------------------
    def price_keys(self) -> list[str]:
        """Neutral models, and one Speak v2 cell as ``speak-v2:<quality>:<seconds>``."""
        return [*self.capabilities.models, *(f"speak-v2:{q}:{d}" for q, d in prices.SPEAK_CELLS)]

    def estimate(self, prepared: Prepared) -> CostEstimate:
        """From the price table (prices.py), unless config names a price for this cell."""
        quality = prepared.request.quality or SPEAK_DEFAULT_QUALITY
        return prices.estimate(prepared, quality, self.price_override, self.instance)

    def billing(self, cost: object, balance: object) -> dict[str, Any]:
        """StatusUpdate fields from a cost and a balance (from `metrics` or headers)."""
        found: dict[str, Any] = {}
        amount = money(cost)
        if amount is not None:
            found["actual_cost"], found["cost_currency"] = amount, "USD"
        remaining = money(balance)
        if remaining is not None:
            found["remaining_credits"] = self.remaining_credits = remaining
        return found

    # -- errors --------------------------------------------------------------------------
    def classify(self, response: httpx.Response, purpose: Purpose) -> errors.ProviderError | None:
        code = response.status_code
        if code < 400:
            return None
        body = json_object(response)
        if purpose is Purpose.read and (
            body.get("status") in TERMINAL_RAW  # FAILED is served with 422: a status
            or (code == 404 and "not found" in str(body.get("error", "")).lower())  # expired
        ):
            return None
        if purpose is Purpose.read and code == 422 and not body:
            # an unreadable 422 to a read is a garbled status answer, worth another read
            return self.error(errors.MalformedResponseError, response)
        found = first_rule(ERRORS, code, purpose, self.error_message(response))
        if found is not None:
            return self.error(found, response)
        if code == 405:  # an HTML page: say what was sent instead
            try:
                what = f"{response.request.method} {response.request.url.path}"
            except RuntimeError:  # a response built without its request
                what = "the request"
            return self.error(errors.ProviderError, response, f"{what}: method not allowed")
        reset = rate_limit_reset(response) if code == 429 else None
        if reset is not None:
            return self.error(errors.RateLimitError, response, retry_after=reset)
        return super().classify(response, purpose)

    def error_message(self, response: httpx.Response) -> str:
        body = json_object(response)
        if body.get("error_description"):  # {"error": "invalid_token", "error_description": ...}
            return f"{body.get('error')}: {body['error_description']}"
        return super().error_message(response)

    # -- emulator ------------------------------------------------------------------------
    @classmethod
    def emulator(cls, **kwargs: Any) -> Emulator:
        from .emulator import SegmindEmulator

        return SegmindEmulator(**kwargs)

    @classmethod
    def emulator_settings(cls, base_url: str) -> dict[str, Any]:
        settings = super().emulator_settings(base_url)
        if base_url.rstrip("/") != cls.default_base_url:  # loopback: the other hosts too
            settings["storage_url"] = f"{base_url.rstrip('/')}/upload-asset"
            settings["history_url"] = f"{base_url.rstrip('/')}/inference-request/request-history"
        return settings


def _quoted(job: Job) -> str:
    """The provider job id as one URL path segment (an id is data, never a path)."""
    return quote(str(job.provider_job_id), safe="")
