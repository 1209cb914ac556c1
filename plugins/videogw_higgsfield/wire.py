"""Reading Higgsfield answers: pure functions over parsed JSON, shared by polling and webhooks.

Status strings and refunds: reference/providers.md §1.5, §1.9 and table (a); outputs are
``video.url`` or ``images[].url`` (v2) and ``jobs[].results.raw|min.url`` (v1 JobSet).
Nothing here raises on an odd payload except `Unreadable`, which the provider turns into a
`MalformedResponseError`.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from videogw import JobError, JobStatus, Output, StatusUpdate

__all__ = [
    "CHARGED",
    "STATUS_MAP",
    "Unreadable",
    "job_set_update",
    "parse_decimal",
    "parse_time",
    "request_update",
    "retry_after",
]

STATUS_MAP: Mapping[str, JobStatus] = {
    "queued": JobStatus.queued,
    "in_progress": JobStatus.running,
    "completed": JobStatus.succeeded,
    "failed": JobStatus.failed,
    "nsfw": JobStatus.content_filtered,
    "canceled": JobStatus.cancelled,
}
# Refund rules (§1.9): only completed requests are charged.
CHARGED: Mapping[JobStatus, bool] = {
    JobStatus.succeeded: True,
    JobStatus.failed: False,
    JobStatus.content_filtered: False,
    JobStatus.cancelled: False,
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


def parse_time(value: object) -> datetime | None:
    """`expires_at` leniently: ISO 8601 (``Z`` or offset; naive means UTC), or epoch seconds
    or milliseconds as a number or a numeric string. Anything else is None."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
            except ValueError:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _media_type(item: Mapping[str, Any], default: str | None = None) -> str | None:
    url = item.get("url")
    guessed = mimetypes.guess_type(url.split("?")[0])[0] if isinstance(url, str) else None
    if guessed:
        return guessed
    kind = item.get("type")
    return {"video": "video/mp4", "image": "image/png"}.get(str(kind), default)


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


def parse_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        return None
    return found if found.is_finite() else None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from RapidAPI's headers: Retry-After, else x-ratelimit-*-reset."""
    for name in ("retry-after", "x-ratelimit-reset", "x-ratelimit-requests-reset"):
        value = response.headers.get(name)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None
