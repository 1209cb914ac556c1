"""Read commands: providers, models, catalog, estimate, explain, compare."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..errors import UnsupportedOperationError
from . import backend, render
from .common import JsonOpt, emit_json, guarded, request_options, state
from .live import JobBoard

__all__ = ["catalog", "compare", "estimate", "explain", "models", "providers"]


@guarded
def providers(json_out: JsonOpt = False) -> None:
    """Loaded provider plugins: version, readiness, capabilities, and plugins that failed."""
    st = state()
    rows = backend.provider_rows(st.gateway())
    if json_out:
        st.note(st.config_line())
        emit_json(rows)
        return
    out = st.out
    out.print(st.config_line(), highlight=False, markup=False)
    loaded = [{**r, "models": len(r["models"])} for r in rows if r["status"] == "ok"]
    columns = ["name", "plugin", "version", "models", "catalogs", "cancel", "webhooks", "ready"]
    render.print_rows(out, loaded, columns, "providers")
    for row in rows:
        if row["status"] != "ok":
            out.print(f"{row['name']}: {row['status']}: {row['error']}", style="red", markup=False)
        elif not row.get("ready"):
            out.print(f"{row['name']} not ready: {row['not_ready']}", markup=False)


@guarded
def models(json_out: JsonOpt = False) -> None:
    """Neutral models and which providers serve each (and the configured route)."""
    rows = backend.model_rows(state().gateway())
    if json_out:
        emit_json(rows)
        return
    table_rows = [
        {
            "model": r["model"],
            "task": r["task"],
            "providers": [f"{p['provider']} ({p['provider_model']})" for p in r["providers"]],
            "route": " > ".join(r["route"]["candidates"]) if r.get("route") else None,
        }
        for r in rows
    ]
    render.print_rows(state().out, table_rows, ["model", "task", "providers", "route"], "models")


@guarded
def catalog(
    provider: Annotated[str | None, typer.Argument(help="Only this provider.")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="motions, avatars, voices, sounds...")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Catalogs (motion presets, avatar presets, voices, sounds) of providers that have them."""
    st = state()
    gateway = st.gateway()
    names = [provider] if provider else gateway.provider_names()
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    offered = backend.catalog_kinds(gateway)
    elsewhere = "; ".join(f"{n}: {', '.join(k)}" for n, k in offered.items()) or "none"
    if provider and not gateway.provider(provider).catalog_kinds:
        raise UnsupportedOperationError(
            f"{provider} has no catalogs; providers with catalogs: {elsewhere} "
            "(`videogw catalog PROVIDER --kind KIND`)"
        )
    if kind and not provider and not any(kind in kinds for kinds in offered.values()):
        raise UnsupportedOperationError(f"no provider has a {kind!r} catalog ({elsewhere})")
    for name in names:
        kinds = gateway.provider(name).catalog_kinds
        if provider and kind and kind not in kinds:
            raise UnsupportedOperationError(
                f"{name} has no {kind!r} catalog (it has: {', '.join(kinds) or 'none'})"
            )
        for each in kinds:
            if kind is None or each == kind:
                found.setdefault(name, {})[each] = gateway.catalog(name, each)
    if json_out:
        emit_json(found)
        return
    if not found:
        st.note("no provider offers that catalog")
    for name, kinds_found in found.items():
        for each, items in kinds_found.items():
            columns = [c for c in ("id", "name", "description") if any(c in i for i in items)]
            render.print_rows(st.out, items, columns or ["id"], f"{name} {each} ({len(items)})")


@guarded
@request_options
def estimate(request: dict[str, Any], json_out: JsonOpt = False) -> None:
    """What the request would cost on each provider (from price tables; nothing is sent)."""
    gateway = state().gateway()
    quotes = gateway.estimate(**request)
    rows = [backend.quote_row(q) for q in quotes]
    if json_out:
        emit_json(rows)
        return
    title = f"estimate: {request['model']}\n{backend.order_line(gateway, request['model'], quotes)}"
    state().out.print(render.quotes_table(rows, title=title))


@guarded
@request_options
def explain(request: dict[str, Any], json_out: JsonOpt = False) -> None:
    """Which providers would take the request, in what order, and why the others would not."""
    result = backend.explain_rows(state().gateway(), request)
    if json_out:
        emit_json(result)
        return
    title = f"explain: {result['model']}\n{result['order_text']}"
    state().out.print(render.quotes_table(result["providers"], title=title))


@guarded
@request_options
def compare(
    request: dict[str, Any],
    run: Annotated[
        bool, typer.Option("--run", help="Submit to every candidate and measure (costs money).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --run.")] = False,
    timeout: Annotated[
        float | None, typer.Option(min=0, max=10**9, help="Seconds to wait for the jobs.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Price, observed latency and success per provider for the same request. --run submits
    it to every candidate and measures latency and actual cost (asks first unless --yes)."""
    st = state()
    gateway = st.gateway()
    rows = backend.compare_rows(gateway, request)
    if run:
        chosen = [r for r in rows if r["candidate"]]
        total = render.totals(backend.spend_of(r["estimate"]) for r in chosen)
        ask = (
            f"Submit {len(chosen)} real job(s) to {', '.join(r['provider'] for r in chosen)}, "
            f"about {total} in total?"
        )
        if not yes and not typer.confirm(ask, default=False, err=True):
            st.note("nothing submitted")
            raise typer.Abort()
        with JobBoard(gateway, st.err):  # a line per job as each is submitted
            rows = backend.compare_rows(gateway, request, run=True, timeout=timeout)
    if json_out:
        emit_json(rows)
        return
    order = " > ".join(r["provider"] for r in rows if r["candidate"]) or "nobody"
    st.out.print(render.quotes_table(rows, title=f"compare: {request['model']} ({order})"))
    if run:
        measured = [{**r["measured"], "provider": r["provider"]} for r in rows if r.get("measured")]
        for row in measured:
            row["took"] = render.seconds(row.pop("seconds"))
            row["cost"] = render.money(row["actual_cost"], row["currency"] or "USD")
        columns = ["provider", "status", "took", "cost", "charged", "job", "error"]
        render.print_rows(st.out, measured, columns, "measured")
