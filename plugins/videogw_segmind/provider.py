"""videogw provider for Segmind's Higgsfield models: Speak v2 (``higgsfield-speech2video``)
and DoP image-to-video (``higgsfield-image2video``).

API: docs.segmind.com (async inference), the segmind.com model pages, and the official
``segmind`` SDK 1.3.0 (``segmind/v2.py``, ``segmind/files.py``). Wire facts with their
sources: reference/providers.md §2; seed 001 (the speech2video model page).

Queue mode (default)::

    POST /v2/{slug}                  -> {request_id, status, status_url, response_url}
    GET  /v2/requests/{id}/status    -> {status, metrics}       (FAILED comes with HTTP 422)
    GET  /v2/requests/{id}           -> {status, output, metrics{cost, remaining_credits}}

Request records expire about an hour after submission; a later poll answers 404
``{"error": "Request ... not found"}``, which becomes ``expired`` keeping what was known.

Sync mode (``mode = "sync"``): ``POST /v1/{slug}`` blocks until done and answers the video
bytes (some models answer JSON); cost and balance come in ``x-cost`` and
``x-remaining-credits``. The job is finished when the submit returns.

Raw statuses: QUEUED, PROCESSING, COMPLETED, FAILED. No cancel, no webhooks for model
inference, no idempotency key: a submit is never repeated.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import Field

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
    ProviderOptions,
    ProviderSettings,
    StatusUpdate,
    Task,
    errors,
)
from videogw.emulator import Emulator
from videogw.provider import Flow, Purpose

from . import prices
from .prices import DOP_MODELS
from .wire import (
    data_url,
    json_object,
    media_type,
    money,
    output_urls,
    rate_limit_reset,
    write_video,
)

__all__ = ["SegmindOptions", "SegmindProvider", "SegmindSettings"]

log = logging.getLogger("videogw.segmind")

SPEAK_SLUG = "higgsfield-speech2video"
DOP_SLUG = "higgsfield-image2video"
SPEAK_DEFAULT_QUALITY = "high"  # the model page's default; it decides the price
OUTPUT_LIFETIME = timedelta(days=7)  # output files outlive the request record [SM-DOCS]
TERMINAL_RAW = ("COMPLETED", "FAILED")


class SegmindSettings(ProviderSettings):
    """``[providers.segmind]``. The API key comes from ``SEGMIND_API_KEY``."""

    mode: Literal["queue", "sync"] = "queue"
    #: Segmind storage (another host than the API); local files and bytes go there first
    storage_url: str = "https://workflows-api.segmind.com/upload-asset"
    upload_local_files: bool = False
    #: sync mode: where videos are written when the request names no output_path
    #: (a new temporary file otherwise; the caller owns it)
    output_dir: Path | None = None
    #: sync mode: a v1 call holds the connection for the whole job (Speak v2 ~330 s)
    sync_timeout_s: float = Field(default=900.0, gt=0)


class SegmindOptions(ProviderOptions):
    output_path: Path | None = None  # sync mode: save the video here
    check_nsfw: bool | None = None  # DoP only


_DOP_SPEC = ModelSpec(provider_model=DOP_SLUG, task=Task.image_to_video, typical_seconds=180)


class SegmindProvider(Provider):
    name = "segmind"
    display_name = "Segmind (Higgsfield Speak v2 and DoP)"
    default_base_url = "https://api.segmind.com"
    api_key_envs = ("SEGMIND_API_KEY",)
    Settings = SegmindSettings
    Options = SegmindOptions
    STATUS_MAP: ClassVar[dict[str, JobStatus]] = {
        "QUEUED": JobStatus.queued,
        "PROCESSING": JobStatus.running,
        "COMPLETED": JobStatus.succeeded,
        "FAILED": JobStatus.failed,  # not billed
    }
    CAPABILITIES = Capabilities(
        models={
            "speak-v2": ModelSpec(
                provider_model=SPEAK_SLUG,
                task=Task.speech_to_video,
                durations=(5, 10, 15),
                default_duration=10,
                qualities=("high", "mid"),
                typical_seconds=330,  # 306-361 s on the model page
            ),
            **dict.fromkeys(DOP_MODELS, _DOP_SPEC),
        },
        cancel=False,
        webhooks=False,
        idempotency=False,
        sync_mode=True,
    )
    settings: SegmindSettings

    def __init__(self, settings: ProviderSettings | None = None, *, instance: str | None = None):
        super().__init__(settings, instance=instance)
        #: the last balance Segmind reported (USD credits); see `credit_ok`
        self.remaining_credits: Decimal | None = None

    # -- credit ------------------------------------------------------------------------
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
        request, who = prepared.request, self.instance
        options: SegmindOptions = prepared.options  # type: ignore[assignment]
        speak = prepared.model == "speak-v2"
        if speak and request.audio is None:
            raise errors.InvalidRequestError(
                "speech_to_video needs an audio track (sent as input_audio): "
                "a public https URL, a local file or bytes",
                field="audio",
                provider=who,
            )
        if speak and not request.prompt.strip():
            raise errors.UnsupportedRequestError(
                f"Segmind requires a prompt for {SPEAK_SLUG} (the scene and its emotion)",
                field="prompt",
                provider=who,
            )
        unused = ("motion",) if speak else ("audio", "quality", "duration_s")
        for name in (*unused, "aspect_ratio", "resolution"):
            if getattr(request, name) is not None:
                slug = prepared.spec.provider_model
                raise errors.UnsupportedRequestError(
                    f"Segmind's {slug} takes no {name}", field=name, provider=who
                )
        if speak and options.check_nsfw is not None:
            raise errors.UnsupportedRequestError(
                f"check_nsfw is a {DOP_SLUG} option", field="options.check_nsfw", provider=who
            )
        if options.output_path is not None and self.settings.mode != "sync":
            raise errors.UnsupportedRequestError(
                'output_path applies only in sync mode (mode = "sync" in '
                f"[providers.{who}]); in queue mode the output is a URL",
                field="options.output_path",
                provider=who,
            )
        if not self.settings.upload_local_files:
            for name in ("image", "audio"):
                media = getattr(request, name)
                if media is not None and not media.is_remote:
                    raise errors.UnsupportedRequestError(
                        "Segmind takes public https URLs; to upload a local file or bytes "
                        "through Segmind storage first, set upload_local_files = true in "
                        f"[providers.{who}]",
                        field=name,
                        provider=who,
                    )
        return prepared

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
            data = {**prepared.provider_data, "uploaded": uploaded}
            prepared = replace(prepared, provider_data=data)
        response = yield self.call(self.build_submit(prepared), Purpose.submit)
        accepted = self.parse_submit(prepared, response)
        if accepted.update is not None and accepted.update.outputs is None:
            update = self.save_video(prepared, accepted.provider_job_id, accepted.update, response)
            accepted = replace(accepted, update=update)
        return accepted

    def build_upload(self, prepared: Prepared, names: list[str]) -> httpx.Request:
        """``POST {storage_url}`` with the inputs as data URLs (reads local files)."""
        data_urls = []
        for name in names:
            media = getattr(prepared.request, name)
            data_urls.append(data_url(media.read_bytes(), media.guess_content_type()))
        return httpx.Request(
            "POST",
            self.settings.storage_url,
            json={"data_urls": data_urls},
            headers={**self._headers(), "accept": "application/json"},
        )

    def parse_upload(self, names: list[str], response: httpx.Response) -> dict[str, str]:
        data = self.json(response)
        urls = data.get("file_urls") if isinstance(data, dict) else None
        if not isinstance(urls, list) or len(urls) != len(names):
            raise self.malformed(response, f"upload answer has no file_urls for {names}")
        return dict(zip(names, (str(url) for url in urls), strict=True))

    def build_submit(self, prepared: Prepared) -> httpx.Request:
        version = "v1" if self.settings.mode == "sync" else "v2"
        path = f"/{version}/{prepared.spec.provider_model}"
        request = httpx.Request(
            "POST", self.url(path), json=self.body(prepared), headers=self._headers()
        )
        if version == "v1":  # the call holds the connection for the whole job
            timeout = httpx.Timeout(self.settings.sync_timeout_s, connect=10.0)
            request.extensions["timeout"] = timeout.as_dict()
        return request

    def body(self, prepared: Prepared) -> dict[str, Any]:
        """The model's JSON body (the same for v1 and v2)."""
        request = prepared.request
        uploaded: Mapping[str, str] = prepared.provider_data.get("uploaded", {})

        def url(name: str) -> str | None:
            media = getattr(request, name)
            return uploaded.get(name) or media.url

        body: dict[str, Any]
        if prepared.model == "speak-v2":
            body = {
                "input_image": url("image"),
                "input_audio": url("audio"),
                "prompt": request.prompt,
                "quality": request.quality or SPEAK_DEFAULT_QUALITY,
                "duration": prepared.duration,
            }
            if request.enhance_prompt is not None:
                body["enhance_prompt"] = request.enhance_prompt
        else:
            options: SegmindOptions = prepared.options  # type: ignore[assignment]
            body = {
                "model": DOP_MODELS[prepared.model],
                "prompt": request.prompt,
                "image_urls": [url("image")],
                "enhance_prompt": bool(request.enhance_prompt),  # required by Segmind
            }
            if request.motion is not None:
                body["motion_id"] = request.motion.id
                body["motion_strength"] = request.motion.strength
            if options.check_nsfw is not None:
                body["check_nsfw"] = options.check_nsfw
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    def parse_submit(self, prepared: Prepared, response: httpx.Response) -> Accepted:
        """Queue mode: the request id and URLs. Sync mode: a finished job; for a video-bytes
        answer the update has no outputs yet (`save_video` writes them)."""
        uploaded = prepared.provider_data.get("uploaded")
        extra = {"uploaded": uploaded} if uploaded else {}
        request_id = self.provider_request_id(response)
        if self.settings.mode == "sync":
            update = self._sync_update(response)
            job_id = request_id or f"sync-{uuid.uuid4().hex}"
            return Accepted(
                job_id,
                JobStatus.succeeded,
                update.raw_status,
                provider_data={"mode": "sync", **extra},
                provider_request_id=request_id,
                update=update,
            )
        data = self.json(response)
        keys = ("request_id", "status_url", "response_url")
        if not isinstance(data, dict) or not all(data.get(key) for key in keys):
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise self.malformed(
                response, f"v2 submit answered without request_id/status_url/response_url: {found}"
            )
        raw = str(data.get("status") or "QUEUED")
        return Accepted(
            str(data["request_id"]),
            self.map_status(raw),
            raw,
            provider_data={
                "mode": "queue",
                "status_url": data["status_url"],
                "response_url": data["response_url"],
                **extra,
            },
            provider_request_id=request_id,
        )

    def _sync_update(self, response: httpx.Response) -> StatusUpdate:
        headers = response.headers
        billing = self._billing(headers.get("x-cost"), headers.get("x-remaining-credits"))
        outputs = None
        if "json" in response.headers.get("content-type", ""):
            data = self.json(response)
            urls = output_urls(data.get("output", data) if isinstance(data, dict) else data)
            if not urls:
                raise self.malformed(response, "v1 answered JSON without an output URL")
            outputs = tuple(Output(url=url, media_type=media_type(url)) for url in urls)
        elif not response.content:
            raise self.malformed(response, "v1 answered 200 with an empty body")
        return StatusUpdate(
            status=JobStatus.succeeded, raw_status="200", outputs=outputs, charged=True, **billing
        )

    def save_video(
        self, prepared: Prepared, job_id: str, update: StatusUpdate, response: httpx.Response
    ) -> StatusUpdate:
        """Sync mode: write the video to the request's output_path, else into output_dir or
        a new temporary file (the caller owns it). The provider's only file write."""
        options: SegmindOptions = prepared.options  # type: ignore[assignment]
        kind = response.headers.get("content-type", "video/mp4").split(";")[0].strip()
        try:
            output = write_video(
                response.content,
                kind,
                options.output_path,
                directory=self.settings.output_dir,
                prefix=f"segmind-{job_id}-",
            )
        except OSError as exc:
            # The job is paid for: keep it on record as succeeded and say what went wrong.
            log.error("%s: could not save the video of %s: %s", self.instance, job_id, exc)
            error = JobError(kind="provider_error", message=f"video received, not saved: {exc}")
            return replace(update, outputs=(), error=error)
        return replace(update, outputs=(output,))

    # -- status --------------------------------------------------------------------------
    def status_flow(self, job: Job) -> Flow[StatusUpdate]:
        if job.provider_data.get("mode") == "sync":
            return StatusUpdate(status=job.status)  # finished at submit; nothing to ask
        response = yield self.call(self.build_status(job), Purpose.read)
        update = self.parse_status(job, response)
        if update.status is JobStatus.succeeded and update.outputs is None:
            response = yield self.call(self.build_result(job), Purpose.read)
            update = self.parse_status(job, response)
        return update

    def build_status(self, job: Job) -> httpx.Request:
        # Rebuilt from base_url rather than the answer's status_url: the key only ever goes
        # to the configured host.
        path = f"/v2/requests/{quote(str(job.provider_job_id), safe='')}/status"
        return httpx.Request("GET", self.url(path), headers=self._headers())

    def build_result(self, job: Job) -> httpx.Request:
        path = f"/v2/requests/{quote(str(job.provider_job_id), safe='')}"
        return httpx.Request("GET", self.url(path), headers=self._headers())

    def parse_status(self, job: Job, response: httpx.Response) -> StatusUpdate:
        """Reads a status body or a result body (FAILED ones arrive with HTTP 422)."""
        if response.status_code == 404:
            return self._expired(job, response)
        data = self.json(response)
        if not isinstance(data, dict):
            raise self.malformed(response, "status answer is not an object")
        raw = data.get("status")
        status = self.map_status(raw)
        metrics = data.get("metrics")
        metrics = metrics if isinstance(metrics, dict) else {}
        if status is JobStatus.failed:
            message = str(data.get("error") or "Segmind reported FAILED")
            error = JobError(kind="generation_failed", message=message)
            return StatusUpdate(status=status, raw_status=raw, error=error, charged=False)
        billing = self._billing(metrics.get("cost"), metrics.get("remaining_credits"))
        if status is not JobStatus.succeeded or "output" not in data:
            return StatusUpdate(status=status, raw_status=raw if isinstance(raw, str) else None)
        urls = output_urls(data["output"])
        if not urls:
            raise self.malformed(response, "COMPLETED result has no output URL")
        expires = job.submitted_at + OUTPUT_LIFETIME if job.submitted_at else None
        outputs = tuple(
            Output(url=url, media_type=media_type(url), expires_at=expires) for url in urls
        )
        return StatusUpdate(
            status=status,
            raw_status=raw,
            outputs=outputs,
            charged=True,
            provider_data={"metrics": metrics},
            **billing,
        )

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
    def estimate(self, prepared: Prepared) -> CostEstimate:
        """From the price table (prices.py), unless config names a price for this cell."""
        model = prepared.model
        quality = prepared.request.quality or SPEAK_DEFAULT_QUALITY
        seconds = prepared.duration or 10
        speak = model == "speak-v2"
        for key in (f"{model}:{quality}:{seconds}", model) if speak else (model,):
            override = self.price_override(key)
            if override is not None:
                return prices.configured(override, key, self.instance)
        return prices.speak_estimate(quality, seconds) if speak else prices.dop_estimate(model)

    def _billing(self, cost: object, balance: object) -> dict[str, Any]:
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
            # FAILED comes with 422: an unreadable 422 to a read is a garbled status answer,
            # worth another read (not a refusal that ends tracking)
            return self.error(errors.MalformedResponseError, response)
        message = self.error_message(response)
        if code == 406:  # out of credit, or a bad Content-Type: told apart by the message
            bad_type = "content type" in message.lower() or "content-type" in message.lower()
            cls: type[errors.ProviderError] = (
                errors.ProviderRejectedError if bad_type else errors.InsufficientCreditsError
            )
            return self.error(cls, response)
        if code == 403 and purpose is Purpose.submit:  # the model is not allowed on this account
            return self.error(errors.ModelUnavailableError, response)
        if code == 405:  # an HTML page: say what was sent instead
            try:
                what = f"{response.request.method} {response.request.url.path}"
            except RuntimeError:  # a response built without its request
                what = "the request"
            return self.error(errors.ProviderError, response, f"{what}: method not allowed")
        if code == 429:
            reset = rate_limit_reset(response)
            if reset is not None:
                return self.error(errors.RateLimitError, response, retry_after=reset)
        return super().classify(response, purpose)

    def error_message(self, response: httpx.Response) -> str:
        body = json_object(response)
        if body.get("error_description"):  # {"error": "invalid_token", "error_description": ...}
            return f"{body.get('error')}: {body['error_description']}"
        return super().error_message(response)

    # -- plumbing ------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key()}

    @classmethod
    def emulator(cls, **kwargs: Any) -> Emulator:
        from .emulator import SegmindEmulator

        return SegmindEmulator(**kwargs)

    @classmethod
    def emulator_settings(cls, base_url: str) -> dict[str, Any]:
        settings = super().emulator_settings(base_url)
        if base_url.rstrip("/") != cls.default_base_url:  # loopback: storage is there too
            settings["storage_url"] = f"{base_url.rstrip('/')}/upload-asset"
        return settings
