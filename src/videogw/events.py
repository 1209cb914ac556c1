"""What users can observe about jobs: typed events delivered to callbacks.

```python
def on_event(event: videogw.JobEvent) -> None:
    match event:
        case FailedOver(job=job, provider=left, next_provider=to):
            print(f"{job.id}: {left} -> {to}: {event.reason}")

gateway.on_event(on_event)
```

Callbacks run synchronously inside the gateway operation that caused the event (sync and
async gateways alike), so they must be quick; an exception in one is logged and never
breaks the job. Every event is also logged on the ``videogw.events`` logger with the job id
in ``extra={"job_id": ...}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from .models import Job, JobStatus

__all__ = [
    "EventBus",
    "EventCallback",
    "FailedOver",
    "Finished",
    "JobEvent",
    "OutcomeUnknown",
    "StatusChanged",
    "Submitted",
]

log = logging.getLogger("videogw.events")


@dataclass(frozen=True, slots=True)
class JobEvent:
    kind: ClassVar[str] = "event"
    job: Job


@dataclass(frozen=True, slots=True)
class Submitted(JobEvent):
    """A provider accepted the job (`job.provider`, `job.provider_job_id`)."""

    kind: ClassVar[str] = "submitted"


@dataclass(frozen=True, slots=True)
class StatusChanged(JobEvent):
    kind: ClassVar[str] = "status_changed"
    previous: JobStatus | None = None


@dataclass(frozen=True, slots=True)
class FailedOver(JobEvent):
    """`provider` did not take (or refunded) the job; `next_provider` is tried next."""

    kind: ClassVar[str] = "failed_over"
    provider: str = ""
    next_provider: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OutcomeUnknown(JobEvent):
    """A submit's outcome is unknown: a paid job may exist; reconcile it."""

    kind: ClassVar[str] = "outcome_unknown"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Finished(JobEvent):
    """The job reached a terminal status (it may still be resubmitted by a route rule)."""

    kind: ClassVar[str] = "finished"


EventCallback = Callable[[JobEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._callbacks: list[EventCallback] = []

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call `callback` with every event; returns a function that unsubscribes it."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def emit(self, event: JobEvent) -> None:
        job = event.job
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "job %s: %s (%s, %s)",
                job.id,
                event.kind,
                job.provider,
                job.status.value,
                extra={"job_id": job.id, "provider": job.provider, "event": event.kind},
            )
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:
                # an observer's bug must never cost a job (or a second submit)
                log.exception(
                    "job %s: event callback %r failed", job.id, callback, extra={"job_id": job.id}
                )
