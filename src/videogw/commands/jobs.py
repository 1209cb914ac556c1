"""Job commands: submit, status, wait, cancel, run, download, jobs, resume."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..download import DownloadPolicy
from ..errors import InvalidRequestError
from ..models import Job, JobStatus
from . import backend, render
from .common import Code, JsonOpt, emit_json, guarded, request_options, state
from .live import JobBoard, download_outputs, follow

__all__ = ["cancel", "download", "jobs", "resume", "run", "spend", "status", "submit", "wait"]


class SpendBy(StrEnum):
    provider = "provider"
    model = "model"
    day = "day"


JobId = Annotated[str, typer.Argument(help="A job id (as printed by submit, or from `jobs`).")]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        min=0,
        max=10**9,
        help="Give up waiting after this many seconds.",
    ),
]
MAX_LIMIT = 10**9  # jobs; SQLite's LIMIT is a 64-bit integer
Output = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", metavar="PATH", help="File (or directory) to save the output to."
    ),
]
AllowPrivate = Annotated[
    bool | None,
    typer.Option(
        "--allow-private/--no-allow-private",
        help="Allow output URLs on private/loopback addresses and plain http (emulators only);"
        " default: [download] allow_private in the config, else no.",
        show_default=False,
    ),
]
MaxBytes = Annotated[
    int | None,
    typer.Option(
        "--max-bytes",
        metavar="BYTES",
        min=1,
        help="Refuse outputs larger than this; default: [download] max_bytes (2 GiB).",
    ),
]


def show(job: Job, json_out: bool) -> None:
    if json_out:
        emit_json(job.model_dump(mode="json"))
    else:
        state().out.print(render.job_panel(job))


def finish(job: Job) -> None:
    """Exit 1 unless the job succeeded."""
    if job.status is not JobStatus.succeeded:
        raise typer.Exit(int(Code.failed))


@guarded
@request_options
def submit(request: dict[str, Any], json_out: JsonOpt = False) -> None:
    """Validate, pick a provider (failing over as the money rules allow), submit once."""
    st = state()
    job = st.gateway().submit(**request)
    if json_out:
        emit_json(job.model_dump(mode="json"))
    else:
        st.out.print(
            f"job [bold]{job.id}[/] accepted by {job.provider} as {job.provider_job_id} "
            f"({job.status.value})"
            if job.provider_job_id
            else f"job [bold]{job.id}[/]: {job.status.value}",
            highlight=False,
        )
    if job.provider_job_id is None:
        st.note(
            f"the submit to {job.provider} has an unknown outcome: a paid job may exist there; "
            "videogw will not resubmit it anywhere (reconcile with the provider)"
        )
        raise typer.Exit(int(Code.provider))


@guarded
def status(
    job_id: JobId,
    local: Annotated[
        bool, typer.Option("--local", help="Show the ledger's copy; ask no provider.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """A job's status: read from its provider (and recorded), or --local from the ledger."""
    gateway = state().gateway()
    job = backend.get_job(gateway, job_id)
    if not local and not job.is_terminal and job.provider_job_id is not None:
        job = gateway.status(job)
    show(job, json_out)


@guarded
def wait(job_id: JobId, timeout: Timeout = None, json_out: JsonOpt = False) -> None:
    """Wait for a job with a live status line, progress and elapsed time. Exit 0 only if it
    succeeded."""
    st = state()
    gateway = st.gateway()
    job = backend.get_job(gateway, job_id)
    if not job.is_terminal:
        job = follow(gateway, job, timeout=timeout, console=st.err)
    show(job, json_out)
    finish(job)


@guarded
def cancel(job_id: JobId, json_out: JsonOpt = False) -> None:
    """Cancel a job at its provider (where the provider offers cancelling)."""
    gateway = state().gateway()
    job = gateway.cancel(backend.get_job(gateway, job_id))
    show(job, json_out)


