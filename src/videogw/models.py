"""The provider-neutral data model: what a user asks for, and what a job is.

Everything here is a pydantic model so it validates before any request is sent and
round-trips through JSON exactly (a `Job` is what the ledger stores and what a process
resumes from after a crash).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = [
    "Attempt",
    "AttemptOutcome",
    "Capabilities",
    "CostEstimate",
    "GenerationRequest",
    "Job",
    "JobError",
    "JobStatus",
    "Media",
    "ModelSpec",
    "Motion",
    "Output",
    "RequestFields",
    "Task",
    "new_idempotency_key",
    "utcnow",
]

SEED_MIN, SEED_MAX = 1, 1_000_000
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, no whitespace
_ASPECT_RATIO = re.compile(r"^\d{1,2}:\d{1,2}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_idempotency_key() -> str:
    return f"vgw-{uuid.uuid4()}"


class JobStatus(StrEnum):
    """Normalized job status. `unknown` is deliberately *not* terminal: it marks a submit
    whose outcome is not known (or a raw status nobody mapped) and must be reconciled."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    content_filtered = "content_filtered"
    cancelled = "cancelled"
    expired = "expired"
    unknown = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        JobStatus.succeeded,
        JobStatus.failed,
        JobStatus.content_filtered,
        JobStatus.cancelled,
        JobStatus.expired,
    }
)


