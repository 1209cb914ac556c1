"""The Higgsfield adapter (sans-I/O): the platform, or its marketplace listing by mode.

Wire facts and their sources: docs/providers/higgsfield.md. The data is in `tables`
(statuses, charges, error rules), `models` (fields per model, bodies) and `prices`; what
differs between the platform and the listing is in `modes`. This module reads answers.

- ``POST /{model path}`` (flat JSON, ``Idempotency-Key``, ``Hf-Expires-After``,
  ``?hf_webhook=``); ``GET /requests/{id}/status``; ``POST /requests/{id}/cancel``;
  ``DELETE /requests/{id}``; ``POST /estimate/{model path}``; ``GET /v1/motions``.
- Speak v2 on the legacy ``POST /v1/speak/higgsfield`` -> a JobSet polled at
  ``GET /v1/job-sets/{id}``. Which surface a job is on is kept in ``Job.provider_data``.
- Any other model by its path when pinned (``higgsfield:<model path>``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

import videogw
from videogw import (
    Accepted,
    Capabilities,
    CostEstimate,
    Flow,
    GenerationRequest,
    Job,
    JobError,
    JobStatus,
    ModelSpec,
    Prepared,
    Provider,
    ProviderSettings,
    Purpose,
    StatusUpdate,
    errors,
)
from videogw.errors import UnsupportedOperationError, UnsupportedRequestError
from videogw.tables import first_rule
from videogw.wire import request as http_request

from . import prices
from .config import HiggsfieldSettings
from .models import (
    MODELS,
    SPEAK_PATH,
    HiggsfieldOptions,
    build_body,
    check_request,
    family,
    path_spec,
)
from .modes import MODES, Platform, secret
from .side_requests import catalog_flow, upload_flow
from .tables import ERRORS, STATUSES
from .webhooks import read_delivery
from .wire import (
    EMULATOR_KEY,
    EMULATOR_WEBHOOK_SECRET,
    Unreadable,
    job_set_update,
    motions_list,
    request_update,
)

__all__ = ["HiggsfieldProvider", "HiggsfieldSettings"]

log = logging.getLogger("videogw.higgsfield")
T = TypeVar("T")


class HiggsfieldProvider(Provider):
    name = "higgsfield"
    display_name = "Higgsfield platform"
    default_base_url = "https://api.higgsfield.ai"
    api_key_envs = ("HF_KEY", "HF_API_KEY")
    request_id_headers = ("x-correlation-id", "x-request-id")
    Settings = HiggsfieldSettings
    Options = HiggsfieldOptions
    catalog_kinds = ("motions", "models")
    STATUS_MAP = STATUSES.status_map
    CAPABILITIES = Capabilities(models=MODELS, cancel=True, webhooks=True, idempotency=True)
    settings: HiggsfieldSettings

    def __init__(self, settings: ProviderSettings | None = None, *, instance: str | None = None):
        super().__init__(settings, instance=instance)
        self.mode: Platform = MODES[self.settings.mode](self)
        self._capabilities = self.mode.capabilities(self.CAPABILITIES)

    @property
    def marketplace(self) -> bool:
        return self.mode.name == "marketplace"

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def base_url(self) -> str:
        fallback = None if self.settings.base_url else self.mode.default_base_url()
        return fallback or super().base_url

    def api_key(self) -> str:
        """``id:secret`` on the platform; the RapidAPI key in marketplace mode."""
        return self.mode.api_key()

    def secrets(self) -> list[tuple[str, str]]:
        """The settings' secrets, plus the variables read by default (HF_API_SECRET, and
        RAPIDAPI_KEY in marketplace mode)."""
        found = super().secrets()
        for var in ("HF_API_SECRET", "RAPIDAPI_KEY"):
            value = os.environ.get(var)
            if value:
                found.append((f"${var}", value))
        return found

    def webhook_secrets(self) -> list[str]:
        s = self.settings
        return secret(s.webhook_secret, s.webhook_secret_env, ()).replace(",", " ").split()

    def headers(self) -> dict[str, str]:
        return {"User-Agent": f"videogw/{videogw.__version__}", **self.mode.headers()}

    def _follow(self, url: object, request_id: str, kind: str) -> str:
        """`url` from an answer if the mode trusts its host with our key, else the path
        rebuilt on the configured base."""
        if self.mode.follow(url):
            return str(url)
        if isinstance(url, str) and url and not self.marketplace:
            log.warning("%s: ignoring %s_url on an untrusted host: %s", self.instance, kind, url)
        return self.url(f"requests/{quote(request_id, safe='')}/{kind}")

    # -- preparing -----------------------------------------------------------------------
    def resolve_model(self, request: GenerationRequest) -> tuple[str, ModelSpec]:
        """A neutral id or a known path; pinned here (``higgsfield:<model path>``), any
        other model path Higgsfield serves, its arguments passed through."""
        try:
            return super().resolve_model(request)
        except UnsupportedRequestError:
            spec = path_spec(request.model_name, request)
            if spec is None or request.pinned_provider != self.instance:
                raise
            return request.model_name, spec

    def validate(self, prepared: Prepared) -> Prepared:
        check_request(prepared, self.instance)
        self.mode.validate(prepared)
        surface = "v1" if family(prepared.model) == "speak" else "v2"
        return dataclasses.replace(prepared, provider_data={"surface": surface})

    # -- submit --------------------------------------------------------------------------
    def submit_flow(self, prepared: Prepared) -> Flow[Accepted]:
        prepared = yield from self.motion_flow(prepared)
        uploaded: dict[str, str] = {}
        for name in ("image", "end_image", "audio"):
            media = getattr(prepared.request, name)
            if media is not None and not media.is_remote:
                uploaded[name] = yield from upload_flow(self, media)
        # Nothing documents that the legacy v1 surface (Speak) honours Idempotency-Key, so a
        # dropped v1 submit must stay an unknown outcome rather than be replayed.
        replayable = False if prepared.spec.provider_model == SPEAK_PATH else None
        request = self.build_submit(prepared, uploaded)
        response = yield self.call(request, Purpose.submit, replayable=replayable)
        return self.parse_submit(prepared, response)

    def build_submit(
        self, prepared: Prepared, uploaded: Mapping[str, str] | None = None
    ) -> httpx.Request:
        request, options = prepared.request, prepared.options
        assert isinstance(options, HiggsfieldOptions)
        headers = self.headers() | {"Idempotency-Key": request.idempotency_key}
        params: dict[str, str] = {}
        if prepared.provider_data.get("surface") != "v1":  # Speak (v1) is polled instead
            expires = options.hf_expires_after or self.settings.expires_after_s
            if expires is not None:
                headers["Hf-Expires-After"] = str(expires)
            if request.webhook_url is not None:
                params["hf_webhook"] = request.webhook_url
        url = self.http_url(prepared.spec.provider_model)
        body = build_body(prepared, uploaded)
        # no params: None, not {} (an empty dict makes httpx rebuild the parsed URL)
        return http_request("POST", url, params=params or None, json=body, headers=headers)

    def parse_submit(self, prepared: Prepared, response: httpx.Response) -> Accepted:
        data = self.json(response)
        request_id = self.provider_request_id(response)
        if prepared.provider_data.get("surface") == "v1":
            job_set = data.get("id") if isinstance(data, dict) else None
            if not isinstance(job_set, str) or not job_set:
                raise self.malformed(response, "Speak answer has no job set id")
            update = self.read(job_set_update, data, response)
            status = update.status if not update.status.is_terminal else JobStatus.queued
            urls = {"status_url": self._jobset_url(job_set)}
            return Accepted(job_set, status, update.raw_status, urls, request_id)
        rid = data.get("request_id") if isinstance(data, dict) else None
        if not isinstance(rid, str) or not rid:
            raise self.malformed(response, "submit answer has no request_id")
        raw = data.get("status")
        status = self.map_status(raw)
        urls = {
            f"{k}_url": self._follow(data.get(f"{k}_url"), rid, k) for k in ("status", "cancel")
        }
        return Accepted(
            rid,
            status if status in (JobStatus.queued, JobStatus.running) else JobStatus.queued,
            raw if isinstance(raw, str) else None,
            provider_data=urls,
            provider_request_id=request_id,
        )

    # -- status --------------------------------------------------------------------------
    def _jobset_url(self, job_set: str) -> str:
        return self.url(f"v1/job-sets/{quote(job_set, safe='')}")

    def build_status(self, job: Job) -> httpx.Request:
        job_id = str(job.provider_job_id)
        if job.provider_data.get("surface") == "v1":
            url = self._jobset_url(job_id)
        else:
            url = self._follow(job.provider_data.get("status_url"), job_id, "status")
        return http_request("GET", url, headers=self.headers())

    def parse_status(self, job: Job, response: httpx.Response) -> StatusUpdate:
        data = self.json(response)
        if job.provider_data.get("surface") == "v1":
            return self.read(job_set_update, data, response)
        return self.update_from(data, response)

    def update_from(self, data: Any, response: httpx.Response | None = None) -> StatusUpdate:
        """A status answer (or webhook body) as a `StatusUpdate`."""
        update = self.read(request_update, data, response)
        if update.status is JobStatus.succeeded and not update.outputs:
            log.warning("%s: completed without video.url or images[].url", self.instance)
        return update

    def read(self, reader: Callable[[Any], T], data: Any, response: httpx.Response | None) -> T:
        try:
            return reader(data)
        except Unreadable as exc:
            raise self.malformed(response, str(exc)) from None

    # -- cancel and delete ---------------------------------------------------------------
    def cancel_flow(self, job: Job) -> Flow[StatusUpdate]:
        if job.provider_data.get("surface") == "v1":
            raise UnsupportedOperationError(
                f"{self.instance}: Speak jobs run on the legacy job-set API, which offers no "
                f"cancel; job {job.id} keeps running there and videogw keeps tracking it"
            )
        return (yield from super().cancel_flow(job))

    def build_cancel(self, job: Job) -> httpx.Request:
        url = self._follow(job.provider_data.get("cancel_url"), str(job.provider_job_id), "cancel")
        return http_request("POST", url, headers=self.headers())

    def parse_cancel(self, job: Job, response: httpx.Response) -> StatusUpdate:
        error = JobError(kind="cancelled", message="cancelled while queued (refunded)")
        return StatusUpdate(JobStatus.cancelled, raw_status="canceled", error=error, charged=False)

    def delete_flow(self, job: Job) -> Flow[None]:
        """``DELETE /requests/{id}``: drop a finished request's files, prompt and params now
        (the billing record stays; repeating it answers the same; no webhooks after)."""
        if job.provider_data.get("surface") == "v1" or not job.provider_job_id:
            raise UnsupportedOperationError(f"{self.instance}: only v2 requests can be deleted")
        url = self.url(f"requests/{quote(str(job.provider_job_id), safe='')}")
        yield self.call(http_request("DELETE", url, headers=self.headers()), Purpose.read)

    # -- errors --------------------------------------------------------------------------
    def classify(self, response: httpx.Response, purpose: Purpose) -> errors.ProviderError | None:
        code = response.status_code
        if code < 400:
            return None
        if purpose is Purpose.upload and response.request.method == "PUT":
            # the storage host refused the bytes: nothing to do with our credentials
            cls = errors.ServerError if code >= 500 else errors.ProviderRejectedError
            return self.error(cls, response, f"upload refused by storage: HTTP {code}")
        proxied = self.mode.classify(response, purpose)
        if proxied is not None:
            return proxied
        found = first_rule(ERRORS, code, purpose, self.error_message(response))
        return self.error(found, response) if found else super().classify(response, purpose)

    # -- cost (prices.py) ----------------------------------------------------------------
    def estimate(self, prepared: Prepared) -> CostEstimate:
        return prices.estimate(self, prepared)

    def estimate_flow(self, prepared: Prepared) -> Flow[CostEstimate]:
        return (yield from prices.estimate_flow(self, prepared))

    # -- catalog -------------------------------------------------------------------------
    def catalog_flow(self, kind: str) -> Flow[list[dict[str, Any]]]:
        """``motions`` (``GET /v1/motions``) or ``models`` (``GET /models``)."""
        return (yield from catalog_flow(self, kind))

    def motions_flow(self) -> Flow[list[dict[str, Any]]]:
        """DoP motion presets ``{id, name, description, preview_url}`` (``GET /v1/motions``)."""
        return self.catalog_flow("motions")

    def parse_motions(self, response: httpx.Response) -> list[dict[str, Any]]:
        return self.read(motions_list, self.json(response), response)

    # -- webhooks (webhooks.py) -----------------------------------------------------------
    def parse_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        job: Job | None = None,
        query: Mapping[str, str] | None = None,
    ) -> StatusUpdate:
        """Verify a delivery (Standard Webhooks) and read it like a status answer."""
        return read_delivery(self, headers, body)

    # -- emulator ------------------------------------------------------------------------
    @classmethod
    def emulator(cls, **kwargs: Any) -> Any:
        from .emulator import HiggsfieldEmulator

        return HiggsfieldEmulator(**kwargs)

    @classmethod
    def emulator_settings(cls, base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url,
            "api_key": EMULATOR_KEY,
            "webhook_secret": EMULATOR_WEBHOOK_SECRET,
        }
