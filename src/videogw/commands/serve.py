"""Long-running commands: `webhooks serve`, `emulate`, and `demo`."""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated, Any, Literal

import typer

from ..config import CONFIG_NAME
from ..emulator.faults import PROFILES, FaultProfile
from ..emulator.harness import Emulated
from ..emulator.harness import emulate as start_emulators
from ..errors import ConfigurationError, InvalidRequestError
from ..plugins import get_registry
from ..webhooks import DEFAULT_MAX_BODY, make_webhook_app
from .common import guarded, state

__all__ = ["config_snippet", "demo", "emulate", "init", "webhooks_serve"]


@guarded
def webhooks_serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
    ] = 8787,
    max_body: Annotated[
        int,
        typer.Option("--max-body", min=1, help="Refuse deliveries larger than this (bytes)."),
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


DOWNLOAD_FOR_EMULATORS = (
    "[download]\n"
    "allow_private = true                 # the emulators serve outputs over http on loopback;\n"
    "                                     # never set this for real providers\n"
)


def config_snippet(emulated: Emulated) -> tuple[str, dict[str, str]]:
    """A config for the running emulators, and the environment its secrets come from."""
    return settings_snippet(emulated.registry or get_registry(), emulated.settings)


def settings_snippet(
    registry: Any, all_settings: dict[str, dict[str, Any]]
) -> tuple[str, dict[str, str]]:
    """`[providers.*]` tables for emulator settings (secrets named, not written) and a
    `[download]` table that lets outputs come from loopback; and the environment."""
    lines: list[str] = []
    env: dict[str, str] = {}
    for name, settings in all_settings.items():
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
    return "\n".join(lines) + "\n" + DOWNLOAD_FOR_EMULATORS, env


@guarded
def emulate(
    providers: Annotated[
        list[str] | None, typer.Argument(help="Providers to emulate (default: all).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface (keep it loopback).")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int,
        typer.Option(
            "--port", min=0, max=65535, help="First port; the next ones follow (0: any free)."
        ),
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
    if port and port + len(names) - 1 > 65535:
        raise InvalidRequestError(
            f"{len(names)} emulators need ports {port}..{port + len(names) - 1}: the last is "
            "over 65535",
            field="--port",
        )
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


STARTER = """\
# videogw configuration: see `videogw --help` and the README's "Configure" section.
# Secrets never go in this file: each provider names the environment variable that
# holds its key (`api_key_env`). Unknown keys are errors that name the key and its line.

# [providers.higgsfield]
# api_key_env = "HF_KEY"                # "key_id:key_secret"

# [providers.pixazo]
# api_key_env = "PIXAZO_API_KEY"
# default_motion_id = "<motion preset id>"   # `videogw catalog pixazo --kind motions`

# [providers.segmind]
# api_key_env = "SEGMIND_API_KEY"

# [providers.hfrelay]
# base_url = "https://relay.example.com"
# api_key_env = "HFRELAY_API_KEY"

# Which providers serve a model, and in what order they are tried. Without a route,
# every provider that serves the model is a candidate, in the order of this file.
# [routes.dop-lite]
# candidates = ["pixazo", "higgsfield", "segmind"]
# strategy = "cheapest"                 # priority | cheapest | fastest | weighted
# retry_failed = true                   # resubmit a refunded failure to the next candidate

# [ledger]
# path = "~/.local/share/videogw/ledger.sqlite3"   # where jobs are kept (SQLite)
# max_daily_spend_usd = 20

# [download]
# max_bytes = 2147483648                # refuse larger outputs
"""

EMULATOR_PORT = 8700


@guarded
def init(
    path: Annotated[
        str, typer.Argument(help="Where to write it.", show_default=True)
    ] = CONFIG_NAME,
    emulators: Annotated[
        bool,
        typer.Option(
            "--emulators",
            help=f"Point every provider at `videogw emulate --port {EMULATOR_PORT}` (no keys).",
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config (videogw.toml in this directory by default)."""
    from pathlib import Path

    target = Path(path).expanduser()
    if target.exists() and not force:
        raise ConfigurationError(f"{target} exists; pass --force to overwrite it")
    text, env = STARTER, dict[str, str]()
    if emulators:
        registry = get_registry()
        names = sorted(registry.providers)
        settings = {
            name: registry.get(name).provider_class.emulator_settings(
                f"http://127.0.0.1:{EMULATOR_PORT + offset}"
            )
            for offset, name in enumerate(names)
        }
        snippet, env = settings_snippet(registry, settings)
        text = (
            f"# For the built-in emulators: run `videogw emulate --port {EMULATOR_PORT}` in "
            "another terminal\n# (it serves "
            + ", ".join(names)
            + " on the ports below).\n\n"
            + snippet
        )
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot write {target}: {exc.strerror or exc}") from None
    st = state()
    st.note(f"wrote {target}")
    if env:
        st.note(f"next: `videogw emulate --port {EMULATOR_PORT}` in another terminal, then:")
        for var, value in env.items():
            typer.echo(f"export {var}='{value}'")
