"""What every command shares: state, exit codes, error lines, JSON output, request options."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import re
import sys
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console

from ..config import Config, find_config, load_config
from ..errors import (
    ConfigurationError,
    InvalidRequestError,
    JobFailedError,
    NoCandidateError,
    PluginError,
    ProviderError,
    TransportError,
    UnknownModelError,
    UnknownProviderError,
    UnsupportedOperationError,
    VideoGWError,
    WaitTimeoutError,
)
from ..provider import JSONDepthError, did_you_mean, json_loads
from ..redact import redact, redact_data
from ..store import JobStore
from .render import refusal_line

__all__ = [
    "CliState",
    "Code",
    "emit_json",
    "guarded",
    "request_options",
    "set_state",
    "state",
]

F = TypeVar("F", bound=Callable[..., Any])


class Code(IntEnum):
    """Exit codes (also in `videogw --help`)."""

    ok = 0
    failed = 1  # the job did not succeed (failed, filtered, cancelled, expired, unknown)
    usage = 2  # bad input or configuration: nothing was sent
    provider = 3  # a provider or the network failed (or an output download)
    timeout = 4  # wait passed --timeout; the job keeps running at the provider


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 the job did not succeed; 2 bad input or configuration (nothing "
    "was sent); 3 provider, network or download error; 4 --timeout passed (the job keeps "
    "running)."
)


class JobNotStoredError(VideoGWError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def code_for(exc: BaseException) -> Code:
    if isinstance(exc, WaitTimeoutError):
        return Code.timeout
    if isinstance(exc, JobFailedError):
        return Code.failed
    usage = (
        InvalidRequestError,
        ConfigurationError,
        UnknownProviderError,
        NoCandidateError,
        PluginError,
        UnsupportedOperationError,
        JobNotStoredError,
    )
    if isinstance(exc, usage):
        return Code.usage
    if isinstance(exc, ProviderError | TransportError | VideoGWError):
        return Code.provider
    return Code.failed


@dataclass
class CliState:
    """One invocation's options and lazily built gateway. Tests pass their own
    `gateway_factory` (``CliRunner().invoke(app, args, obj=CliState(...))``)."""

    config_path: Path | None = None
    debug: bool = False
    gateway_factory: Callable[[Config], Any] | None = None
    out: Console = field(default_factory=lambda: Console(soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))
    _config: Config | None = None
    _gateway: Any = None
    config_origin: str = ""  # how the config file was found, or why there is none

    def config(self) -> Config:
        if self._config is None:
            path, self.config_origin = find_config(self.config_path)
            self._config = load_config(path) if path is not None else Config()
        return self._config

    def config_line(self) -> str:
        """Which config file this invocation loaded, in words."""
        config = self.config()
        if config.source is None:
            return self.config_origin
        return f"config: {config.source} (from {self.config_origin})"

    def gateway(self) -> Any:
        if self._gateway is None:
            from .backend import open_gateway

            factory = self.gateway_factory or open_gateway
            self._gateway = factory(self.config())
        return self._gateway

    def store(self) -> JobStore:
        store: JobStore = self.gateway().store
        return store

    def note(self, text: str) -> None:
        """One line on stderr (never mixed into --json output on stdout)."""
        self.err.print(redact(text), style="dim", highlight=False, markup=False)

    def close(self) -> None:
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None


_current: ContextVar[CliState | None] = ContextVar("videogw_cli_state", default=None)


def state() -> CliState:
    """This invocation's state (set by the root callback)."""
    found = _current.get()
    if found is None:
        found = CliState()
        _current.set(found)
    return found


def set_state(st: CliState) -> None:
    _current.set(st)


