"""Adapter for the "/higgsfield/*" reseller gateway family (seed 000).

API: YutoAI's guide docs.yutoai.net/en/api/higgsfield.html and its API pages (generate,
speech, ads, feed, tpl/*); OpenAI-HK and other relays serve the same shape
(reference/providers.md §4). Bearer auth; the family has no default host.

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
import mimetypes
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn
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
    ModelSpec,
    Output,
    Prepared,
    Provider,
    StatusUpdate,
    Task,
    errors,
)
from videogw.provider import Flow, Purpose, json_loads

from . import prices
from .config import KNOWN_RELAYS, HfRelayOptions, HfRelaySettings, Relay, Speak

if TYPE_CHECKING:
    from videogw.emulator import Emulator

__all__ = ["HfRelayProvider"]

GENERATE, SPEECH, ADS = "generate", "speech", "ads"


ENDPOINT = {Task.image_to_video: GENERATE, Task.speech_to_video: SPEECH, Task.ad_video: ADS}
# What the wire `image` array holds on each endpoint (generate: documented 1-2 entries,
# the second the end frame; speech and ads: one photo, more not documented [inf]).
IMAGE_SLOTS = {
    GENERATE: ("the start frame", "the end frame"),
    SPEECH: ("the avatar photo",),
    ADS: ("the product photo",),
}
OPTION_ENDPOINTS = {
    "width": (GENERATE, SPEECH),
    "height": (GENERATE, SPEECH),
    "avatar_preset_id": (SPEECH,),
    "voice_id": (SPEECH,),
    "speech_text": (SPEECH,),
    "sound_id": (SPEECH,),
    "product_placement_sample_id": (ADS,),
    "size": (ADS,),
}
# Neutral fields an endpoint has no place for, and what to do instead.
NO_FIELD = {
    "duration_s": "clip length is not settable on this API",
    "quality": "pick the model instead (dop-lite, dop-turbo, dop-standard)",
    "aspect_ratio": "give the frame size in pixels: options.width and options.height",
    "resolution": "give the frame size in pixels: options.width and options.height",
}
NO_FIELD_BY_ENDPOINT = {
    GENERATE: {"audio": "DoP videos have no sound track"},
    SPEECH: {
        "motion": "talking videos take no motion preset",
        "seed": "the speech endpoint takes no seed",
        "enhance_prompt": "the speech endpoint has no prompt enhancer",
    },
    ADS: {
        "prompt": "the ad template sets the action; the ads endpoint takes no prompt",
        "motion": "the ad template sets the motion (options.product_placement_sample_id)",
        "seed": "the ads endpoint takes no seed",
        "enhance_prompt": "the ads endpoint takes no prompt",
        "audio": "the ads endpoint takes no audio",
        "aspect_ratio": "give the video size as options.size, e.g. 1024x1024",
        "resolution": "give the video size as options.size, e.g. 1024x1024",
    },
}
_QUOTA = re.compile(r"quota|balance|credit|余额|额度", re.IGNORECASE)
_URL_PATHS = (("raw", "url"), ("min", "url"), ("url",), ("video", "url"), ("video_url",))


def _dop(model: str) -> ModelSpec:
    return ModelSpec(
        provider_model=model,
        task=Task.image_to_video,
        end_image=True,
        motion_required=True,
        typical_seconds=90,  # [inf] no latency documented
    )


class HfRelayProvider(Provider):
    name = "hfrelay"
    display_name = "Higgsfield relay gateways (YutoAI, OpenAI-HK, GPTProto, ...)"
    default_base_url = None
    api_key_envs = ("HFRELAY_API_KEY",)
    request_id_headers = ("x-request-id", "x-oneapi-request-id")  # one-api relays [inf]
    Settings = HfRelaySettings
    Options = HfRelayOptions
    settings: HfRelaySettings
    STATUS_MAP: ClassVar[Mapping[str, JobStatus]] = {
        "queued": JobStatus.queued,
        "in_progress": JobStatus.running,
        "completed": JobStatus.succeeded,
        "failed": JobStatus.failed,  # [inf] upstream value, undocumented here
        "nsfw": JobStatus.content_filtered,  # [inf]
        "canceled": JobStatus.cancelled,  # [inf]
    }
    CAPABILITIES = Capabilities(
        models={
            "dop-lite": _dop("lite"),
            "dop-standard": _dop("standard"),
            "dop-turbo": _dop("turbo"),
            "speak-v2": ModelSpec(
                provider_model=SPEECH,
                task=Task.speech_to_video,
                local_files=False,  # base64 is documented for generate only
                typical_seconds=180,  # [inf]
            ),
            "hf-ads": ModelSpec(
                provider_model=ADS, task=Task.ad_video, local_files=False, typical_seconds=120
            ),
        },
        cancel=False,
        webhooks=False,
        idempotency=False,
    )
    catalog_kinds = ("motions", "avatar-presets", "voices", "sounds")

    # -- configuration ---------------------------------------------------------------
    @property
    def relay(self) -> Relay | None:
        return KNOWN_RELAYS.get(self.settings.relay or "")

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

    def _path(self, endpoint: str) -> str:
        return self.settings.speech_path if endpoint == SPEECH else f"/higgsfield/{endpoint}"

    # -- validation (before any HTTP call) --------------------------------------------
    def validate(self, prepared: Prepared) -> Prepared:
        request, endpoint = prepared.request, ENDPOINT[prepared.spec.task]
        options = prepared.options
        assert isinstance(options, HfRelayOptions)
        path = self._path(endpoint)
        no_field = {**NO_FIELD, **NO_FIELD_BY_ENDPOINT[endpoint]}
        for name, hint in no_field.items():
            if getattr(request, name) not in (None, ""):
                self._unsupported(f"{path} has no field for {name}: {hint}", name)
        motion = request.motion
        if motion is not None and "strength" in motion.model_fields_set and motion.strength != 0.5:
            self._unsupported(f"{path} takes a motion id only, no strength", "motion.strength")
        for name, used_by in OPTION_ENDPOINTS.items():
            if getattr(options, name) is not None and endpoint not in used_by:
                raise errors.InvalidRequestError(
                    f"applies to {' and '.join(self._path(e) for e in used_by)} only, not {path}",
                    field=f"options.{name}",
                    provider=self.instance,
                )
        if endpoint in (GENERATE, SPEECH) and not request.prompt.strip():
            self._unsupported(f"{path} requires a prompt", "prompt")
        if (options.width is None) != (options.height is None):
            missing = "height" if options.height is None else "width"
            raise errors.InvalidRequestError(
                "give both options.width and options.height (pixels), or neither",
                field=f"options.{missing}",
                provider=self.instance,
            )
        self._check_images(prepared, endpoint, path)
        if endpoint == SPEECH:
            self._check_speech(request.audio, options, path)
        if endpoint == ADS and options.product_placement_sample_id is None:
            self._unsupported(
                f"{path} requires options.product_placement_sample_id (an ad template id "
                "from the relay's official site)",
                "options.product_placement_sample_id",
            )
        relay = self.settings.relay
        return replace(
            prepared, provider_data={"endpoint": path, **({"relay": relay} if relay else {})}
        )

    def _check_images(self, prepared: Prepared, endpoint: str, path: str) -> None:
        options = prepared.options
        assert isinstance(options, HfRelayOptions)
        given = [name for name, _ in self._images(prepared)]
        slots = IMAGE_SLOTS[endpoint]
        if len(given) > len(slots):
            raise errors.InvalidRequestError(
                f"{path} takes at most {len(slots)} image{'s' if len(slots) > 1 else ''} "
                f"({', then '.join(slots)}); this request gives {len(given)}: "
                f"{', '.join(given)}",
                field="options.images" if options.images else "end_image",
                provider=self.instance,
            )

    def _check_speech(self, audio: Media | None, options: HfRelayOptions, path: str) -> None:
        if options.avatar_preset_id is None:
            self._unsupported(
                f"{path} requires options.avatar_preset_id (from the 'avatar-presets' catalog)",
                "options.avatar_preset_id",
            )
        if options.width is None:
            self._unsupported(
                f"{path} requires the video size: options.width and options.height (pixels)",
                "options.width",
            )
        tts = [n for n in ("voice_id", "speech_text", "sound_id") if getattr(options, n)]
        if audio is not None and tts:
            raise errors.InvalidRequestError(
                "give the voice either as audio or as text-to-speech "
                "(options.speech_text, options.voice_id), not both",
                field=f"options.{tts[0]}",
                provider=self.instance,
            )
        if audio is None and not tts:
            raise errors.InvalidRequestError(
                f"{path} needs a voice: audio (a public https URL of a wav/mp3 recording) "
                "or text-to-speech (options.speech_text and options.voice_id, a 'voices' "
                "catalog id)",
                field="audio",
                provider=self.instance,
            )
        for name in ("speech_text", "voice_id"):
            if audio is None and getattr(options, name) is None:
                raise errors.InvalidRequestError(
                    "text-to-speech needs both options.speech_text and options.voice_id",
                    field=f"options.{name}",
                    provider=self.instance,
                )

    def _unsupported(self, message: str, field: str) -> NoReturn:
        raise errors.UnsupportedRequestError(message, field=field, provider=self.instance)

    # -- submit ----------------------------------------------------------------------
    def _images(self, prepared: Prepared) -> Iterator[tuple[str, Media]]:
        request, options = prepared.request, prepared.options
        assert isinstance(options, HfRelayOptions)
        for name in ("image", "end_image"):
            media = getattr(request, name)
            if media is not None:
                yield name, media
        for index, media in enumerate(options.images):
            yield f"options.images[{index}]", media

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
        images = [self._inline(media) for _, media in self._images(prepared)]
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
        return httpx.Request(
            "POST", self.url(self._path(endpoint)), json=body, headers=self._headers()
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
        return httpx.Request(
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
        outputs = tuple(o for o in map(_output, jobs) if o is not None)
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
        request = httpx.Request(
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
    def estimate(self, prepared: Prepared) -> CostEstimate:
        key = prepared.spec.provider_model
        factor = prices.RELATIVE_COST[key]
        override = self.price_override(prepared.model) or self.price_override(key)
        where = f"[providers.{self.instance}]"
        if override is not None:
            return CostEstimate(
                amount=override,
                usd=override,
                origin="config",
                source=f"config {where} prices",
                basis=f"configured price of {prepared.model} on this relay, per request",
            )
        base = self.settings.base_price_usd
        if base is not None:
            amount = base * factor
            return CostEstimate(
                amount=amount,
                usd=amount,
                origin="config",
                source=f"config {where} base_price_usd; ratios: {prices.SOURCE}",
                as_of=prices.AS_OF,
                basis=f"base_price_usd {base} x {factor} ({key} relative to lite), per request",
            )
        return CostEstimate(
            amount=factor,
            currency="units",
            source=prices.SOURCE,
            as_of=prices.AS_OF,
            basis=f"relative units only, no absolute price is published: {key} costs {factor}x "
            f"a lite video on the same relay; set base_price_usd in {where} for USD",
        )

    # -- errors --------------------------------------------------------------------------
    def classify(self, response: httpx.Response, purpose: Purpose) -> errors.ProviderError | None:
        found = super().classify(response, purpose)
        if found is not None and response.status_code in (402, 403):
            message, code = _one_api_error(response)
            if _QUOTA.search(f"{message} {code}"):  # [inf] one-api relays say 403 quota
                return self.error(errors.InsufficientCreditsError, response)
        return found

    def error_message(self, response: httpx.Response) -> str:
        message, _ = _one_api_error(response)
        return message or super().error_message(response)

    # -- emulator --------------------------------------------------------------------------
    @classmethod
    def emulator(cls, **kwargs: Any) -> Emulator:
        from .emulator import HfRelayEmulator

        return HfRelayEmulator(**kwargs)


def _one_api_error(response: httpx.Response) -> tuple[str, str]:
    """Message and code of a one-api-style ``{"error": {"message", "type", "code"}}`` body,
    the usual shape of these relays' errors [inf]; empty strings when it is not one."""
    try:
        error = json_loads(response.content).get("error")
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("message") or ""), str(error.get("code") or "")


def _output(job: Mapping[str, Any]) -> Output | None:
    """The video of one job: `result.raw.url` (full size) first, then `result.min.url` and
    other URL fields relays have been seen to use [inf]."""
    result = job.get("result") or job.get("results")
    if isinstance(result, str) and result.startswith("https://"):
        return Output(url=result, media_type=_media_type(result, None))
    if not isinstance(result, Mapping):
        return None
    for path in _URL_PATHS:
        node: Any = result
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, str) and node.startswith(("https://", "http://")):
            parent = result.get(path[0])
            kind = parent.get("type") if isinstance(parent, Mapping) else None
            return Output(url=node, media_type=_media_type(node, kind))
    return None


def _media_type(url: str, kind: object) -> str | None:
    if isinstance(kind, str) and "/" in kind:
        return kind
    guessed, _ = mimetypes.guess_type(url.split("?")[0])
    return guessed or ("video/mp4" if kind == "video" else None)
