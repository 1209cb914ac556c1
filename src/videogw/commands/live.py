"""Live displays shared by `wait`, `run`, `resume`, `compare --run` and the demo: job
progress and downloads.

Every command that waits shows one line per job, redrawn ten times a second: the status,
a bar that moves with the job's expected duration (the provider's own progress when it
reports one), an ETA, and the time since the job was created (not since this command
started). Rows come from the gateway's events, so jobs submitted while the board is up
(`compare --run`) appear as they are submitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TransferSpeedColumn,
)

from ..download import DownloadPolicy, download, output_paths
from ..models import Job, JobStatus

__all__ = ["JobBoard", "download_outputs", "follow"]


def describe(job: Job) -> str:
    where = f"{job.provider}" if job.provider else "?"
    text = f"{job.id[:12]} on {where}: [bold]{job.status.value}[/]"
    if job.raw_status and job.raw_status.lower() != job.status.value:
        text += f" [dim]({job.raw_status})[/]"
    return text


RUNNING_CAP = 0.95  # an estimated bar stops short of the end until the job is done


def clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class _Board(Progress):
    """A `Progress` that recomputes every job's bar from the clock before each redraw."""

    def __init__(self, board: JobBoard, *columns: Any, **kwargs: Any) -> None:
        self.board = board
        super().__init__(*columns, **kwargs)

    def get_renderables(self) -> Iterable[Any]:
        self.board.tick()
        yield from super().get_renderables()


class JobBoard:
    """Live lines, one per job, for as long as the `with` block runs."""

    def __init__(self, gateway: Any, console: Console, jobs: Iterable[Job] = ()) -> None:
        self.gateway = gateway
        self.jobs: dict[str, Job] = {}
        self._tasks: dict[str, Any] = {}
        self._expected: dict[str, float | None] = {}
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[elapsed]}", style="dim"),
        )
        self.progress = _Board(self, *columns, console=console, refresh_per_second=10)
        self._unsubscribe: Any = None
        for job in jobs:
            self.show(job)

    def __enter__(self) -> JobBoard:
        subscribe = getattr(self.gateway, "on_event", None)
        if subscribe is not None:
            self._unsubscribe = subscribe(lambda event: self.show(event.job))
        self.progress.start()
        self.progress.refresh()  # on screen now, not at the first status change
        return self

    def __exit__(self, *exc: object) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.tick()
        self.progress.stop()

    def _now(self) -> datetime:
        clock = getattr(self.gateway, "clock", None)
        return clock.now() if clock is not None else datetime.now(UTC)

    def _expected_s(self, job: Job) -> float | None:
        if job.id not in self._expected or self._expected[job.id] is None:
            try:
                self._expected[job.id] = self.gateway.expected_seconds(job)
            except Exception:  # an estimate must never stop the display
                self._expected[job.id] = None
        return self._expected[job.id]

    def show(self, job: Job) -> None:
        """Add or update a job's line."""
        if job.id not in self._tasks:
            self._tasks[job.id] = self.progress.add_task(
                describe(job), total=100, eta="", elapsed=""
            )
        self.jobs[job.id] = job
        self._draw(job)

    def tick(self) -> None:
        for job in list(self.jobs.values()):
            self._draw(job)

    def _draw(self, job: Job) -> None:
        task = self._tasks.get(job.id)
        if task is None:
            return
        now = self._now()
        created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=UTC)
        elapsed = (now - created).total_seconds()
        started = job.submitted_at or job.created_at
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        running_for = (now - started).total_seconds()
        expected = self._expected_s(job)
        eta = ""
        if job.status is JobStatus.succeeded:
            done = 1.0
        elif job.is_terminal:
            done = job.progress or 0.0
        elif job.progress:
            done = job.progress
        elif expected:
            done = min(RUNNING_CAP, max(0.0, running_for / expected))
        else:
            done = 0.0
        if not job.is_terminal and expected:
            left = expected - running_for
            eta = f"ETA {clock_text(left)}" if left > 0 else "due any moment"
        self.progress.update(
            task,
            description=describe(job),
            completed=round(100 * done),
            eta=eta,
            elapsed=clock_text(elapsed),
        )


def follow(gateway: Any, job: Job, *, timeout: float | None, console: Console) -> Job:
    """`gateway.wait(job)` with a live line: status, a bar, ETA, time since creation."""
    with JobBoard(gateway, console, [job]) as board:
        finished: Job = gateway.wait(job, timeout=timeout, on_progress=board.show)
        board.show(finished)
    return finished


def download_outputs(
    gateway: Any,
    job: Job,
    *,
    dest: Path | None,
    policy: DownloadPolicy,
    console: Console,
    warn: Any,
) -> Job:
    """Download every output (progress bars), record path/size/sha256, save the job."""
    outputs = list(job.outputs)
    paths = output_paths(job.id, [o.url for o in outputs], dest)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        for index, output in enumerate(outputs):
            path = paths[index]
            task = bar.add_task(f"↓ {path.name}", total=None)

            def on_progress(done: int, total: int | None, task: Any = task) -> None:
                bar.update(task, completed=done, total=total)

            outputs[index] = download(
                output, path, policy=policy, on_progress=on_progress, on_warning=warn
            )
    done = tuple(outputs)
    saved: Job = gateway.recorder.change(
        job, lambda current: current.model_copy(update={"outputs": done})
    )
    return saved
