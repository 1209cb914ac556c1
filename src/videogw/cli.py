"""The ``videogw`` command (typer + rich).

Every read command takes ``--json`` and then prints JSON only, on stdout; notes, warnings
and live progress go to stderr. Errors are one line on stderr (a traceback with
``--debug``) and an exit code:

====  ==========================================================================
0     ok
1     the job did not succeed (failed, content_filtered, cancelled, expired, unknown)
2     bad input or configuration: nothing was sent (also command-line usage errors)
3     a provider, the network or an output download failed
4     ``--timeout`` passed while waiting; the job keeps running at the provider
====  ==========================================================================

The commands live in `videogw.commands`; this module assembles them and runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .commands import info, jobs, serve, worker
from .commands.common import EXIT_CODES_HELP, CliState, set_state
from .redact import install_log_filter
from .server import cli as server_cli

__all__ = ["app", "main"]

app = typer.Typer(
    name="videogw",
    help=(
        "One job interface for generative-video APIs: estimate, compare, submit, wait, "
        "fail over without paying twice.\n\n"
        "Start with `videogw demo` (emulators, no keys).\n\n" + EXIT_CODES_HELP
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
webhooks_app = typer.Typer(help="The webhook receiver.", no_args_is_help=True)
keys_app = typer.Typer(help="Client keys for `videogw serve`.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"videogw {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file (TOML). Default: $VIDEOGW_CONFIG, else ./videogw.toml, else "
            "videogw.toml in the user config directory (`videogw providers` says which).",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Tracebacks and debug logs on stderr.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    st = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    st.config_path, st.debug = config, debug
    ctx.obj = st
    set_state(st)
    ctx.call_on_close(st.close)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    install_log_filter(*logging.root.handlers)  # no configured secret in any log line


COMMANDS: list[Callable[..., None]] = [
    info.providers,
    info.models,
    info.estimate,
    info.explain,
    info.compare,
    jobs.submit,
    jobs.status,
    jobs.wait,
    jobs.cancel,
    jobs.run,
    jobs.download,
    jobs.jobs,
    jobs.resume,
    jobs.spend,
    worker.worker,
    info.catalog,
]
for command in COMMANDS:
    app.command()(command)
app.add_typer(webhooks_app, name="webhooks")
webhooks_app.command("serve")(serve.webhooks_serve)
app.command()(serve.init)
app.command()(serve.emulate)
app.command()(serve.demo)
app.command("serve")(server_cli.serve)
app.add_typer(keys_app, name="keys")
keys_app.command("create")(server_cli.keys_create)
keys_app.command("list")(server_cli.keys_list)
keys_app.command("revoke")(server_cli.keys_revoke)


def main() -> None:
    """The console script."""
    app()


if __name__ == "__main__":
    main()
