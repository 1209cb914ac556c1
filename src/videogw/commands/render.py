"""Rich renderings of what the commands print for people (``--json`` prints data instead)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..compare import job_seconds
from ..models import AttemptOutcome, CostEstimate, Job, JobStatus
from ..redact import redact

__all__ = ["job_panel", "job_table", "money", "quotes_table"]

SHORT_ID = 12  # job ids in tables; `status`, `wait`... accept any unique prefix

STATUS_STYLE = {
    JobStatus.queued: "yellow",
    JobStatus.running: "cyan",
    JobStatus.succeeded: "green",
    JobStatus.failed: "red",
    JobStatus.content_filtered: "magenta",
    JobStatus.cancelled: "dim",
    JobStatus.expired: "dim",
    JobStatus.unknown: "bold red",
}


def refusal(job: Job) -> str | None:
    """``"refused by all N providers, nothing charged"`` when no attempt reached a
    provider job (each was refused or not sent); None otherwise."""
    if job.provider_job_id is not None or not job.attempts:
        return None
    if any(
        a.outcome not in (AttemptOutcome.rejected, AttemptOutcome.not_sent) for a in job.attempts
    ):
        return None
    count = len({a.provider for a in job.attempts})
    if count == 1:
        return "refused by its only provider, nothing charged"
    return f"refused by all {count} providers, nothing charged"


def refusal_line(job: Job) -> str | None:
    """The refusal and every provider's reason, on one line."""
    summary = refusal(job)
    if summary is None:
        return None
    reasons = "; ".join(
        f"{a.provider}: {redact(_reason(a.reason or a.outcome.value, a.provider))}"
        for a in job.attempts
    )
    return f"job {job.id} {summary}: {reasons}"


def _reason(text: str, provider: str) -> str:
    """'CapacityError: toy HTTP 503: x' -> 'HTTP 503: x' (the provider is named already)."""
    head, sep, rest = text.partition(": ")
    if sep and head.endswith("Error"):
        text = rest
    return text.removeprefix(f"{provider}: ").removeprefix(f"{provider} ")


def status_text(status: JobStatus) -> Text:
    return Text(status.value, style=STATUS_STYLE.get(status, ""))


UNIT_NAMES = {"credits": ("credit", "credits"), "units": ("relay unit", "relay units")}


def money(amount: Decimal | None, currency: str | None = "USD") -> str:
    """An amount in its own unit, said plainly: $0.14, 12 credits, 1 relay unit."""
    if amount is None:
        return "—"
    if currency == "USD":
        exact = amount.normalize()
        places = -int(exact.as_tuple().exponent)
        return f"${amount:.2f}" if places <= 2 else f"${exact:f}"
    one, many = UNIT_NAMES.get(currency or "", (currency or "", currency or ""))
    return f"{amount.normalize():f} {one if amount == 1 else many}"


def totals(amounts: Iterable[tuple[Decimal | None, str | None]]) -> str:
    """A sum per unit, never across units: "$0.27 + 12 credits"."""
    sums: dict[str, Decimal] = {}
    for amount, currency in amounts:
        if amount is not None:
            sums[currency or "USD"] = sums.get(currency or "USD", Decimal(0)) + amount
    return " + ".join(money(total, unit) for unit, total in sums.items()) or "an unknown amount"


def estimate_text(estimate: CostEstimate | None, *, short: bool = False) -> str:
    if estimate is None:
        return "—"
    text = money(estimate.amount, estimate.currency)
    if short:
        return text
    if estimate.is_range:
        low, high = money(estimate.low, estimate.currency), money(estimate.high, estimate.currency)
        text += f" ({low} to {high})"
    if estimate.currency != "USD" and estimate.usd is not None:
        text += f" ≈ {money(estimate.usd)}"
    return text


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def short_basis(text: str) -> str:
    """The first clause of an estimate's basis (the whole text is in --json)."""
    for mark in (";", " ("):
        text = text.split(mark, 1)[0]
    return text


def _samples(row: dict[str, Any]) -> int:
    stats = row.get("observed") or row.get("stats") or {}
    return int(stats.get("samples") or 0)


