"""Long-running commands: `webhooks serve`, `emulate`, and `demo`."""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated, Any, Literal

import typer

from ..emulator.faults import PROFILES, FaultProfile
from ..emulator.harness import Emulated
from ..emulator.harness import emulate as start_emulators
from ..errors import InvalidRequestError
from ..plugins import get_registry
from ..webhooks import DEFAULT_MAX_BODY, make_webhook_app
from .common import guarded, state

__all__ = ["config_snippet", "demo", "emulate", "webhooks_serve"]


@guarded
def webhooks_serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8787,
    max_body: Annotated[
        int, typer.Option("--max-body", help="Refuse deliveries larger than this (bytes).")
    ] = DEFAULT_MAX_BODY,
) -> None:
    """Receive provider callbacks (put it behind TLS at the config's public_url)."""
    import uvicorn

    st = state()
    gateway = st.gateway()
    app = make_webhook_app(gateway, max_body=max_body)
    public = st.config().public_url
    st.note(
        f"listening on http://{host}:{port}/webhooks/{{provider}}/{{job_id}}; providers call "
        + (f"{public}/webhooks/..." if public else "public_url (not set in the config)")
    )
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def config_snippet(emulated: Emulated) -> tuple[str, dict[str, str]]:
    """A config for the running emulators, and the environment its secrets come from."""
    lines: list[str] = []
    env: dict[str, str] = {}
    registry = emulated.registry or get_registry()
    for name, settings in emulated.settings.items():
        fields = registry.get(name).provider_class.Settings.model_fields
        lines.append(f"[providers.{name}]")
        for key, value in settings.items():
            secret = "SecretStr" in str(fields[key].annotation) if key in fields else False
            if not secret:
                lines.append(f"{key} = {_toml(value)}")
            elif f"{key}_env" in fields:
                var = f"VIDEOGW_EMU_{name}_{key}".upper().replace("-", "_")
                lines.append(f"{key}_env = {_toml(var)}")
                env[var] = str(value)
        lines.append("")
    return "\n".join(lines), env


@guarded
def emulate(
    providers: Annotated[
        list[str] | None, typer.Argument(help="Providers to emulate (default: all).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface (keep it loopback).")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option("--port", help="First port; the next ones follow (0: any free).")
    ] = 0,
    faults: Annotated[
        str | None,
        typer.Option(
            "--faults",
            help=f"Fault profile ({', '.join(PROFILES)}) or a spec such as 'submit:503*2'.",
        ),
    ] = None,
    profile: Annotated[
        str, typer.Option("--profile", help="Job timing: fast or realistic.")
    ] = "fast",
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            metavar="[PROVIDER=]KEY",
            help="The key the emulators expect (others get 401); PROVIDER=KEY for one.",
        ),
    ] = None,
) -> None:
    """Serve provider emulators on loopback until interrupted; print a config to use them."""
    registry = get_registry()
    names = providers or sorted(registry.providers)
    for name in names:
        registry.get(name)  # unknown names fail here, naming the known ones
    if profile not in ("fast", "realistic"):
        raise InvalidRequestError("expected fast or realistic", field="--profile")
    if faults:
        try:
            FaultProfile.parse(faults)
        except ValueError as exc:
            raise InvalidRequestError(str(exc), field="--faults") from None
    keys = expected_keys(api_key or [], names)
    timing: Literal["fast", "realistic"] = "fast" if profile == "fast" else "realistic"
    emulated = start_emulators(
        names,
        registry=registry,
        loopback=True,
        host=host,
        port=port,
        timing=timing,
        faults=dict.fromkeys(names, faults) if faults else None,
        api_key=keys or None,
    )
    try:
        snippet, env = config_snippet(emulated)
        out = typer.echo
        for name, server in emulated.servers.items():
            out(f"{name:<12} {server.base_url}")
        out("\n# videogw.toml\n" + snippet)
        out("# and in the shell:")
        for var, value in env.items():
            out(f"export {var}='{value}'")
        out("\nemulating; press Ctrl+C to stop", err=True)
        _block_until_interrupted()
    finally:
        emulated.stop()


def expected_keys(given: list[str], names: list[str]) -> dict[str, str]:
    """``--api-key`` values: ``KEY`` for every emulator, ``PROVIDER=KEY`` for one."""
    keys: dict[str, str] = {}
    for item in given:
        name, sep, key = item.partition("=")
        if sep and name in names:
            keys[name] = key
        else:  # a key for every emulator not given its own
            keys |= {n: item for n in names if n not in keys}
    if any(not key for key in keys.values()):
        raise InvalidRequestError("an empty key", field="--api-key")
    return keys


def _block_until_interrupted() -> None:
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


@guarded
def demo() -> None:
    """The whole product in under a minute on the built-in emulators: no keys, no network."""
    from ..demo import run_demo

    raise typer.Exit(run_demo(state().out))
