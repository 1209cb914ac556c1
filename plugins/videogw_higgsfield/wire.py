"""Reading Higgsfield answers: pure functions over parsed JSON, shared by polling and webhooks.

Status strings and refunds: docs/providers/higgsfield.md; outputs are
``video.url`` or ``images[].url`` (v2) and ``jobs[].results.raw|min.url`` (v1 JobSet).
Nothing here raises on an odd payload except `Unreadable`, which the provider turns into a
`MalformedResponseError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from videogw import JobError, JobStatus, Output, StatusUpdate
from videogw.provider import json_loads
from videogw.wire import media_type, parse_decimal, parse_time, retry_after

from .tables import STATUSES

__all__ = [
    "CHARGED",
    "EMULATOR_KEY",
    "EMULATOR_WEBHOOK_SECRET",
    "PATH_MODELS",
    "STATUS_MAP",
    "TRUSTED_HOSTS",
    "Unreadable",
    "estimate_figures",
    "from_proxy",
    "job_set_update",
    "models_list",
    "motions_list",
    "proxy_retry_after",
    "request_update",
]

STATUS_MAP: Mapping[str, JobStatus] = STATUSES.status_map
# Refund rules: only completed requests are charged.
CHARGED: Mapping[JobStatus, bool] = {
    status: charged for status, charged in STATUSES.rows.values() if charged is not None
}


class Unreadable(ValueError):
    """The answer lacks what every answer of its kind has."""


def _status(raw: object) -> JobStatus:
    return STATUS_MAP.get(raw, JobStatus.unknown) if isinstance(raw, str) else JobStatus.unknown


def request_update(data: Any) -> StatusUpdate:
    """A v2 request status (``GET /requests/{id}/status``, or a webhook body)."""
    raw = data.get("status") if isinstance(data, dict) else None
    if not isinstance(raw, str):
        raise Unreadable("status answer has no status string")
    status = _status(raw)
    outputs = _outputs(data, parse_time(data.get("expires_at")))
    return StatusUpdate(
        status=status,
        raw_status=raw,
        outputs=outputs or None,
        error=_job_error(status, data.get("error")),
        charged=CHARGED.get(status),
        cost_currency="credits" if status is JobStatus.succeeded else None,
    )


def job_set_update(data: Any) -> StatusUpdate:
    """A v1 JobSet: done when every job is; succeeded when any job completed."""
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list):
        raise Unreadable("job set answer has no jobs list")
    entries = [j for j in jobs if isinstance(j, dict)]
    raws = [j.get("status") for j in entries]
    mapped = [_status(r) for r in raws]
    outputs: list[Output] = []
    for job, status in zip(entries, mapped, strict=True):
        results = job.get("results") if status is JobStatus.succeeded else None
        if isinstance(results, dict):
            best = results.get("raw") or results.get("min")
            if isinstance(best, dict) and isinstance(best.get("url"), str):
                outputs.append(Output(url=best["url"], media_type=_media_type(best)))
    if not mapped:
        status, raw = JobStatus.queued, None
    elif pending := [s for s in mapped if not s.is_terminal]:
        status = JobStatus.running if JobStatus.running in pending else pending[0]
        raw = raws[mapped.index(status)]
    else:
        order = [JobStatus.succeeded, JobStatus.content_filtered, JobStatus.failed]
        status = next((s for s in order if s in mapped), mapped[0])
        raw = raws[mapped.index(status)]
    messages = [j.get("error") for j in entries if j.get("error")]
    return StatusUpdate(
        status=status,
        raw_status=raw if isinstance(raw, str) else None,
        outputs=tuple(outputs) or None,
        error=_job_error(status, messages[0] if messages else None),
        charged=CHARGED.get(status),
    )


def _media_type(item: Mapping[str, Any], default: str | None = None) -> str | None:
    kind = {"video": "video/mp4", "image": "image/png"}.get(str(item.get("type")), default)
    return media_type(str(item.get("url", "")), default=kind)


def _outputs(data: Mapping[str, Any], expires: datetime | None) -> tuple[Output, ...]:
    found: list[Output] = []
    video = data.get("video")
    if isinstance(video, dict) and isinstance(video.get("url"), str):
        found.append(
            Output(url=video["url"], media_type=_media_type(video, "video/mp4"), expires_at=expires)
        )
    images = data.get("images")
    candidates = [*(images if isinstance(images, list) else []), data.get("image")]
    for image in candidates:  # `image.url` is undocumented; community code checks it too
        if isinstance(image, dict) and isinstance(image.get("url"), str):
            found.append(
                Output(url=image["url"], media_type=_media_type(image), expires_at=expires)
            )
    return tuple(found)


def _job_error(status: JobStatus, message: object) -> JobError | None:
    text = message if isinstance(message, str) and message else None
    if status is JobStatus.failed:
        return JobError(kind="generation_failed", message=text or "generation failed")
    if status is JobStatus.content_filtered:
        return JobError(kind="content_filtered", message=text or "refused by moderation (nsfw)")
    if status is JobStatus.cancelled:
        return JobError(kind="cancelled", message=text or "cancelled while queued")
    return None


# RapidAPI (docs.rapidapi.com/docs/response-headers): the proxy marks its own answers with
# x-rapidapi-mock-response today (X-RapidAPI-Proxy-Response in the older docs), and
# x-ratelimit-reset may be seconds *or a timestamp*.
PROXY_MARKERS = ("x-rapidapi-mock-response", "x-rapidapi-proxy-response")
RESET_HEADERS = ("x-ratelimit-reset", "x-ratelimit-requests-reset")


def proxy_retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait from RapidAPI's headers: Retry-After, else x-ratelimit-*-reset."""
    return retry_after(response, *RESET_HEADERS, now=now)


