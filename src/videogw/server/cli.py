"""The `videogw serve` and `videogw keys ...` commands."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from ..commands.common import JsonOpt, emit_json, guarded, state
from ..errors import ConfigurationError, InvalidRequestError
from ..ledger import ClientKey, Ledger, MemoryLedger, open_ledger

__all__ = ["is_loopback", "keys_create", "keys_list", "keys_revoke", "serve"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ledger() -> Ledger:
    return open_ledger(state().config().ledger)


def _row(key: ClientKey, ledger: Ledger) -> dict[str, Any]:
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date(), time(0), tzinfo=UTC)
    today = ledger.spend_usd(midnight, client_key=key.id) + ledger.committed_usd(
        midnight, client_key=key.id
    )
    return {
        "id": key.id,
        "name": key.name,
        "budget_usd_per_day": str(key.budget_usd_per_day)
        if key.budget_usd_per_day is not None
        else None,
        "spent_or_held_today_usd": str(today),
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


@guarded
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who the key is for.")],
    budget_usd_per_day: Annotated[
        str | None,
        typer.Option("--budget-usd-per-day", help="Daily cap on spend plus holds (USD)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a client key for `videogw serve`; its secret is printed once."""
    from .keys import create_key

    budget = None
    if budget_usd_per_day is not None:
        try:
            budget = Decimal(budget_usd_per_day)
        except InvalidOperation:
            raise InvalidRequestError(
                "expected an amount such as 5 or 2.50", field="--budget-usd-per-day"
            ) from None
        if not budget.is_finite() or budget < 0:
            raise InvalidRequestError(
                "expected a non-negative amount", field="--budget-usd-per-day"
            )
    ledger = _ledger()
    try:
        try:
            key, secret = create_key(ledger, name, budget)
        except ValueError as exc:
            raise InvalidRequestError(str(exc), field="--name") from None
        if json_out:
            emit_json({**_row(key, ledger), "secret": secret})
            return
        typer.echo(secret)
        state().note(
            f"key {key.id} ({key.name}) created"
            + (f", ${key.budget_usd_per_day} a day" if key.budget_usd_per_day is not None else "")
            + ". The secret above is shown once: the ledger keeps only its hash."
        )
    finally:
        ledger.close()


@guarded
def keys_list(json_out: JsonOpt = False) -> None:
    """The client keys in the ledger (never their secrets)."""
    ledger = _ledger()
    try:
        rows = [_row(k, ledger) for k in ledger.list_keys()]
    finally:
        ledger.close()
    if json_out:
        emit_json(rows)
        return
    if not rows:
        state().note("no client keys; create one with: videogw keys create --name NAME")
        return
    for r in rows:
        budget = f"${r['budget_usd_per_day']}/day" if r["budget_usd_per_day"] else "no budget"
        status = f"revoked {r['revoked_at'][:19]}" if r["revoked_at"] else "active"
        typer.echo(
            f"{r['id']:<18} {r['name']:<20} {budget:<16} today ${r['spent_or_held_today_usd']:<10}"
            f" {status}"
        )


@guarded
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id or name.")],
) -> None:
    """Revoke a client key: its next request gets 401."""
    ledger = _ledger()
    try:
        revoked = ledger.revoke_key(key, datetime.now(UTC))
    finally:
        ledger.close()
    if not revoked:
        raise InvalidRequestError(f"no active key with id or name {key!r}", field="KEY")
    for item in revoked:
        typer.echo(f"revoked {item.id} ({item.name})")


@guarded
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    config: Annotated[
        Path | None, typer.Option("--config", help="Config file (TOML); as videogw --config.")
    ] = None,
    emulators: Annotated[
        bool,
        typer.Option(
            "--emulators",
            help="Run against the built-in emulators (loopback, in-memory ledger).",
        ),
    ] = False,
    allow_no_keys: Annotated[
        bool,
        typer.Option(
            "--allow-no-keys",
            help="Serve without client keys on a non-loopback address (anyone may spend).",
        ),
    ] = False,
) -> None:
    """The HTTP gateway: OpenAI-style /v1/videos, native /v1/videogw/*, the webhook receiver,
    a dashboard at /ui, /metrics and /healthz (OpenAPI at /docs)."""
    import uvicorn

    from ..download import DownloadPolicy
    from ..gateway import Gateway

    try:
        from .app import ServerSettings, make_app
    except ImportError as exc:
        raise ConfigurationError(
            f"videogw serve needs its extra ({exc.name} is missing): pip install 'videogw[serve]'"
        ) from None

    st = state()
    if config is not None:
        st.config_path = config
    emulated: Any = None
    if emulators:
        from ..config import Config
        from ..emulator.harness import emulate

        emulated = emulate(loopback=True, timing="fast")
        base = st.config() if st.config_path is not None else Config()
        # a fresh config (the emulators' keys are given inline, which a file may not do),
        # with the file's routes, polling and breakers
        cfg = Config.model_validate({"providers": emulated.settings}).model_copy(
            update={
                "routes": base.routes,
                "poll": base.poll,
                "breaker": base.breaker,
                "download": base.download.model_copy(update={"allow_private": True}),
            }
        )
        gateway = Gateway(cfg, store=MemoryLedger())
        for name, server in emulated.servers.items():
            st.note(f"emulating {name} at {server.base_url}")
    else:
        gateway = st.gateway()
    try:
        active = [k for k in gateway.store.list_keys() if k.active]
        if not active and not is_loopback(host) and not allow_no_keys:
            raise ConfigurationError(
                f"refusing to serve on {host} without client keys: anyone who can reach it "
                "could spend. Create one (videogw keys create --name NAME) or pass "
                "--allow-no-keys"
            )
        if not active:
            st.note("no client keys: requests are served without one (loopback or allowed)")
        policy = DownloadPolicy(
            allow_private=gateway.config.download.allow_private,
            max_bytes=gateway.config.download.max_bytes,
        )
        app = make_app(gateway, ServerSettings(require_keys=bool(active), download=policy))
        from .tracking import BackgroundTracker

        tracker = BackgroundTracker(gateway).start()
        st.note(f"serving on http://{host}:{port} (docs at /docs, dashboard at /ui)")
        try:
            uvicorn.run(app, host=host, port=port, log_level="info")
        finally:
            tracker.stop()
    finally:
        if emulated is not None:
            gateway.close()
            emulated.stop()
