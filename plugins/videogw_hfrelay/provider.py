"""Adapter for the "/higgsfield/*" reseller gateway family (seed 000).

API: YutoAI's guide docs.yutoai.net/en/api/higgsfield.html and its API pages (generate,
speech, ads, feed, tpl/*); OpenAI-HK and other relays serve the same shape
(docs/providers/hfrelay.md). Bearer auth; the family has no default host.

Endpoints: ``POST /higgsfield/generate`` (DoP lite|standard|turbo), ``POST
/higgsfield/speech`` (Speak; the guide says ``/speak``, so the path is a setting),
``POST /higgsfield/ads``, ``POST /higgsfield/feed/{task_id}`` (status), ``GET
/higgsfield/tpl/{motions,avatar-presets,voices,sounds}`` (catalogs). No cancel, no
webhooks, no idempotency key.

Raw statuses (``jobs[].status`` of the feed answer): ``queued``, ``in_progress``,
``completed`` are documented; ``failed``, ``nsfw`` and ``canceled`` are the upstream
Higgsfield job-set values, mapped defensively [inf]; anything else is ``unknown``.
Whether a relay refunds a failed job is not documented, so ``charged`` stays unknown.

[inf] marks inferences that a live call should confirm.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from videogw import (
    Accepted,
    Capabilities,
    CostEstimate,
    Job,
    JobError,
    JobStatus,
    Media,
    Prepared,
    Provider,
    StatusUpdate,
    errors,
)
from videogw.motions import CATALOGUE
from videogw.provider import Flow, Purpose
from videogw.tables import first_rule
from videogw.wire import request as http_request

from . import prices
from .checks import check
from .checks import images as given_images
from .config import ALL_ENDPOINTS, KNOWN_RELAYS, HfRelayOptions, HfRelaySettings, Relay, Speak
from .tables import CAPABILITIES, ENDPOINT, ERRORS, GENERATE, SPEECH, STATUSES
from .wire import one_api_error, output

if TYPE_CHECKING:
    from videogw.emulator import Emulator

__all__ = ["HfRelayProvider"]


class HfRelayProvider(Provider):
    name = "hfrelay"
    display_name = "Higgsfield relay gateways (YutoAI, OpenAI-HK, GPTProto, ...)"
    default_base_url = None
    api_key_envs = ("HFRELAY_API_KEY",)
    request_id_headers = ("x-request-id", "x-oneapi-request-id")  # one-api relays [inf]
    Settings = HfRelaySettings
    Options = HfRelayOptions
    settings: HfRelaySettings
    STATUS_MAP = STATUSES.status_map
    CAPABILITIES = CAPABILITIES
    catalog_kinds = ("motions", "avatar-presets", "voices", "sounds")

    # -- configuration ---------------------------------------------------------------
    @property
    def relay(self) -> Relay | None:
        return KNOWN_RELAYS.get(self.settings.relay or "")

    @property
    def capabilities(self) -> Capabilities:
        """Only the models of the endpoints this relay serves (OpenAI-HK: generate only)."""
        served = self.relay.endpoints if self.relay else ALL_ENDPOINTS
        if served == ALL_ENDPOINTS:
            return self.CAPABILITIES
        models = {
            name: spec
            for name, spec in self.CAPABILITIES.models.items()
            if ENDPOINT[spec.task] in served
        }
        return self.CAPABILITIES.model_copy(update={"models": models})

    @property
    def base_url(self) -> str:
        url = self.settings.base_url or (self.relay.base_url if self.relay else None)
        if not url:
            where = f"[providers.{self.instance}]"
            relay = self.settings.relay
            why = (
                "this API family has no default host; "
                if relay is None
                else f"relay {relay!r} publishes no host in its docs; "
                if self.relay
                else f"relay {relay!r} is not one whose host videogw knows; "
            )
            known = ", ".join(k for k, r in KNOWN_RELAYS.items() if r.base_url)
            raise errors.ConfigurationError(
                f"{self.instance}: base_url is required ({why}set base_url in {where} of the "
                f'config file, or relay = "<name>" for a relay with a known host: {known})'
            )
        return url.rstrip("/")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key()}"}

    def path(self, endpoint: str) -> str:
        return self.settings.speech_path if endpoint == SPEECH else f"/higgsfield/{endpoint}"

    # -- validation (before any HTTP call) --------------------------------------------
    def validate(self, prepared: Prepared) -> Prepared:
        return check(self, prepared)

    # -- submit ----------------------------------------------------------------------
    def _inline(self, media: Media) -> str:
        """A public URL as is; local files and bytes inlined as base64 (documented for
        generate; bare base64 or a data: URI is not said [inf])."""
        if media.url is not None:
            return media.url
        encoded = base64.b64encode(media.read_bytes()).decode("ascii")
        if self.settings.inline_data_uri:
            return f"data:{media.guess_content_type()};base64,{encoded}"
        return encoded

    def build_submit(self, prepared: Prepared) -> httpx.Request:
        request, endpoint = prepared.request, ENDPOINT[prepared.spec.task]
        options = prepared.options
        assert isinstance(options, HfRelayOptions)
        images = [self._inline(media) for _, media in given_images(prepared)]
        body: dict[str, Any]
        if endpoint == GENERATE:
            assert request.motion is not None  # motion_required, checked in prepare
            prefix = self.relay.model_prefix if self.relay else ""
            body = {
                "model": prefix + prepared.spec.provider_model,
                "motion_id": request.motion.id,
                "prompt": request.prompt,
            }
            if request.enhance_prompt is not None:
                body["enhance_prompt"] = request.enhance_prompt
            if request.seed is not None:
                body["seed"] = request.seed
        elif endpoint == SPEECH:
            body = {"avatar_preset_id": options.avatar_preset_id, "prompt": request.prompt}
            if request.audio is not None:
                body["audio"] = request.audio.url
            else:
                speak = Speak(
                    voice_id=options.voice_id or "",
                    text=options.speech_text or "",
                    sound_id=options.sound_id,
                )
                body["speak"] = speak.wire()
        else:
            body = {"product_placement_sample_id": options.product_placement_sample_id}
            if options.size is not None:
                body["size"] = options.size
        if options.width is not None:
            body["width"], body["height"] = options.width, options.height
        body["image"] = images
        return http_request(
            "POST", self.url(self.path(endpoint)), json=body, headers=self._headers()
        )

    def parse_submit(self, prepared: Prepared, response: httpx.Response) -> Accepted:
        data = self.json(response)
        task_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(task_id, str | int) and str(task_id):
            return Accepted(str(task_id), JobStatus.queued)
        if isinstance(data, dict) and ("error" in data or "message" in data):
            # a relay that answers 200 with an error body created nothing [inf]
            raise self.error(errors.ProviderRejectedError, response)
        raise self.malformed(response, "submit answer has no task id")

    # -- status ----------------------------------------------------------------------
    def build_status(self, job: Job) -> httpx.Request:
        task_id = job.provider_job_id
        return http_request(
            "POST",
            self.url(f"/higgsfield/feed/{quote(str(task_id), safe='')}"),
            json={"task_id": task_id},
            headers=self._headers(),
        )

    def parse_status(self, job: Job, response: httpx.Response) -> StatusUpdate:
        data = self.json(response)
        if not isinstance(data, dict):
            raise self.malformed(response, "feed answer is not an object")
        listed = data.get("jobs")
        jobs = [j for j in listed if isinstance(j, dict)] if isinstance(listed, list) else []
        if jobs:
            raws = [j.get("status") for j in jobs]
        elif isinstance(data.get("jobs"), list):
            raws = ["queued"]  # the task exists and its job is not scheduled yet [inf]
        else:
            raws = [data.get("status")]  # not a job set: read a top-level status if any
        status = self._overall([self.map_status(raw) for raw in raws])
        raw_status = ",".join(str(raw) for raw in raws)
        kept = {k: data[k] for k in ("id", "type", "project_id", "created_at") if k in data}
        outputs = tuple(o for o in map(output, jobs) if o is not None)
        error = None
        if status is JobStatus.content_filtered:
            error = JobError(
                kind="content_filtered",
                message="the relay flagged the video (nsfw)",
                provider_code=raw_status,
            )
        elif status is JobStatus.failed:
            error = JobError(
                kind="generation_failed",
                message=f"the relay reported {raw_status}",
                provider_code=raw_status,
            )
        elif status is JobStatus.succeeded and not outputs:
            status = JobStatus.unknown  # completed without a URL we can read: look again
        return StatusUpdate(
            status=status,
            raw_status=raw_status,
            outputs=outputs or None,
            error=error,
            charged=True if status is JobStatus.succeeded else None,  # per-request billing
            provider_data={"feed": {**kept, "jobs": jobs}},
        )

    @staticmethod
    def _overall(statuses: list[JobStatus]) -> JobStatus:
        """One request makes one video, so a job set normally holds one job; with more, the
        worst outcome wins and the set is done only when every job is."""
        for worst in (
            JobStatus.content_filtered,
            JobStatus.failed,
            JobStatus.cancelled,
            JobStatus.unknown,
        ):
            if worst in statuses:
                return worst
        if all(s is JobStatus.succeeded for s in statuses):
            return JobStatus.succeeded
        if all(s is JobStatus.queued for s in statuses):
            return JobStatus.queued
        return JobStatus.running

    # -- catalogs --------------------------------------------------------------------
    def motion_catalog_flow(self, name: str) -> Flow[list[dict[str, Any]]]:
        return (yield from self.catalog_flow("motions", search=CATALOGUE[name]))

    def catalog_flow(
        self, kind: str, *, size: int = 30, search: str | None = None
    ) -> Flow[list[dict[str, Any]]]:
        """Template lists: motion ids for DoP, avatar presets, voices and sounds."""
        if kind not in self.catalog_kinds:
            raise errors.UnsupportedOperationError(
                f"{self.instance} has no {kind!r} catalog (it has {', '.join(self.catalog_kinds)})"
            )
        params: dict[str, str | int] = {}
        if kind in ("motions", "avatar-presets"):
            params["size"] = size
        if search:
            params["search"] = search
        request = http_request(
            "GET", self.url(f"/higgsfield/tpl/{kind}"), params=params, headers=self._headers()
        )
        response = yield self.call(request, Purpose.read)
        data = self.json(response)
        if isinstance(data, dict):  # some relays wrap lists [inf]
            data = next((data[k] for k in ("data", "items", "list") if k in data), None)
        if not isinstance(data, list):
            raise self.malformed(response, f"the {kind} catalog is not a list")
        return [item for item in data if isinstance(item, dict)]

    # -- cost --------------------------------------------------------------------------
    def price_keys(self) -> list[str]:
        """Neutral models; the relay's own names (lite, speech, ...) are still understood."""
        return [*self.capabilities.models, *prices.RELATIVE_COST]

    def estimate(self, prepared: Prepared) -> CostEstimate:
        return prices.estimate(self, prepared)

    # -- errors --------------------------------------------------------------------------
    def classify(self, response: httpx.Response, purpose: Purpose) -> errors.ProviderError | None:
        said = " ".join(one_api_error(response)) if response.status_code >= 400 else ""
        found = first_rule(ERRORS, response.status_code, purpose, said) if said else None
        return self.error(found, response) if found else super().classify(response, purpose)

    def error_message(self, response: httpx.Response) -> str:
        message, _ = one_api_error(response)
        return message or super().error_message(response)

    # -- emulator --------------------------------------------------------------------------
    @classmethod
    def emulator(cls, **kwargs: Any) -> Emulator:
        from .emulator import HfRelayEmulator

        return HfRelayEmulator(**kwargs)
