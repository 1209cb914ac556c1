"""Pixazo as data: statuses with what each charges, the models, what it has no field for.

Sources: docs/providers/pixazo.md (seed 003: statuses, "ERROR … not charged", models).
"""

from __future__ import annotations

from videogw import Capabilities, JobStatus, ModelSpec, Task, errors
from videogw.tables import ErrorRule, StatusTable

__all__ = ["CAPABILITIES", "ERRORS", "NOT_SENDABLE", "STATUSES"]

# COMPLETED is billed; ERROR is "not charged"; whether FAILED is charged is undocumented.
STATUSES = StatusTable(
    {
        "QUEUED": (JobStatus.queued, None),
        "PROCESSING": (JobStatus.running, None),
        "COMPLETED": (JobStatus.succeeded, True),
        "FAILED": (JobStatus.failed, None),
        "ERROR": (JobStatus.failed, False),
    }
)


def _spec(provider_model: str) -> ModelSpec:
    # Every Pixazo DoP clip is 5 s. Typical time: the seed's terminal-callback example ran
    # from created 13:17:32 to completed 13:19:23 (about 111 s).
    return ModelSpec(
        provider_model=provider_model,
        task=Task.image_to_video,
        durations=(5,),
        default_duration=5,
        local_files=False,
        end_image=True,
        typical_seconds=110.0,
    )


CAPABILITIES = Capabilities(
    models={
        "dop-lite": _spec("dop-lite"),
        "dop-turbo": _spec("dop-turbo"),
        "dop-standard": _spec("dop-preview"),  # declared equal by price (see the doc page)
    },
    cancel=False,
    webhooks=True,
    idempotency=False,
)

# Pixazo has no parameter for these: a request that sets one is not a Pixazo candidate
# rather than silently getting something else.
NOT_SENDABLE = {
    "audio": "Pixazo's DoP endpoint takes no audio",
    "aspect_ratio": "Pixazo's DoP endpoint has no aspect ratio (the clip follows the image)",
    "resolution": "Pixazo's DoP endpoint has no resolution setting",
    "quality": "Pixazo's DoP endpoint has no quality setting (pick dop-lite/-turbo/-standard)",
}

# Read against "title: detail" of {"error", "message"}; the rest is the core's table by
# status (402 out of balance, 401/403 auth, 429, 5xx).
ERRORS = (
    ErrorRule(
        400, errors.ModelUnavailableError, pattern=r"^model not found|not found or is disabled"
    ),
)
