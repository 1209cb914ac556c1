"""Higgsfield as data: raw statuses with what each charges, and the error rules.

Sources: docs/providers/higgsfield.md (statuses and refunds: DOCS requests/billing; error
codes: DOCS errors, the JS SDK's NotEnoughCreditsError, community code).
"""

from __future__ import annotations

from videogw import JobStatus, errors
from videogw.provider import Purpose
from videogw.tables import ErrorRule, StatusTable

__all__ = ["ERRORS", "PROXY_ERRORS", "STATUSES"]

# Only completed requests are charged; failed, nsfw and cancelled-while-queued are refunded.
STATUSES = StatusTable(
    {
        "queued": (JobStatus.queued, None),
        "in_progress": (JobStatus.running, None),
        "completed": (JobStatus.succeeded, True),
        "failed": (JobStatus.failed, False),
        "nsfw": (JobStatus.content_filtered, False),
        "canceled": (JobStatus.cancelled, False),
    }
)

# First match wins; anything else falls to the core's table by HTTP status.
ERRORS = (
    ErrorRule(400, errors.NotCancellableError, purpose=Purpose.cancel),
    ErrorRule(400, errors.CapacityError, pattern="concurren"),  # the concurrency limit
    ErrorRule(400, errors.ContentRefusedError, pattern="nsfw|moderation|inappropriate|unsafe"),
    ErrorRule(403, errors.InsufficientCreditsError),  # an empty credit balance
)

# What the RapidAPI proxy itself answers (marketplace mode): its own 401/403 and 429.
PROXY_ERRORS = (
    ErrorRule(401, errors.AuthenticationError),
    ErrorRule(403, errors.AuthenticationError),
    ErrorRule(429, errors.RateLimitError),
)