def check_output(output: Path | None) -> None:
    """Refuse an --output that cannot be written before anything is submitted or fetched."""
    if output is None:
        return
    if output.exists() and not (output.is_file() or output.is_dir()):
        raise InvalidRequestError(
            f"{output} is not a regular file or a directory", field="--output"
        )
    directory = output if output.is_dir() else output.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent  # the download creates the missing directories
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise InvalidRequestError(
            f"cannot write {output} ({directory}: {exc.strerror or exc})", field="--output"
        ) from None


def _save(
    gateway: Any, job: Job, output: Path | None, allow_private: bool | None, max_bytes: int | None
) -> Job:
    """Download `job`'s outputs under the command line's choices, else the config file's
    [download] table, with progress on stderr."""
    st = state()
    defaults = gateway.config.download
    policy = DownloadPolicy(
        allow_private=defaults.allow_private if allow_private is None else allow_private,
        max_bytes=defaults.max_bytes if max_bytes is None else max_bytes,
    )
    return download_outputs(
        gateway,
        job,
        dest=output,
        policy=policy,
        console=st.err,
        warn=lambda text: st.note(f"warning: {text}"),
    )


@guarded
@request_options
def run(
    request: dict[str, Any],
    output: Output = None,
    no_download: Annotated[bool, typer.Option("--no-download", help="Keep only the URL.")] = False,
    allow_private: AllowPrivate = None,
    max_bytes: MaxBytes = None,
    timeout: Timeout = None,
    json_out: JsonOpt = False,
) -> None:
    """Submit, wait with live progress, then download the output with a progress bar."""
    st = state()
    if not no_download:
        check_output(output)
    gateway = st.gateway()
    job = gateway.submit(**request)
    if job.provider_job_id is None:
        show(job, json_out)
        st.note("the submit's outcome is unknown: reconcile with the provider; not waiting")
        raise typer.Exit(int(Code.provider))
    st.note(f"job {job.id} accepted by {job.provider} as {job.provider_job_id}")
    job = follow(gateway, job, timeout=timeout, console=st.err)
    if job.status is JobStatus.succeeded and job.outputs and not no_download:
        job = _save(gateway, job, output, allow_private, max_bytes)
    show(job, json_out)
    finish(job)


@guarded
def download(
    job_id: JobId,
    output: Output = None,
    allow_private: AllowPrivate = None,
    max_bytes: MaxBytes = None,
    json_out: JsonOpt = False,
) -> None:
    """Download a finished job's outputs (https only; size and sha256 go to the ledger)."""
    st = state()
    check_output(output)
    gateway = st.gateway()
    job = backend.get_job(gateway, job_id)
    if not job.outputs:
        st.note(f"job {job.id} has no outputs ({job.status.value})")
        raise typer.Exit(int(Code.failed))
    job = _save(gateway, job, output, allow_private, max_bytes)
    show(job, json_out)


@guarded
def jobs(
    status: Annotated[
        list[JobStatus] | None, typer.Option("--status", "-s", help="Only these (repeatable).")
    ] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="Only this provider.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this neutral model.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only jobs not finished.")] = False,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", min=0, max=MAX_LIMIT, help="The newest N (0: all)."),
    ] = 50,
    json_out: JsonOpt = False,
) -> None:
    """Jobs in the ledger, newest last, with filters."""
    st = state()
    statuses = status or None
    if open_only:
        statuses = [s for s in (statuses or list(JobStatus)) if not s.is_terminal]
    found = backend.find_jobs(
        st.store(), statuses=statuses, provider=provider, model=model, limit=limit
    )
    if json_out:
        emit_json([job.model_dump(mode="json") for job in found])
        return
    where = backend.store_location(st.store())
    st.out.print(render.job_table(found, title=f"jobs ({len(found)}) in {where}"))


