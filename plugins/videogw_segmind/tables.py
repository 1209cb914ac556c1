"""Segmind as data: statuses with what each charges, error rules, the models it serves.

Sources: docs/providers/segmind.md (statuses: the SDK's v2.py; billing and error codes:
Segmind's docs as compiled by api-evangelist; models: the segmind.com model pages).
"""

from __future__ import annotations

from videogw import Capabilities, JobStatus, ModelSpec, Task, errors
from videogw.provider import Purpose
from videogw.tables import ErrorRule, StatusTable

from .prices import DOP_MODELS
from .wire import DOP_SLUG, SPEAK_SLUG

__all__ = ["CAPABILITIES", "ERRORS", "SPEAK_DEFAULT_QUALITY", "STATUSES", "TERMINAL_RAW"]

# Billed only for COMPLETED (a v2 job) or HTTP 200 (v1); FAILED is free.
STATUSES = StatusTable(
    {
        "QUEUED": (JobStatus.queued, None),
        "PROCESSING": (JobStatus.running, None),
        "COMPLETED": (JobStatus.succeeded, True),
        "FAILED": (JobStatus.failed, False),  # served with HTTP 422
    }
)
TERMINAL_RAW = ("COMPLETED", "FAILED")

# 406 is either too little credit or a bad Content-Type: told apart by the message.
ERRORS = (
    ErrorRule(406, errors.ProviderRejectedError, pattern="content.type"),
    ErrorRule(406, errors.InsufficientCreditsError),
    ErrorRule(403, errors.ModelUnavailableError, purpose=Purpose.submit),  # not for this team
)

SPEAK_DEFAULT_QUALITY = "high"  # the model page's default; it decides the price

_DOP = ModelSpec(provider_model=DOP_SLUG, task=Task.image_to_video, typical_seconds=180)
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
        **dict.fromkeys(DOP_MODELS, _DOP),
    },
    cancel=False,
    webhooks=False,
    idempotency=False,
)