def guarded(func: F) -> F:
    """Run a command: a videogw error becomes one line on stderr and its exit code; the
    traceback only with --debug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            print(
                "interrupted: submitted jobs keep running at their providers; "
                "`videogw resume` picks them up",
                file=sys.stderr,
            )
            raise typer.Exit(130) from None
        except Exception as exc:
            st = state()
            code = code_for(exc)
            if st.debug:
                traceback.print_exc(file=sys.stderr)
            if isinstance(exc, VideoGWError):
                text = (str(exc) or type(exc).__name__) + hint_for(exc, st)
                refused = refusal_line(exc.job) if exc.job is not None else None
                if refused is not None:
                    text = refused  # every provider's reason, and the job id
                print(f"error: {redact(text)}", file=sys.stderr)
            else:
                print(
                    f"error: unexpected {type(exc).__name__}: {redact(str(exc))}"
                    + ("" if st.debug else " (run with --debug for the traceback)"),
                    file=sys.stderr,
                )
            raise typer.Exit(int(code)) from None

    return wrapper  # type: ignore[return-value]


def hint_for(exc: VideoGWError, st: CliState) -> str:
    """What to do next, in commands (not Python): for a timeout, a model or a provider
    name that does not exist."""
    if isinstance(exc, WaitTimeoutError):
        return f" (`videogw wait {exc.job.id}` to keep waiting, or `videogw resume` later)"
    if not isinstance(exc, UnknownModelError | UnknownProviderError):
        return ""
    named = re.search(r"'([^']*)'", str(exc))
    word = named.group(1) if named else ""
    try:
        gateway = st._gateway  # only one this command already built: a hint opens nothing
        models: set[str] = set()
        if gateway is not None:
            providers = list(gateway.provider_names())
            for name in providers:
                with contextlib.suppress(VideoGWError):
                    models.update(gateway.provider(name).capabilities.models)
        else:
            from ..plugins import get_registry

            registry = get_registry()
            providers = sorted(registry.providers)
            for name in providers:
                models.update(registry.get(name).provider_class.CAPABILITIES.models)
    except Exception:  # a hint must never hide the error
        return ""
    if isinstance(exc, UnknownModelError):
        return did_you_mean(word.rpartition(":")[2], models) + "; `videogw models` lists them"
    return did_you_mean(word, providers) + "; `videogw providers` lists them"


def emit_json(data: Any) -> None:
    """Machine-readable output: JSON only, on stdout; secrets (configured keys, webhook
    tokens) never in it."""
    text = json.dumps(redact_data(to_jsonable_python(data)), indent=2, ensure_ascii=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only (for scripts).")]

# -- request fields as options -------------------------------------------------------------

_REQUEST_OPTIONS: list[tuple[str, Any, Any]] = [
    (
        "model",
        str,
        typer.Option(
            ...,
            "--model",
            "-m",
            metavar="MODEL",
            help="Neutral model (dop-lite) or pinned (pixazo:dop-lite).",
        ),
    ),
    ("prompt", str, typer.Option("", "--prompt", "-p", metavar="TEXT", help="Text prompt.")),
    (
        "image",
        str | None,
        typer.Option(
            None, "--image", metavar="URL|PATH", help="Input image: https URL or local file."
        ),
    ),
    (
        "end_image",
        str | None,
        typer.Option(
            None, "--end-image", metavar="URL|PATH", help="End frame: https URL or local file."
        ),
    ),
    (
        "audio",
        str | None,
        typer.Option(
            None, "--audio", metavar="URL|PATH", help="Speech audio: https URL or local file."
        ),
    ),
    (
        "duration",
        int | None,
        typer.Option(None, "--duration", metavar="SECONDS", help="Clip length in seconds."),
    ),
    ("seed", int | None, typer.Option(None, "--seed", metavar="N", help="Seed, 1..1000000.")),
    (
        "motion",
        str | None,
        typer.Option(
            None,
            "--motion",
            metavar="ID[:STRENGTH]",
            help="Motion preset: a neutral name (dolly-in, crash-zoom-in, ...) or a "
            "provider's id, with :STRENGTH 0..1.",
        ),
    ),
    ("quality", str | None, typer.Option(None, "--quality", metavar="TIER", help="Quality tier.")),
    (
        "aspect_ratio",
        str | None,
        typer.Option(None, "--aspect-ratio", metavar="W:H", help="W:H, e.g. 16:9."),
    ),
    (
        "resolution",
        str | None,
        typer.Option(None, "--resolution", metavar="RES", help="e.g. 720p."),
    ),
    (
        "option",
        list[str] | None,
        typer.Option(
            None,
            "--option",
            metavar="KEY=VALUE",
            help="Provider option [PROVIDER.]KEY=VALUE (VALUE parsed as JSON when it is "
            "JSON); repeatable.",
        ),
    ),
    (
        "idempotency_key",
        str | None,
        typer.Option(
            None,
            "--idempotency-key",
            metavar="KEY",
            help="Reuse a key to make a retried submit safe.",
        ),
    ),
]


def request_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Command-line values as `GenerationRequest` fields (validated later by the gateway)."""
    fields: dict[str, Any] = {"model": values["model"], "prompt": values["prompt"]}
    for name in ("image", "end_image", "audio", "seed", "quality", "aspect_ratio", "resolution"):
        if values.get(name) is not None:
            fields[name] = values[name]
    if values.get("idempotency_key"):
        fields["idempotency_key"] = values["idempotency_key"]
    if values.get("duration") is not None:
        fields["duration_s"] = values["duration"]
    if values.get("motion"):
        fields["motion"] = parse_motion(values["motion"])
    options: dict[str, Any] = {}
    for item in values.get("option") or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidRequestError(f"expected KEY=VALUE, got {item!r}", field="--option")
        try:
            value = json_loads(raw)
        except JSONDepthError as exc:
            raise InvalidRequestError(str(exc), field=f"--option {key.strip()}") from None
        except ValueError:
            value = raw
        provider, dot, name = key.strip().rpartition(".")
        where = options.setdefault(provider, {}) if dot else options  # PROVIDER.KEY=VALUE
        where[name] = value
    if options:
        fields["options"] = options
    return fields


def parse_motion(text: str) -> dict[str, Any]:
    ident, sep, strength = text.rpartition(":")
    if sep:
        try:
            return {"id": ident, "strength": float(strength)}
        except ValueError:
            pass
    return {"id": text}


def request_options(func: F) -> F:
    """Add the request options to a command; it receives them as ``request: dict``."""
    hints = get_type_hints(func, include_extras=True)
    sig = inspect.signature(func)
    own = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in sig.parameters.values()
        if p.name != "request"
    ]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
        for name, kind, default in _REQUEST_OPTIONS
    ]
    names = {name for name, _, _ in _REQUEST_OPTIONS}

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        values = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        return func(request=request_fields(values), **kwargs)

    params = added + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__
    return wrapper  # type: ignore[return-value]