@guarded
def resume(timeout: Timeout = None, json_out: JsonOpt = False) -> None:
    """After a crash or restart: track every unfinished job to the end; list submits whose
    outcome is unknown (never resubmitted). Exit 1 if any did not succeed or need
    reconciling."""
    st = state()
    gateway = st.gateway()
    with JobBoard(gateway, st.err, backend.resumable(gateway)):
        report = backend.resume(gateway, timeout=timeout)
    if json_out:
        emit_json(report)
    else:
        st.out.print(render.job_table(report["jobs"], title=f"resumed ({len(report['jobs'])})"))
        for job in report["unknown"]:
            st.out.print(
                f"[bold red]reconcile[/] job {job.id}: submit to {job.provider} has an unknown "
                "outcome (a paid job may exist there)",
                highlight=False,
            )
        for job_id, error in report["errors"].items():
            st.note(f"job {job_id}: {error}")
        if report["held"]:
            st.note(
                f"{len(report['held'])} open jobs are being tracked by another process (their "
                "leases are live); they were left to it, and are taken over here once it stops"
            )
    ok = all(job.status is JobStatus.succeeded for job in report["jobs"])
    if not ok or report["unknown"] or report["errors"]:
        raise typer.Exit(int(Code.failed))


SINCE = re.compile(r"^(\d+)\s*([dhm])$")


def parse_since(text: str | None, now: datetime) -> datetime | None:
    """``7d``, ``24h``, ``30m``, a date (``2026-11-01``) or an ISO time; None: all time."""
    if not text:
        return None
    relative = SINCE.match(text.strip().lower())
    if relative:
        count, unit = int(relative.group(1)), relative.group(2)
        seconds = count * {"d": 86400, "h": 3600, "m": 60}[unit]
        if seconds > 100 * 365 * 86400:
            raise InvalidRequestError("at most 100 years back", field="--since")
        return now - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequestError(
            f"expected 7d, 24h, 30m, a date (2026-11-01) or an ISO time, got {text!r}",
            field="--since",
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@guarded
def spend(
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="WHEN", help="7d, 24h, a date or an ISO time (default: all)."
        ),
    ] = None,
    by: Annotated[
        SpendBy, typer.Option("--by", help="Group by provider, model or day (UTC).")
    ] = SpendBy.provider,
    json_out: JsonOpt = False,
) -> None:
    """What was spent, from the ledger: per provider, model or day, each unit on its own
    (USD, credits, relay units are never added together)."""
    st = state()
    store = st.store()
    start = parse_since(since, datetime.now(UTC))
    groups: dict[str, dict[str, Any]] = {}
    total: dict[str, Decimal] = {}
    for job in store.find(newest_first=True):
        created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=UTC)
        if start is not None and created < start:
            break  # newest first: everything after this is older
        key = {
            SpendBy.provider: job.provider or "—",
            SpendBy.model: job.model,
            SpendBy.day: f"{created:%Y-%m-%d}",
        }[by]
        row = groups.setdefault(
            key, {by.value: key, "jobs": 0, "charged": 0, "charge_unknown": 0, "spent": {}}
        )
        row["jobs"] += 1
        if job.charged is None and job.is_terminal:
            row["charge_unknown"] += 1
        if job.charged is not False and job.actual_cost is not None:
            unit = job.cost_currency or "USD"
            row["charged"] += 1
            row["spent"][unit] = row["spent"].get(unit, Decimal(0)) + job.actual_cost
            total[unit] = total.get(unit, Decimal(0)) + job.actual_cost
    rows = [groups[k] for k in sorted(groups)]
    if json_out:
        emit_json(
            {
                "since": start.isoformat() if start else None,
                "by": by.value,
                "rows": rows,
                "total": total,
            }
        )
        return
    where = backend.store_location(store)
    window = f"since {start:%Y-%m-%d %H:%M} UTC" if start else "all time"
    table_rows = [
        {**row, "spent": render.totals((v, k) for k, v in row["spent"].items())} for row in rows
    ]
    columns = [by.value, "jobs", "charged", "spent", "charge_unknown"]
    render.print_rows(st.out, table_rows, columns, f"spend by {by.value}, {window} ({where})")
    st.out.print(
        f"total: {render.totals((v, k) for k, v in total.items())}", highlight=False, markup=False
    )
