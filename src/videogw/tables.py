"""The tables every provider plugin fills in, in one shape: raw statuses and error rules.

A plugin states *what* its provider says as data (``tables.py`` in the plugin) and keeps
*how* to read it in a few functions::

    STATUSES = StatusTable({
        "queued": (JobStatus.queued, None),
        "completed": (JobStatus.succeeded, True),      # charged
        "failed": (JobStatus.failed, False),           # refunded
    })
    ERRORS = (
        ErrorRule(403, errors.InsufficientCreditsError),
        ErrorRule(400, errors.CapacityError, pattern="concurren"),
        ErrorRule(400, errors.NotCancellableError, purpose=Purpose.cancel),
    )

The emulators read the same tables backwards (`StatusTable.raw`), so both sides of the
wire say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from .errors import ProviderError
from .models import CostEstimate, JobStatus
from .provider import Purpose

__all__ = ["PHASES", "ErrorRule", "StatusTable", "configured_price", "first_rule"]

#: an emulated job's phase (videogw.emulator) -> the neutral status it stands for
PHASES: Mapping[str, JobStatus] = {
    "queued": JobStatus.queued,
    "running": JobStatus.running,
    "succeeded": JobStatus.succeeded,
    "failed": JobStatus.failed,
    "error": JobStatus.failed,
    "nsfw": JobStatus.content_filtered,
    "cancelled": JobStatus.cancelled,
}


@dataclass(frozen=True)
class StatusTable:
    """raw status -> (neutral status, charged: True / False = refunded / None = unknown)."""

    rows: Mapping[str, tuple[JobStatus, bool | None]]

    @property
    def status_map(self) -> dict[str, JobStatus]:
        return {raw: status for raw, (status, _) in self.rows.items()}

    def charged(self, raw: object) -> bool | None:
        row = self.rows.get(raw) if isinstance(raw, str) else None
        return row[1] if row is not None else None

    def raw(self, status: JobStatus) -> str:
        """The first raw value that stands for `status` (what an emulator answers)."""
        return next(raw for raw, (neutral, _) in self.rows.items() if neutral is status)

    def phases(self) -> dict[str, str]:
        """An emulated job's phase -> the raw status the provider says for it."""
        return {phase: self.raw(status) for phase, status in PHASES.items()}


@dataclass(frozen=True)
class ErrorRule:
    """HTTP `status` (and optionally the call's `purpose` and a `pattern` in the provider's
    message) means `error`."""

    status: int
    error: type[ProviderError]
    purpose: Purpose | None = None
    pattern: str | None = None
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pattern is not None:
            object.__setattr__(self, "_regex", re.compile(self.pattern, re.IGNORECASE))

    def matches(self, status: int, purpose: Purpose, message: str) -> bool:
        return (
            self.status == status
            and (self.purpose is None or self.purpose is purpose)
            and (self._regex is None or bool(self._regex.search(message)))
        )


def first_rule(
    rules: Iterable[ErrorRule], status: int, purpose: Purpose, message: str
) -> type[ProviderError] | None:
    """The error class of the first rule that matches, else None."""
    return next((r.error for r in rules if r.matches(status, purpose, message)), None)


def configured_price(amount: Decimal, instance: str, key: str, what: str) -> CostEstimate:
    """The estimate for a price set in the config (``[providers.X] prices``), in USD."""
    return CostEstimate(
        amount=amount,
        usd=amount,
        basis=f"configured price, {what}",
        source=f"config: [providers.{instance}] prices.{key}",
        origin="config",
    )
