"""The OpenAI-style video object and request, mapped to and from videogw's.

OpenAI's `Video` has four statuses (queued, in_progress, completed, failed); videogw's
eight are kept as `detailed_status`. A job whose submit outcome is unknown is shown as
``failed`` with ``error.code = "outcome_unknown"``: videogw never polls or resubmits it, so
an SDK polling it would wait forever (reconcile it with the provider).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import GenerationRequest, Job, JobStatus, Media

__all__ = [
    "BODY_FIELDS",
    "VideoError",
    "VideoObject",
    "request_from_body",
    "video_object",
]

OpenAIStatus = Literal["queued", "in_progress", "completed", "failed"]

_STATUS: dict[JobStatus, OpenAIStatus] = {
    JobStatus.queued: "queued",
    JobStatus.running: "in_progress",
    JobStatus.succeeded: "completed",
    JobStatus.failed: "failed",
    JobStatus.content_filtered: "failed",
    JobStatus.cancelled: "failed",
    JobStatus.expired: "failed",
    JobStatus.unknown: "failed",
}

# the OpenAI fields, then videogw's own (accepted as extra body fields)
OPENAI_FIELDS = ("model", "prompt", "seconds", "size", "input_reference")
VIDEOGW_FIELDS = (
    "task",
    "image_url",
    "end_image_url",
    "audio_url",
    "motion",
    "seed",
    "quality",
    "aspect_ratio",
    "resolution",
    "enhance_prompt",
    "options",
    "webhook_url",
    "labels",
)
BODY_FIELDS = OPENAI_FIELDS + VIDEOGW_FIELDS


class VideoError(BaseModel):
    code: str
    message: str


class AttemptSummary(BaseModel):
    provider: str
    provider_model: str
    outcome: str
    status: str | None = None
    charged: bool | None = None
    actual_cost: Decimal | None = None
    reason: str | None = None


class Estimate(BaseModel):
    amount: Decimal
    currency: str
    usd: Decimal | None = None
    source: str


class VideoObject(BaseModel):
    """OpenAI's video object, plus videogw's fields."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": True})

    id: str
    object: Literal["video"] = "video"
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = None
    error: VideoError | None = None
    model: str
    progress: int = Field(ge=0, le=100)
    prompt: str | None = None
    remixed_from_video_id: str | None = None
    seconds: str | None = None
    size: str | None = None
    status: OpenAIStatus
    # videogw's
    detailed_status: str
    provider: str | None = None
    provider_model: str | None = None
    estimate: Estimate | None = None
    actual_cost: Decimal | None = None
    cost_currency: str | None = None
    charged: bool | None = None
    attempts: list[AttemptSummary] = Field(default_factory=list)
    client_key: str | None = None


def _epoch(value: Any) -> int | None:
    return int(value.timestamp()) if value is not None else None


def video_object(job: Job, request: GenerationRequest | None) -> VideoObject:
    progress = 100 if job.status is JobStatus.succeeded else int((job.progress or 0) * 100)
    error = None
    if job.error is not None:
        error = VideoError(code=job.error.kind, message=job.error.message)
    elif job.status is JobStatus.unknown and job.provider_job_id is None:
        error = VideoError(
            code="outcome_unknown",
            message=f"the submit to {job.provider or 'the provider'} has an unknown outcome: "
            "a paid job may exist there; videogw will not resubmit it (reconcile it)",
        )
    expires = [o.expires_at for o in job.outputs if o.expires_at is not None]
    estimate = None
    if job.estimate is not None:
        e = job.estimate
        estimate = Estimate(amount=e.amount, currency=e.currency, usd=e.usd, source=e.source)
    seconds = None
    if request is not None and request.duration_s is not None:
        seconds = str(request.duration_s)
    return VideoObject(
        id=job.id,
        created_at=int(job.created_at.timestamp()),
        completed_at=_epoch(job.finished_at) if job.status is JobStatus.succeeded else None,
        expires_at=_epoch(min(expires)) if expires else None,
        error=error,
        model=job.model,
        progress=max(0, min(100, progress)),
        prompt=request.prompt if request is not None else None,
        seconds=seconds,
        size=job.labels.get("size"),
        status=_STATUS[job.status],
        detailed_status=job.status.value,
        provider=job.provider,
        provider_model=job.provider_model,
        estimate=estimate,
        actual_cost=job.actual_cost,
        cost_currency=job.cost_currency,
        charged=job.charged,
        attempts=[
            AttemptSummary(
                provider=a.provider,
                provider_model=a.provider_model,
                outcome=a.outcome.value,
                status=a.status.value if a.status is not None else None,
                charged=a.charged,
                actual_cost=a.actual_cost,
                reason=a.reason,
            )
            for a in job.attempts
        ],
        client_key=job.labels.get("client_key"),
    )


