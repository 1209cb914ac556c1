"""The Higgsfield platform adapter (sans-I/O), and its marketplace-listing mode.

Wire facts: reference/providers.md §1 (platform) and §5 (listing, seed 004); the official
SDK ``higgsfield-client`` 0.2.0 agrees on auth, paths and the status strings.

- Platform: ``Authorization: Key {id}:{secret}``; ``POST /{model_id}`` (flat JSON,
  ``Idempotency-Key``, optional ``Hf-Expires-After`` and ``?hf_webhook=``);
  ``GET /requests/{id}/status``; ``POST /requests/{id}/cancel`` (202, or 400 once started);
  Speak v2 only on the legacy ``POST /v1/speak/higgsfield`` -> JobSet, polled at
  ``GET /v1/job-sets/{id}``. Which surface a job is on is kept in ``Job.provider_data``.
- Marketplace (``mode = "marketplace"``): the same paths on a RapidAPI-style host with
  ``X-RapidAPI-Key``/``X-RapidAPI-Host``; status and cancel URLs are always rebuilt on that
  host; proxy refusals map to authentication and rate-limit errors. No uploads, webhooks or
  Speak there (the listing shows none), and no submit replay (key pass-through unverified).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import Field, SecretStr

import videogw
from videogw import (
    Accepted,
    Capabilities,
    CostEstimate,
    Flow,
    Job,
    JobError,
    JobStatus,
    Media,
    Prepared,
    Provider,
    ProviderSettings,
    Purpose,
    StatusUpdate,
    errors,
)
from videogw.errors import (
    ConfigurationError,
    MissingCredentialsError,
    UnsupportedOperationError,
    UnsupportedRequestError,
    WebhookRejectedError,
)
from videogw.provider import json_loads

from .models import (
    MARKETPLACE_MODELS,
    MODELS,
    SPEAK_PATH,
    HiggsfieldOptions,
    build_body,
    check_request,
    content_type_of,
    family,
)
from .prices import USD_PER_CREDIT, table_estimate
from .webhooks import SeenIds, verify
from .wire import (
    STATUS_MAP,
    Unreadable,
    job_set_update,
    parse_decimal,
    request_update,
    retry_after,
)

__all__ = ["HiggsfieldProvider", "HiggsfieldSettings"]

log = logging.getLogger("videogw.higgsfield")

TRUSTED_HOSTS = frozenset({"api.higgsfield.ai", "platform.higgsfield.ai"})
MARKETPLACE_BASE_URL = "https://higgsfield-api.p.rapidapi.com"  # slug unverified (§5.2)
EMULATOR_KEY = "emulator-id:emulator-secret"
EMULATOR_WEBHOOK_SECRET = "whsec_dmlkZW9ndy1lbXVsYXRvci10ZXN0LXNlY3JldA=="  # test only
_CONTENT_REFUSED = re.compile(r"nsfw|moderation|inappropriate|unsafe content", re.I)


class HiggsfieldSettings(ProviderSettings):
    """``[providers.higgsfield]`` (or any instance with ``plugin = "higgsfield"``).

    Credentials come from the environment: ``HF_KEY`` ("id:secret") or ``HF_API_KEY`` +
    ``HF_API_SECRET`` (platform); ``RAPIDAPI_KEY`` (marketplace). ``api_key_env`` and
    ``api_secret_env`` name other variables."""

    mode: Literal["platform", "marketplace"] = "platform"
    api_secret: SecretStr | None = None
    api_secret_env: str | None = None
    rapidapi_host: str | None = None  # default: the host of base_url
    webhook_secret: SecretStr | None = None  # whsec_...; several, space-separated, in rotation
    webhook_secret_env: str = "HF_WEBHOOK_SECRET"
    allow_unsigned_webhooks: bool = False  # only while no secret is configured
    use_estimate_endpoint: bool = False  # ask POST /estimate/{model} instead of the table
    usd_per_credit: Decimal = Field(default=USD_PER_CREDIT, gt=0)
    expires_after_s: int | None = Field(default=None, ge=3600, le=604_800)  # Hf-Expires-After


class HiggsfieldProvider(Provider):
    name = "higgsfield"
    display_name = "Higgsfield platform"
    default_base_url = "https://api.higgsfield.ai"
    api_key_envs = ("HF_KEY", "HF_API_KEY")
    request_id_headers = ("x-correlation-id", "x-request-id")
    Settings = HiggsfieldSettings
    Options = HiggsfieldOptions
    catalog_kinds = ("motions",)
    STATUS_MAP = STATUS_MAP
    CAPABILITIES = Capabilities(models=MODELS, cancel=True, webhooks=True, idempotency=True)
    settings: HiggsfieldSettings

    def __init__(self, settings: ProviderSettings | None = None, *, instance: str | None = None):
        super().__init__(settings, instance=instance)
        self.seen_webhooks = SeenIds()  # replay protection; the receiver dedupes as well
        self._capabilities = self.CAPABILITIES
        if self.marketplace:
            models = {
                name: spec.model_copy(update={"local_files": False})
                for name, spec in self.CAPABILITIES.models.items()
                if name in MARKETPLACE_MODELS
            }
            self._capabilities = self.CAPABILITIES.model_copy(
                update={"models": models, "webhooks": False, "idempotency": False}
            )

    # -- configuration ---------------------------------------------------------------------
    @property
    def marketplace(self) -> bool:
        return self.settings.mode == "marketplace"

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def base_url(self) -> str:
        if self.marketplace and not self.settings.base_url:
            return MARKETPLACE_BASE_URL
        return super().base_url

    @property
    def rapidapi_host(self) -> str:
        return self.settings.rapidapi_host or urlsplit(self.base_url).hostname or ""

    def _env(self, value: SecretStr | None, env: str | None, defaults: tuple[str, ...]) -> str:
        if value is not None:
            return value.get_secret_value()
        for name in (env,) if env else defaults:
            found = os.environ.get(name)
            if found:
                return found
        return ""

    def api_key(self) -> str:
        """``id:secret`` on the platform; the RapidAPI key in marketplace mode."""
        s = self.settings
        if self.marketplace:
            key = self._env(s.api_key, s.api_key_env, ("RAPIDAPI_KEY",))
            if not key:
                raise MissingCredentialsError(self.instance, (s.api_key_env or "RAPIDAPI_KEY",))
            return key
        key = self._env(s.api_key, s.api_key_env, self.api_key_envs)
        if not key:
            raise MissingCredentialsError(
                self.instance, (s.api_key_env or "HF_KEY", "HF_API_KEY + HF_API_SECRET")
            )
        if ":" in key:
            return key
        secret = self._env(s.api_secret, s.api_secret_env, ("HF_API_SECRET",))
        if not secret:
            raise ConfigurationError(
                f"{self.instance}: the API key is only a key id; give the secret too "
                f"(set {s.api_secret_env or 'HF_API_SECRET'}, or HF_KEY as 'id:secret')"
            )
        return f"{key}:{secret}"

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
        raw = self._env(self.settings.webhook_secret, self.settings.webhook_secret_env, ())
        return raw.replace(",", " ").split()

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": f"videogw/{videogw.__version__}"}
        if self.marketplace:
            headers |= {"X-RapidAPI-Key": self.api_key(), "X-RapidAPI-Host": self.rapidapi_host}
        else:
            headers["Authorization"] = f"Key {self.api_key()}"
        return headers

    def _follow(self, url: object, request_id: str, kind: str) -> str:
        """`url` from an answer if its host may be trusted with our key, else the path
        rebuilt on the configured base (always so in marketplace mode)."""
        rebuilt = self.url(f"requests/{quote(request_id, safe='')}/{kind}")
        if self.marketplace or not isinstance(url, str) or not url or not url.isprintable():
            return rebuilt
        given, base = urlsplit(url), urlsplit(self.base_url)
        same_as_base = (given.scheme, given.netloc) == (base.scheme, base.netloc)
        trusted = given.scheme == "https" and given.netloc in TRUSTED_HOSTS
        if same_as_base or trusted:
            return url
        log.warning("%s: ignoring %s_url on untrusted host %r", self.instance, kind, given.netloc)
        return rebuilt

    # -- preparing -----------------------------------------------------------------------
    def validate(self, prepared: Prepared) -> Prepared:
        check_request(prepared, self.instance)
        if self.marketplace and prepared.request.webhook_url is not None:
            raise UnsupportedRequestError(
                "the marketplace listing documents no webhook pass-through; poll instead",
                field="webhook_url",
                provider=self.instance,
            )
        surface = "v1" if family(prepared.model) == "speak" else "v2"
        return dataclasses.replace(prepared, provider_data={"surface": surface})

    # -- submit --------------------------------------------------------------------------
    def submit_flow(self, prepared: Prepared) -> Flow[Accepted]:
        uploaded: dict[str, str] = {}
        for name in ("image", "end_image", "audio"):
            media = getattr(prepared.request, name)
            if media is not None and not media.is_remote:
                uploaded[name] = yield from self.upload_flow(media)
        # Nothing documents that the legacy v1 surface (Speak) honours Idempotency-Key, so a
        # dropped v1 submit must stay an unknown outcome rather than be replayed.
        replayable = False if prepared.spec.provider_model == SPEAK_PATH else None
        response = yield self.call(
            self.build_submit(prepared, uploaded), Purpose.submit, replayable=replayable
        )
        return self.parse_submit(prepared, response)

    def upload_flow(self, media: Media) -> Flow[str]:
        """Presigned upload: ask for a slot, PUT the bytes with every ``upload_headers``
        entry (they are signed) and no Higgsfield auth; return the public URL."""
        kind = content_type_of(media)
        ask = httpx.Request(
            "POST",
            self.url("files/generate-upload-url"),
            json={"content_type": kind},
            headers=self._headers(),
        )
        response = yield self.call(ask, Purpose.upload)
        data = self.json(response)
        if not isinstance(data, dict):
            raise self.malformed(response, "upload slot answer is not an object")
        public_url, upload_url = data.get("public_url"), data.get("upload_url")
        if not isinstance(public_url, str) or not isinstance(upload_url, str):
            raise self.malformed(response, "upload slot answer lacks public_url/upload_url")
        scheme = urlsplit(upload_url).scheme
        if scheme != "https" and urlsplit(self.base_url).scheme != scheme:
            raise self.malformed(response, f"upload_url is not https ({scheme or 'no scheme'})")
        headers = data.get("upload_headers") or {"Content-Type": kind}
        if not isinstance(headers, dict):
            raise self.malformed(response, "upload_headers is not an object")
        put = httpx.Request(
            "PUT",
            upload_url,
            content=media.read_bytes(),
            headers={str(k): str(v) for k, v in headers.items()},
        )
        yield self.call(put, Purpose.upload)
        return public_url

    def build_submit(
        self, prepared: Prepared, uploaded: Mapping[str, str] | None = None
    ) -> httpx.Request:
        request = prepared.request
        v2 = prepared.provider_data.get("surface") != "v1"
        headers = self._headers() | {"Idempotency-Key": request.idempotency_key}
        params: dict[str, str] = {}
        if v2:
            options = prepared.options
            assert isinstance(options, HiggsfieldOptions)
            expires = options.hf_expires_after or self.settings.expires_after_s
            if expires is not None:
                headers["Hf-Expires-After"] = str(expires)
            if request.webhook_url is not None:
                params["hf_webhook"] = request.webhook_url
        # The legacy surface registers webhooks in the body with a bearer secret; Speak jobs
        # are polled instead (the poller covers them).
        return httpx.Request(
            "POST",
            self.url(prepared.spec.provider_model),
            params=params,
            json=build_body(prepared, uploaded),
            headers=headers,
        )

    def parse_submit(self, prepared: Prepared, response: httpx.Response) -> Accepted:
        data = self.json(response)
        request_id = self.provider_request_id(response)
        if prepared.provider_data.get("surface") == "v1":
            job_set = data.get("id") if isinstance(data, dict) else None
            if not isinstance(job_set, str) or not job_set:
                raise self.malformed(response, "Speak answer has no job set id")
            update = self._jobset_update(data, response)
            return Accepted(
                job_set,
                update.status if not update.status.is_terminal else JobStatus.queued,
                update.raw_status,
                provider_data={"status_url": self._jobset_url(job_set)},
                provider_request_id=request_id,
            )
        rid = data.get("request_id") if isinstance(data, dict) else None
        if not isinstance(rid, str) or not rid:
            raise self.malformed(response, "submit answer has no request_id")
        raw = data.get("status")
        status = self.map_status(raw)
        return Accepted(
            rid,
            status if status in (JobStatus.queued, JobStatus.running) else JobStatus.queued,
            raw if isinstance(raw, str) else None,
            provider_data={
                "status_url": self._follow(data.get("status_url"), rid, "status"),
                "cancel_url": self._follow(data.get("cancel_url"), rid, "cancel"),
            },
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
        return httpx.Request("GET", url, headers=self._headers())

    def parse_status(self, job: Job, response: httpx.Response) -> StatusUpdate:
        data = self.json(response)
        if job.provider_data.get("surface") == "v1":
            return self._jobset_update(data, response)
        return self.update_from(data, response)

    def update_from(self, data: Any, response: httpx.Response | None = None) -> StatusUpdate:
        """A status answer (or webhook body) as a `StatusUpdate`."""
        try:
            update = request_update(data)
        except Unreadable as exc:
            raise self.malformed(response, str(exc)) from None
        if update.status is JobStatus.succeeded and not update.outputs:
            log.warning("%s: completed without video.url or images[].url", self.instance)
        return update

    def _jobset_update(self, data: Any, response: httpx.Response) -> StatusUpdate:
        try:
            return job_set_update(data)
        except Unreadable as exc:
            raise self.malformed(response, str(exc)) from None

    # -- cancel --------------------------------------------------------------------------
    def cancel_flow(self, job: Job) -> Flow[StatusUpdate]:
        if job.provider_data.get("surface") == "v1":
            raise UnsupportedOperationError(
                f"{self.instance}: Speak jobs run on the legacy job-set API, which offers no "
                f"cancel; job {job.id} keeps running there and videogw keeps tracking it"
            )
        return (yield from super().cancel_flow(job))

    def build_cancel(self, job: Job) -> httpx.Request:
        job_id = str(job.provider_job_id)
        url = self._follow(job.provider_data.get("cancel_url"), job_id, "cancel")
        return httpx.Request("POST", url, headers=self._headers())

    def parse_cancel(self, job: Job, response: httpx.Response) -> StatusUpdate:
        return StatusUpdate(
            status=JobStatus.cancelled,
            raw_status="canceled",
            error=JobError(kind="cancelled", message="cancelled while queued (refunded)"),
            charged=False,
        )

    # -- errors --------------------------------------------------------------------------
    def classify(self, response: httpx.Response, purpose: Purpose) -> errors.ProviderError | None:
        code = response.status_code
        if code < 400:
            return None
        if purpose is Purpose.upload and response.request.method == "PUT":
            # the storage host refused the bytes: nothing to do with our credentials
            cls = errors.ServerError if code >= 500 else errors.ProviderRejectedError
            return self.error(cls, response, f"upload refused by storage: HTTP {code}")
        if self.marketplace and self._from_proxy(response):
            if code in (401, 403):
                return self.error(errors.AuthenticationError, response)
            if code == 429:
                return self.error(
                    errors.RateLimitError, response, retry_after=retry_after(response)
                )
        if code == 400:
            message = self.error_message(response)
            if purpose is Purpose.cancel:
                return self.error(errors.NotCancellableError, response)
            if "concurren" in message.lower():
                return self.error(errors.CapacityError, response)
            if _CONTENT_REFUSED.search(message):
                return self.error(errors.ContentRefusedError, response)
        if code == 403:  # Higgsfield answers 403 for an empty credit balance
            return self.error(errors.InsufficientCreditsError, response)
        return super().classify(response, purpose)

    def _from_proxy(self, response: httpx.Response) -> bool:
        if response.headers.get("x-rapidapi-proxy-response", "").lower() == "true":
            return True
        try:
            body = json_loads(response.content)
        except ValueError:
            return False
        return isinstance(body, dict) and "message" in body and "detail" not in body

    # -- cost ----------------------------------------------------------------------------
    def estimate(self, prepared: Prepared) -> CostEstimate:
        if self.marketplace:
            return CostEstimate(
                amount=Decimal(1),
                currency="units",
                basis="one call against the marketplace plan's quota (plans BASIC free, PRO "
                "$29.99, ULTRA $79.99, MEGA $149.99 a month; quotas not published)",
                source="seed 004 (API directory listing), reference/providers.md §5",
            )
        found = table_estimate(
            prepared,
            override=self.price_override(prepared.model),
            usd_per_credit=self.settings.usd_per_credit,
        )
        if found is None:
            raise UnsupportedOperationError(
                f"{self.instance}: no credit figure for {prepared.model}; set "
                f"use_estimate_endpoint = true or prices.{prepared.model} in the config"
            )
        return found

    def estimate_flow(self, prepared: Prepared) -> Flow[CostEstimate]:
        request = prepared.request
        local = any(m is not None and not m.is_remote for m in (request.image, request.end_image))
        if (
            not self.settings.use_estimate_endpoint
            or self.marketplace
            or prepared.provider_data.get("surface") == "v1"
            or local  # the estimate would need an upload first; the table answers instead
        ):
            return self.estimate(prepared)
        path = prepared.spec.provider_model
        ask = httpx.Request(
            "POST", self.url(f"estimate/{path}"), json=build_body(prepared), headers=self._headers()
        )
        response = yield self.call(ask, Purpose.read)
        data = self.json(response)
        credits = parse_decimal(data.get("credits")) if isinstance(data, dict) else None
        if credits is None:
            raise self.malformed(response, "estimate answer has no credits figure")
        return CostEstimate(
            amount=credits,
            currency="credits",
            usd=parse_decimal(data.get("usd")),
            basis=f"Higgsfield's own estimate for this request on {path} (account-specific)",
            source=f"POST {self.base_url}/estimate/{path}",
            as_of=date.today(),
            origin="provider",
        )

    # -- catalog -------------------------------------------------------------------------
    def catalog_flow(self, kind: str) -> Flow[list[dict[str, Any]]]:
        if kind != "motions":
            raise UnsupportedOperationError(f"{self.instance} has no {kind!r} catalog (motions)")
        ask = httpx.Request("GET", self.url("v1/motions"), headers=self._headers())
        response = yield self.call(ask, Purpose.read)
        return self.parse_motions(response)

    def motions_flow(self) -> Flow[list[dict[str, Any]]]:
        """DoP motion presets ``{id, name, description, preview_url}`` (``GET /v1/motions``)."""
        return self.catalog_flow("motions")

    def parse_motions(self, response: httpx.Response) -> list[dict[str, Any]]:
        data = self.json(response)
        if isinstance(data, dict):  # tolerate an envelope
            data = next((v for v in data.values() if isinstance(v, list)), None)
        if not isinstance(data, list):
            raise self.malformed(response, "motions answer is not a list")
        return [item for item in data if isinstance(item, dict) and "id" in item]

    # -- webhooks ------------------------------------------------------------------------
    def parse_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        job: Job | None = None,
        query: Mapping[str, str] | None = None,
    ) -> StatusUpdate:
        """Verify a delivery (Standard Webhooks) and read it like a status answer.

        Rejected (`WebhookRejectedError`): bad or missing signature, a timestamp outside
        ±5 minutes, a ``webhook-id`` already accepted by this provider instance, and any
        unsigned delivery unless no secret is configured and ``allow_unsigned_webhooks``."""
        lowered = {k.lower(): v for k, v in headers.items()}
        secrets = self.webhook_secrets()
        if secrets:
            msg_id: str | None = verify(secrets, lowered, body)
        elif self.settings.allow_unsigned_webhooks:
            msg_id = lowered.get("webhook-id")
        else:
            raise WebhookRejectedError(
                f"{self.instance}: no webhook secret configured (set "
                f"{self.settings.webhook_secret_env}); unsigned deliveries are refused unless "
                "allow_unsigned_webhooks = true"
            )
        try:
            data = json_loads(body)
            update = self.update_from(data)
        except (ValueError, UnicodeDecodeError, errors.MalformedResponseError) as exc:
            raise WebhookRejectedError(f"{self.instance}: unreadable webhook body: {exc}") from None
        request_id = data.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise WebhookRejectedError(f"{self.instance}: webhook body has no request_id")
        if msg_id is not None and not self.seen_webhooks.add(msg_id):
            raise WebhookRejectedError(f"{self.instance}: webhook-id {msg_id!r} was replayed")
        return dataclasses.replace(
            update,
            provider_job_id=request_id,
            dedupe_key=msg_id or f"{request_id}:{update.raw_status}",
        )

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
