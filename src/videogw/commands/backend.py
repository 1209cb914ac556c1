"""Every call the CLI makes into the gateway, the router and the ledger, in one place.

The commands render plain dicts built here, so an API that grows (explain, compare,
resume) changes this module only. Where an API is missing the function says so and falls
back to what exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..compare import rows_from
from ..config import Config
from ..download import output_paths
from ..gateway import Gateway
from ..models import GenerationRequest, Job, JobStatus
from ..plugins import PluginFailure, ProviderInfo, list_providers
from ..quotes import Standing, order_text, strategy_of
from ..stats import ProviderStats
from ..store import JobStore, MemoryStore
from .common import JobNotStoredError

__all__ = [
    "compare_rows",
    "explain_rows",
    "find_jobs",
    "get_job",
    "open_gateway",
    "provider_rows",
    "quote_row",
    "resumable",
    "store_location",
]


def open_gateway(config: Config) -> Gateway:
    """A gateway on the config; it opens the ledger the config names (SQLite by default)."""
    return Gateway(config)


def store_location(store: JobStore) -> str:
    path = getattr(store, "path", None)
    if path is not None:
        return str(path)
    if isinstance(store, MemoryStore):
        return "memory (nothing is kept after this process)"
    return type(store).__name__


MIN_PREFIX = 6


def get_job(gateway: Any, job_id: str) -> Job:
    """A stored job by id, or by a unique prefix of at least six characters (tables show
    short ids)."""
    store: JobStore = gateway.store
    job = store.get(job_id)
    if job is not None:
        return job
    where = store_location(store)
    if len(job_id) >= MIN_PREFIX:
        found = store.find(id_prefix=job_id, limit=2)
        if len(found) == 1:
            return found[0]
        if found:
            raise JobNotStoredError(f"{job_id!r} matches {len(found)} jobs; give more of the id")
    short = "" if len(job_id) >= MIN_PREFIX else f"; a prefix needs {MIN_PREFIX}+ characters"
    raise JobNotStoredError(f"no job {job_id!r} in the ledger ({where}){short}")


def find_jobs(
    store: JobStore,
    *,
    statuses: Iterable[JobStatus] | None,
    provider: str | None,
    model: str | None,
    limit: int | None,
) -> list[Job]:
    """The newest `limit` matching jobs, oldest first."""
    newest = store.find(
        statuses=statuses, provider=provider, model=model, newest_first=True, limit=limit or None
    )
    return newest[::-1]


# -- providers and models ---------------------------------------------------------------------


def provider_rows(gateway: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    infos = {
        item.name: item
        for item in list_providers(gateway.registry)
        if isinstance(item, ProviderInfo)
    }
    for name in gateway.provider_names():
        row: dict[str, Any] = {"name": name, "status": "ok"}
        try:
            provider = gateway.provider(name)
        except Exception as exc:
            rows.append({**row, "status": "error", "error": str(exc)})
            continue
        info = infos.get(type(provider).name)
        caps = provider.capabilities
        row.update(
            plugin=info.plugin if info else None,
            version=info.version if info else None,
            display_name=provider.display_name or None,
            models=sorted(caps.models),
            tasks=sorted(t.value for t in caps.tasks),
            cancel=caps.cancel,
            webhooks=caps.webhooks,
            idempotency=caps.idempotency,
            catalogs=list(provider.catalog_kinds),
        )
        try:
            provider.check_ready()
            row["ready"] = True
        except Exception as exc:
            row.update(ready=False, not_ready=str(exc))
        rows.append(row)
    for item in list_providers(gateway.registry):
        if isinstance(item, PluginFailure):
            rows.append({"name": item.plugin, "status": "load_error", "error": item.error})
    return rows


def catalog_kinds(gateway: Any) -> dict[str, list[str]]:
    """The catalogs each loaded provider offers (providers without any left out)."""
    found: dict[str, list[str]] = {}
    for name in gateway.provider_names():
        try:
            kinds = list(gateway.provider(name).catalog_kinds)
        except Exception:  # noqa: S112 - shown by `providers`
            continue
        if kinds:
            found[name] = kinds
    return found


def model_rows(gateway: Any) -> list[dict[str, Any]]:
    models: dict[str, dict[str, Any]] = {}
    for name in gateway.provider_names():
        try:
            provider = gateway.provider(name)
        except Exception:  # noqa: S112 - shown by `providers`
            continue
        for neutral, spec in provider.capabilities.models.items():
            row = models.setdefault(neutral, {"model": neutral, "task": spec.task.value})
            row.setdefault("providers", []).append(
                {
                    "provider": name,
                    "provider_model": spec.provider_model,
                    "durations": list(spec.durations) if spec.durations else None,
                    "typical_seconds": spec.typical_seconds,
                }
            )
    for neutral, route in gateway.config.routes.items():
        if neutral in models:
            models[neutral]["route"] = route.model_dump(mode="json", exclude_defaults=True)
    return [models[k] for k in sorted(models)]


# -- estimate, explain, compare --------------------------------------------------------------


def quote_row(quote: Standing) -> dict[str, Any]:
    return {
        "position": quote.position,
        "provider": quote.provider,
        "model": quote.model,
        "provider_model": quote.provider_model,
        "candidate": quote.candidate,
        "estimate": quote.estimate,
        "why": quote.why,
        "reason": quote.reason,
    }


def _stats_dict(stats: ProviderStats | None) -> dict[str, Any] | None:
    return dataclasses.asdict(stats) if stats is not None else None


def order_line(gateway: Any, model: str, rows: list[Standing]) -> str:
    """The try order and why (the line above estimate, explain and compare tables)."""
    name = model.partition(":")[2] if ":" in model else model
    return order_text(name, gateway.router.route_for(name), rows)


def explain_rows(gateway: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """Which providers would take the request, in what order and why, and why the others
    would not: the same rows, in the same order, as estimate and compare."""
    request: GenerationRequest = gateway._request(None, fields)
    route = gateway.router.route_for(request.model_name)
    standings = rows_from(gateway.explain(request), request.model_name, route=route)
    rows = [{**quote_row(row), "stats": _stats_dict(row.stats)} for row in standings]
    return {
        "model": request.model,
        "route": route.model_dump(mode="json") if route is not None else None,
        "strategy": strategy_of(route),
        "order": [row.provider for row in standings if row.candidate],
        "order_text": order_text(request.model_name, route, standings),
        "providers": rows,
    }


def compare_rows(
    gateway: Any, fields: dict[str, Any], *, run: bool = False, timeout: float | None = None
) -> list[dict[str, Any]]:
    """Each provider's estimate next to what the ledger observed there for this model; with
    `run`, what a real job there measured."""
    rows = []
    for item in gateway.compare(run=run, timeout=timeout, **fields):
        row: dict[str, Any] = {**quote_row(item), "observed": _stats_dict(item.stats)}
        if run and item.candidate:
            job: Job | None = item.job
            row["measured"] = {
                "job": job.id if job else None,
                "status": job.status.value if job else "not run",
                "seconds": item.measured_latency_s,
                "actual_cost": item.actual_cost,
                "currency": item.actual_currency,
                "charged": job.charged if job else None,
                "error": item.run_error,
            }
        rows.append(row)
    return rows


def resumable(gateway: Any) -> list[Job]:
    """The jobs `resume` will track, shown before the first read: the ledger's open jobs
    (those another process holds are listed too, until the report says so)."""
    found = getattr(getattr(gateway, "store", None), "resumable", None)
    return list(found()) if found is not None else []


def resume(gateway: Any, *, timeout: float | None) -> dict[str, Any]:
    report = gateway.resume(timeout=timeout)
    return {
        "jobs": report.jobs,
        "unknown": report.unknown,
        "errors": dict(report.errors),
        "held": report.held,
    }


def spend_of(estimate: Any) -> tuple[Decimal | None, str | None]:
    """An estimate as (amount, unit) for totals: in USD where a rate is known, else in its
    own unit (credits, relay units), never silently dropped."""
    if estimate is None:
        return None, None
    amount = usd(estimate)
    if amount is not None:
        return amount, "USD"
    return estimate.amount, estimate.currency


def usd(value: Any) -> Decimal | None:
    if value is None:
        return None
    amount = getattr(value, "usd", None)
    if amount is None and getattr(value, "currency", None) == "USD":
        amount = value.amount
    return amount if isinstance(amount, Decimal) else None


def default_output_path(job: Job, index: int, directory: Path) -> Path:
    return output_paths(job.id, [o.url for o in job.outputs], directory)[index]