class BodyError(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        self.param = param
        super().__init__(message)


def _seconds(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BodyError("seconds must be a whole number of seconds", "seconds")
    try:
        number = int(str(value))
    except ValueError:
        raise BodyError("seconds must be a whole number of seconds", "seconds") from None
    return number


MAX_DATA_URL = 50 * 1024 * 1024


def _reference(value: Any) -> Media:
    """OpenAI's reference object: ``{"image_url": "https://..." | "data:...;base64,..."}``
    (a ``file_id`` names OpenAI's file store, which videogw does not have)."""
    if not isinstance(value, dict) or set(value) - {"image_url", "file_id"}:
        raise BodyError(
            "input_reference must be an uploaded file (multipart/form-data) or "
            '{"image_url": "https://..." or a base64 data URL}',
            "input_reference",
        )
    if "file_id" in value:
        raise BodyError(
            "input_reference.file_id is not supported: upload the file or give an image_url",
            "input_reference",
        )
    url = value.get("image_url")
    if not isinstance(url, str):
        raise BodyError("input_reference.image_url must be a string", "input_reference")
    if url.startswith("data:"):
        head, sep, payload = url.partition(",")
        if not sep or not head.endswith(";base64") or len(payload) > MAX_DATA_URL * 4 // 3 + 4:
            raise BodyError("expected a base64 data URL under 50 MiB", "input_reference")
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError:
            raise BodyError("the data URL is not valid base64", "input_reference") from None
        if not data:
            raise BodyError("the data URL is empty", "input_reference")
        content_type = head[5:].removesuffix(";base64") or None
        return Media(data=data, content_type=content_type)
    if not url.lower().startswith("https://"):
        raise BodyError(
            "input_reference.image_url must be https:// or a data URL", "input_reference"
        )
    return Media(url=url)


def request_from_body(
    body: Mapping[str, Any],
    *,
    upload: Media | None,
    idempotency_key: str | None,
    client_key: str | None,
) -> dict[str, Any]:
    """The `GenerationRequest` fields for an OpenAI-style body (validated by the caller)."""
    unknown = sorted(set(body) - set(BODY_FIELDS))
    if unknown:
        raise BodyError(f"unknown field {unknown[0]!r}", unknown[0])
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BodyError("model is required: a videogw model id such as dop-lite", "model")
    fields: dict[str, Any] = {"model": model}
    prompt = body.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise BodyError("prompt must be a string", "prompt")
        fields["prompt"] = prompt
    duration = _seconds(body.get("seconds"))
    if duration is not None:
        fields["duration_s"] = duration
    labels: dict[str, str] = {}
    given_labels = body.get("labels")
    if given_labels is not None:
        if not isinstance(given_labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in given_labels.items()
        ):
            raise BodyError("labels must be an object of strings", "labels")
        labels.update(given_labels)
    labels.pop("client_key", None)  # only the server says which key made a job
    size = body.get("size")
    if size is not None:
        if not isinstance(size, str):
            raise BodyError("size must be a string such as 1280x720", "size")
        labels["size"] = size
    if client_key is not None:
        labels["client_key"] = client_key
    if labels:
        fields["labels"] = labels
    reference = body.get("input_reference")
    if reference is not None and upload is None:
        upload = _reference(reference)
    if upload is not None:
        if body.get("image_url") is not None:
            raise BodyError("give input_reference or image_url, not both", "input_reference")
        fields["image"] = upload
    for name, target in (("image_url", "image"), ("end_image_url", "end_image")):
        if body.get(name) is not None:
            fields[target] = body[name]
    if body.get("audio_url") is not None:
        fields["audio"] = body["audio_url"]
    for name in VIDEOGW_FIELDS:
        if name in ("image_url", "end_image_url", "audio_url", "labels"):
            continue
        if body.get(name) is not None:
            fields[name] = body[name]
    for name in ("image", "end_image", "audio"):
        value = fields.get(name)
        if value is upload or value is None:
            continue
        if not isinstance(value, str) or "://" not in value:
            # a URL field names a URL: never a path on the server's disk
            raise BodyError(f"{name}_url must be an https:// URL", f"{name}_url")
    if idempotency_key is not None:
        fields["idempotency_key"] = idempotency_key
    return fields