class Task(StrEnum):
    image_to_video = "image_to_video"
    text_to_video = "text_to_video"
    speech_to_video = "speech_to_video"
    text_to_image = "text_to_image"
    ad_video = "ad_video"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Media(_Frozen):
    """An input file: a public https URL, a local path, or raw bytes (exactly one).

    Plain values are accepted where a `Media` is expected: a string starting with
    ``https://`` is a URL, any other string or a `Path` is a local file, and `bytes` are data.
    """

    url: str | None = None
    path: Path | None = None
    data: bytes | None = Field(default=None, repr=False)
    content_type: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> Any:
        if isinstance(value, bytes):
            return {"data": value}
        if isinstance(value, Path):
            return {"path": value}
        if isinstance(value, str):
            if "://" in value:
                return {"url": value}
            return {"path": value}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Media:
        given = [name for name in ("url", "path", "data") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of url, path or data (got {given or 'none'})")
        if self.url is not None and not self.url.lower().startswith("https://"):
            raise ValueError(f"URL must start with https:// (got {self.url[:40]!r})")
        if self.path is not None and not self.path.is_file():
            raise ValueError(f"local file not found: {self.path}")
        if self.data is not None and not self.data:
            raise ValueError("data is empty")
        return self

    @property
    def is_remote(self) -> bool:
        return self.url is not None

    def guess_content_type(self) -> str:
        if self.content_type:
            return self.content_type
        import mimetypes

        name = self.url or (str(self.path) if self.path else "")
        guessed, _ = mimetypes.guess_type(name.split("?")[0])
        return guessed or "application/octet-stream"

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is not None:
            return self.path.read_bytes()
        raise ValueError("a remote Media has no local bytes")


class Motion(_Frozen):
    """A camera/motion preset (Higgsfield DoP motion id) and its strength."""

    id: Annotated[str, Field(min_length=1, max_length=128)]
    strength: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5


class GenerationRequest(_Frozen):
    """What the user wants generated, in provider-neutral terms.

    Validated entirely before any HTTP call. `model` is a neutral model id (``dop-lite``)
    or a provider-pinned one (``pixazo:dop-lite``). Provider-specific extras go in
    `options`, which the chosen provider validates with its own ``extra="forbid"`` model.
    """

    model: Annotated[str, Field(min_length=1, max_length=200)]
    task: Task | None = None
    prompt: Annotated[str, Field(max_length=5000)] = ""
    image: Media | None = None
    end_image: Media | None = None
    audio: Media | None = None
    duration_s: Annotated[int, Field(gt=0, le=600)] | None = None
    quality: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    seed: Annotated[int, Field(ge=SEED_MIN, le=SEED_MAX)] | None = None
    motion: Motion | None = None
    aspect_ratio: str | None = None
    resolution: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    enhance_prompt: bool | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    webhook_url: str | None = None
    idempotency_key: str = Field(default_factory=new_idempotency_key)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("aspect_ratio")
    @classmethod
    def _aspect(cls, value: str | None) -> str | None:
        if value is not None and not _ASPECT_RATIO.match(value):
            raise ValueError("expected W:H such as 16:9")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith("https://"):
            raise ValueError("webhook URL must start with https://")
        return value

    @field_validator("idempotency_key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _IDEMPOTENCY_KEY.match(value):
            raise ValueError("expected 1-255 visible ASCII characters without spaces")
        return value

    @property
    def pinned_provider(self) -> str | None:
        provider, sep, _ = self.model.partition(":")
        return provider if sep else None

    @property
    def model_name(self) -> str:
        """The model part of `model`, without any ``provider:`` pin."""
        return self.model.partition(":")[2] or self.model


class Output(_Frozen):
    url: str
    media_type: str | None = None
    expires_at: datetime | None = None
    path: str | None = None
    size: int | None = None
    sha256: str | None = None


class JobError(_Frozen):
    """Why a job did not succeed. `kind` is one of: generation_failed, content_filtered,
    cancelled, expired, provider_error, outcome_unknown."""

    kind: str
    message: str
    provider_code: str | None = None


Currency = Literal["USD", "credits", "units"]


class CostEstimate(_Frozen):
    """A price, before or after the fact. `amount` is the best single figure; `low`/`high`
    carry a range where only a range is known. `usd` is the USD equivalent where a rate
    is known. `origin` says whether it came from a price table or the provider itself."""

    amount: Decimal
    currency: Currency = "USD"
    low: Decimal | None = None
    high: Decimal | None = None
    usd: Decimal | None = None
    basis: str
    source: str
    as_of: date | None = None
    origin: Literal["table", "provider", "config"] = "table"

    @model_validator(mode="after")
    def _range(self) -> CostEstimate:
        if (self.low is None) != (self.high is None):
            raise ValueError("give both low and high, or neither")
        if (
            self.low is not None
            and self.high is not None
            and not (self.low <= self.amount <= self.high)
        ):
            raise ValueError("amount must lie within low..high")
        return self

    @property
    def is_range(self) -> bool:
        return self.low is not None


class ModelSpec(_Frozen):
    """How one provider serves one neutral model."""

    provider_model: str
    task: Task
    durations: tuple[int, ...] | None = None  # allowed durations in seconds; None = unconstrained
    default_duration: int | None = None
    local_files: bool = True
    end_image: bool = False
    motion_required: bool = False
    typical_seconds: float | None = None  # expected wall time of a job, for the poll schedule
    qualities: tuple[str, ...] | None = None


class Capabilities(_Frozen):
    """What a provider can do; the router filters candidates with it before spending."""

    models: Mapping[str, ModelSpec]
    cancel: bool = False
    webhooks: bool = False
    idempotency: bool = False
    sync_mode: bool = False

    @property
    def tasks(self) -> frozenset[Task]:
        return frozenset(spec.task for spec in self.models.values())


class AttemptOutcome(StrEnum):
    """How one submit to one provider ended (and, once accepted, how that job ended)."""

    not_sent = "not_sent"  # nothing reached the provider: safe to fail over
    rejected = "rejected"  # the provider answered with a typed refusal: nothing was created
    unknown = "unknown"  # the body may have been received: never resubmit elsewhere
    accepted = "accepted"  # the provider gave a job id; the job's status is tracked below
    # written ahead, before the submit request leaves the process: until its answer is
    # recorded, the provider named on it may hold a paid job
    sending = "sending"


class Attempt(_Frozen):
    provider: str
    provider_model: str
    idempotency_key: str
    outcome: AttemptOutcome
    started_at: datetime
    ended_at: datetime | None = None
    provider_job_id: str | None = None
    status: JobStatus | None = None
    reason: str | None = None
    http_status: int | None = None
    provider_request_id: str | None = None
    estimate: CostEstimate | None = None
    actual_cost: Decimal | None = None
    charged: bool | None = None
    # submit to finish, measured on one monotonic clock where one process saw both ends
    latency_s: float | None = None
    # False: seen finished by a job outside the poller's timing sample, whose reads do not
    # bound its duration (`videogw.schedule`): its latency is unknown, and statistics leave
    # it out rather than count polling lag or a biased sample
    timed: bool = True


class Job(_Frozen):
    """One logical generation job, across every provider it was tried on.

    Frozen and JSON-serializable: it holds everything needed to resume tracking after a
    restart (provider, provider job id and the provider's own URLs in `provider_data`).
    The top-level provider fields describe the current attempt; `attempts` keeps them all.
    """

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    model: str
    task: Task
    status: JobStatus = JobStatus.unknown
    raw_status: str | None = None
    provider: str | None = None
    provider_model: str | None = None
    provider_job_id: str | None = None
    # may hold per-job secrets (a webhook token): stored, never shown in reprs or logs
    provider_data: dict[str, Any] = Field(default_factory=dict, repr=False)
    idempotency_key: str
    outputs: tuple[Output, ...] = ()
    error: JobError | None = None
    estimate: CostEstimate | None = None
    actual_cost: Decimal | None = None
    cost_currency: Currency | None = None
    charged: bool | None = None
    remaining_credits: Decimal | None = None
    progress: float | None = None
    attempts: tuple[Attempt, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    # what must still happen to a finished job ("resubmit": a refunded failure on a
    # retry_failed route): kept in the ledger so a crash between the two never drops it
    aftercare: str | None = None
    # the ledger version this copy was read at (0: never stored); every write is a
    # compare-and-swap on it
    version: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def spend(self) -> Decimal:
        """What this logical job cost across attempts, counting only charged ones."""
        return sum(
            (a.actual_cost or Decimal(0) for a in self.attempts if a.charged),
            start=Decimal(0),
        )


MediaLike = Media | str | Path | bytes


class MotionFields(TypedDict, total=False):
    id: str
    strength: float


class RequestFields(TypedDict, total=False):
    """The fields of a `GenerationRequest`, as keyword arguments of `Gateway.submit`,
    `run`, `estimate`, `explain` and `compare` (so an IDE and mypy catch ``promt=``)."""

    model: str
    task: Task | str
    prompt: str
    image: MediaLike
    end_image: MediaLike
    audio: MediaLike
    duration_s: int
    quality: str
    seed: int
    motion: Motion | MotionFields
    aspect_ratio: str
    resolution: str
    enhance_prompt: bool
    options: dict[str, Any]
    webhook_url: str
    idempotency_key: str
    labels: dict[str, str]