def quotes_table(rows: Iterable[dict[str, Any]], *, title: str) -> Table:
    """Providers in the order they would be tried (#), then those that would not be, each
    with why; the estimate in its own unit (USD, credits or a relay's units)."""
    rows = list(rows)
    observed = any(_samples(row) for row in rows)
    table = Table(title=Text(title), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("provider", style="bold")
    table.add_column("provider model")
    table.add_column("estimate", justify="right")
    if observed:
        table.add_column("p50", justify="right")
        table.add_column("success", justify="right")
        table.add_column("mean cost", justify="right")
    table.add_column("why here / why not")
    for row in rows:
        estimate = row.get("estimate")
        candidate = row.get("candidate", True)
        note = row.get("why") or row.get("reason") or ("" if candidate else "not a candidate")
        if candidate and estimate is not None:
            note = f"{note}; {short_basis(estimate.basis)}" if note else short_basis(estimate.basis)
        position = row.get("position")
        cells = [
            str(position) if position else "—",
            row["provider"],
            row.get("provider_model") or "—",
            estimate_text(estimate),
        ]
        if observed:
            stats = row.get("observed") or row.get("stats") or {}
            rate = stats.get("success_rate")
            cells += [
                seconds(stats.get("p50_s")),
                "—" if rate is None else f"{rate:.0%} of {stats.get('samples', 0)}",
                money(stats.get("mean_cost_usd")),
            ]
        style = None if candidate else "dim"
        table.add_row(*cells, Text(redact(note), overflow="fold"), style=style)
    return table


def job_table(jobs: Iterable[Job], *, title: str = "jobs") -> Table:
    """Jobs, one a line; ids are shortened (any unique prefix works as a job id)."""
    table = Table(title=title, title_justify="left")
    table.add_column("id", no_wrap=True, style="bold")
    for name in ("model", "provider", "status", "cost", "created"):
        table.add_column(name, justify="right" if name == "cost" else "left", no_wrap=True)
    for job in jobs:
        table.add_row(
            job.id[:SHORT_ID],
            job.model,
            job.provider or "—",
            status_text(job.status),
            money(job.actual_cost, job.cost_currency or "USD"),
            f"{job.created_at:%m-%d %H:%M}",
        )
    return table


def job_panel(job: Job) -> Panel:
    lines = Table.grid(padding=(0, 2))
    lines.add_column(style="bold")
    lines.add_column()
    lines.add_row("job", job.id)
    lines.add_row("model", f"{job.model} → {job.provider or '?'} {job.provider_model or ''}")
    refused = refusal(job)
    if job.provider_job_id:
        lines.add_row("provider job", job.provider_job_id)
    elif refused:
        lines.add_row("provider job", f"— (none: {refused})")
    elif job.status is JobStatus.unknown:
        lines.add_row("provider job", "— (none: outcome unknown, a paid job may exist)")
    else:
        lines.add_row("provider job", "—")
    status = status_text(job.status)
    if refused:
        status.append(f"  {refused}", style="bold")
    if job.raw_status:
        status.append(f"  (provider says {job.raw_status!r})", style="dim")
    lines.add_row("status", status)
    if job.error is not None:
        lines.add_row("error", f"{job.error.kind}: {redact(job.error.message)}")
    lines.add_row("estimate", estimate_text(job.estimate))
    charged = {True: "charged", False: "not charged", None: "charge unknown"}[job.charged]
    lines.add_row("cost", f"{money(job.actual_cost, job.cost_currency or 'USD')} ({charged})")
    took, clock = job_seconds(job)
    if took is not None:
        whose = "by the provider's clock" if clock == "provider" else "until videogw saw it end"
        lines.add_row("took", f"{took:.1f} s ({whose})")
    for output in job.outputs:
        lines.add_row("output", Text(output.url, overflow="ellipsis", no_wrap=True))
        if output.path:
            lines.add_row("saved", f"{output.path} ({output.size or 0:,} bytes)")
    attempts = Table(title="attempts", title_justify="left", box=None, padding=(0, 1))
    for name in ("#", "provider", "outcome", "status", "charged", "why it ended"):
        attempts.add_column(name)
    for n, attempt in enumerate(job.attempts, 1):
        attempts.add_row(
            str(n),
            attempt.provider,
            attempt.outcome.value,
            attempt.status.value if attempt.status else "—",
            {True: "yes", False: "no", None: "?"}[attempt.charged],
            Text(redact(attempt.reason or ""), overflow="fold"),
        )
    return Panel(Group(lines, Text(""), attempts), title="job", title_align="left")


def print_rows(
    console: Console, rows: list[dict[str, Any]], columns: list[str], title: str
) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(_cell(row.get(c))) for c in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)
