"""Events users can observe, and logging with the job id."""

from __future__ import annotations

import logging

import pytest

from routing_kit import Kit, request
from videogw import JobStatus
from videogw.emulator import FaultProfile
from videogw.events import (
    FailedOver,
    Finished,
    JobEvent,
    OutcomeUnknown,
    StatusChanged,
    Submitted,
)
from videogw.testing import maybe_await


async def test_a_failover_then_success_tells_the_whole_story(kit: Kit) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:503*1")
    gw = kit.gateway({"candidates": ["toy", "toy2"]})
    events: list[JobEvent] = []
    gw.on_event(events.append)
    job = await maybe_await(gw.run(request()))
    kinds = [e.kind for e in events]
    assert kinds[0] == "failed_over"
    assert kinds[-2:] == ["status_changed", "finished"]
    assert "submitted" in kinds
    over = next(e for e in events if isinstance(e, FailedOver))
    assert (over.provider, over.next_provider) == ("toy", "toy2")
    assert "503" in over.reason
    submitted = next(e for e in events if isinstance(e, Submitted))
    assert submitted.job.provider == "toy2"
    changes = [(e.previous, e.job.status) for e in events if isinstance(e, StatusChanged)]
    assert changes[0] == (JobStatus.unknown, JobStatus.queued)  # accepted
    assert changes[-1][1] is JobStatus.succeeded
    finished = [e for e in events if isinstance(e, Finished)]
    assert [e.job.id for e in finished] == [job.id]
    assert all(e.job.id == job.id for e in events)


async def test_an_unknown_outcome_is_an_event(kit: Kit) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:drop_after_accept*1")
    gw = kit.gateway({"candidates": ["toy"]})
    events: list[JobEvent] = []
    gw.on_event(events.append)
    job = await maybe_await(gw.submit(request()))
    unknown = [e for e in events if isinstance(e, OutcomeUnknown)]
    assert [e.job.id for e in unknown] == [job.id]


async def test_a_failing_callback_never_breaks_the_job(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    gw = kit.gateway({"candidates": ["toy"]})

    def broken(event: JobEvent) -> None:
        raise RuntimeError("observer bug")

    seen: list[str] = []
    gw.on_event(broken)
    unsubscribe = gw.on_event(lambda e: seen.append(e.kind))
    with caplog.at_level(logging.ERROR, logger="videogw.events"):
        job = await maybe_await(gw.run(request()))
    assert job.status is JobStatus.succeeded
    assert "observer bug" in caplog.text
    assert seen
    unsubscribe()
    count = len(seen)
    await maybe_await(gw.submit(request()))
    assert len(seen) == count


async def test_logs_carry_the_job_id(kit: Kit, caplog: pytest.LogCaptureFixture) -> None:
    kit.emulator("toy").faults = FaultProfile.parse("submit:503*1")
    gw = kit.gateway({"candidates": ["toy", "toy2"]})
    with caplog.at_level(logging.DEBUG, logger="videogw"):
        job = await maybe_await(gw.submit(request()))
    tagged = [r for r in caplog.records if getattr(r, "job_id", None) == job.id]
    assert any("accepted by toy2" in r.getMessage() for r in tagged)
    assert any("toy did not take it" in r.getMessage() for r in tagged)
