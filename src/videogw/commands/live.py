"""Live displays shared by `wait`, `run`, `resume` and the demo: job progress and downloads."""

from __future__ import annotations

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
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from ..download import DownloadPolicy, download
from ..models import Job, JobStatus
from .backend import default_output_path

__all__ = ["download_outputs", "follow"]


def describe(job: Job) -> str:
    where = f"{job.provider}" if job.provider else "?"
    text = f"{job.id[:12]} on {where}: [bold]{job.status.value}[/]"
    if job.raw_status and job.raw_status.lower() != job.status.value:
        text += f" [dim]({job.raw_status})[/]"
    return text


def follow(gateway: Any, job: Job, *, timeout: float | None, console: Console) -> Job:
    """`gateway.wait(job)` with a live line: status, a progress bar, elapsed time."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(describe(job), total=100)

        def on_progress(seen: Job) -> None:
            done = 1.0 if seen.status is JobStatus.succeeded else (seen.progress or 0.0)
            bar.update(task, description=describe(seen), completed=round(100 * done))

        on_progress(job)
        finished: Job = gateway.wait(job, timeout=timeout, on_progress=on_progress)
        on_progress(finished)
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
    directory = Path.cwd()
    if dest is not None and (dest.is_dir() or len(outputs) > 1):
        directory, dest = dest, None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        for index, output in enumerate(outputs):
            path = dest or default_output_path(job, index, directory)
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