def from_proxy(response: httpx.Response) -> bool:
    """The answer came from the RapidAPI proxy, not from Higgsfield behind it."""
    if any(response.headers.get(name, "").lower() == "true" for name in PROXY_MARKERS):
        return True
    try:
        body = json_loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and "message" in body and "detail" not in body


# The platform's hosts: answer URLs on them may be followed with the platform key.
TRUSTED_HOSTS = frozenset({"api.higgsfield.ai", "platform.higgsfield.ai"})

# Throwaway credentials the emulator and `emulator_settings` share (test only).
EMULATOR_KEY = "emulator-id:emulator-secret"
EMULATOR_WEBHOOK_SECRET = "whsec_dmlkZW9ndy1lbXVsYXRvci10ZXN0LXNlY3JldA=="


class PathModel:
    """A model Higgsfield serves that has no neutral id, as far as its docs describe it:
    what it makes, the fields it requires, the values some fields allow, its credits."""

    def __init__(
        self,
        output: str,
        required: tuple[str, ...],
        allowed: Mapping[str, tuple[Any, ...]] | None = None,
        credits: str = "10",
    ) -> None:
        self.output, self.required, self.credits = output, required, credits
        self.allowed = dict(allowed or {})


# Documented model paths called by path (docs/providers/higgsfield.md lists the sources):
# the emulator serves these beside the neutral ones and answers 422 as the API does.
PATH_MODELS: Mapping[str, PathModel] = {
    # the official SDK's README example (higgsfield-client 0.2.0)
    "bytedance/seedream/v4/text-to-image": PathModel(
        "images", ("prompt",), {"resolution": ("1K", "2K", "4K")}, credits="1"
    ),
    "bytedance/seedance/v1/pro/text-to-video": PathModel(
        "video", ("prompt",), {"resolution": ("480", "720", "1080")}
    ),
    "kling-video/v2.5-turbo/pro/image-to-video": PathModel(
        "video", ("prompt", "image_url"), {"duration": (5, 10)}
    ),
    "higgsfield-ai/soul/reference": PathModel(
        "images", ("prompt", "image_reference_url"), credits="0.25"
    ),
    # the v2 Speak beside the legacy /v1/speak/higgsfield
    "higgsfield-ai/speak": PathModel(
        "video",
        ("prompt", "image_url", "audio_url"),
        {"quality": ("mid", "high"), "duration": (5, 10, 15)},
    ),
}


def motions_list(data: Any) -> list[dict[str, Any]]:
    """``GET /v1/motions``: a list of ``{id, name, description, preview_url}`` (an envelope
    around it is tolerated)."""
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if not isinstance(data, list):
        raise Unreadable("motions answer is not a list")
    return [item for item in data if isinstance(item, dict) and "id" in item]


def estimate_figures(data: Any) -> tuple[Decimal, Decimal | None]:
    """``POST /estimate/{model}``: ``{"credits": "1.500", "usd": "0.094"}`` (strings)."""
    credits = parse_decimal(data.get("credits")) if isinstance(data, dict) else None
    if credits is None:
        raise Unreadable("estimate answer has no credits figure")
    return credits, parse_decimal(data.get("usd"))


def models_list(data: Any) -> list[dict[str, Any]]:
    """``GET /models``: items with ``slug``, ``operation_type``, ``output_type`` and
    ``base_credits`` (observed live; the envelope is not documented, so a bare list or the
    first list inside an object is read)."""
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if not isinstance(data, list):
        raise Unreadable("models answer is not a list")
    return [item for item in data if isinstance(item, dict) and item.get("slug")]
