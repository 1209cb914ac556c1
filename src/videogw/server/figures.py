"""What the dashboard, the spend endpoint and /metrics show, read from the ledger and the
gateway's in-process health state."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..ledger import Ledger
from ..models import Job
from ..stats import facts_from_job

__all__ = ["SpendRow", "health_rows", "latency_rows", "recent_jobs", "spend_rows"]

SCAN_LIMIT = 20_000  # the newest jobs read for figures


@dataclass(frozen=True)
class SpendRow:
    day: str  # YYYY-MM-DD (UTC), by when the attempt ended
    provider: str
    model: str
    spend_usd: Decimal
    jobs: int


def recent_jobs(ledger: Ledger, limit: int = SCAN_LIMIT) -> list[Job]:
    return ledger.find(newest_first=True, limit=limit)


def spend_rows(
    jobs: list[Job], *, days: int = 7, client_key: str | None = None, now: datetime | None = None
) -> list[SpendRow]:
    """USD charged per day, provider and model over the last `days` days (oldest first)."""
    now = now or datetime.now(UTC)
    first = (now - timedelta(days=max(days, 1) - 1)).date()
    totals: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    counted: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for job in jobs:
        if client_key is not None and job.labels.get("client_key") != client_key:
            continue
        for fact in facts_from_job(job):
            if not fact.charged or fact.cost_usd is None or fact.ended_at is None:
                continue
            day = datetime.fromtimestamp(fact.ended_at, UTC).date()
            if day < first:
                continue
            key = (day.isoformat(), fact.provider, fact.model)
            totals[key] += fact.cost_usd
            counted[key].add(fact.job_id)
    return [
        SpendRow(day, provider, model, totals[(day, provider, model)], len(counted[key]))
        for key in sorted(totals)
        for day, provider, model in [key]
    ]


def latency_rows(ledger: Ledger, jobs: list[Job]) -> list[dict[str, Any]]:
    """The ledger's p50/p95 latency and success rate per provider and model seen."""
    pairs = sorted({(a.provider, j.model) for j in jobs for a in j.attempts})
    rows = []
    for provider, model in pairs:
        stats = ledger.stats(provider, model)
        rows.append(
            {
                "provider": provider,
                "model": model,
                "samples": stats.samples,
                "latency_samples": stats.latency_samples,
                "p50_s": stats.p50_s,
                "p95_s": stats.p95_s,
                "success_rate": stats.success_rate,
            }
        )
    return rows


def health_rows(gateway: Any) -> list[dict[str, Any]]:
    """Per provider: breakers that are not closed, cool-down, credit standing."""
    health = gateway.health
    breakers = health.breakers
    now = breakers._now()
    rows = []
    for name in gateway.provider_names():
        opened = []
        for (provider, model), breaker in list(breakers._breakers.items()):
            if provider == name:
                state = breaker.state(now)
                if state.value != "closed":
                    opened.append({"model": model, "state": state.value})
        until = breakers._cool_until.get(name)
        cooling = max(0.0, until - now) if until is not None else 0.0
        mark = health.credits._marks.get(name)
        remaining = health.credits.remaining(name)
        rows.append(
            {
                "provider": name,
                "breakers": opened,
                "cooldown_s": round(cooling, 1),
                "disabled": mark.reason if mark is not None else None,
                "remaining_credits": remaining,
                "ok": not opened and not cooling and mark is None,
            }
        )
    return rows
