"""Configuration: a TOML file plus the environment.

The command line looks for the file in this order and says which one it loaded
(`videogw providers`): ``--config PATH``, ``$VIDEOGW_CONFIG``, ``./videogw.toml``, then
``videogw.toml`` in the user config directory (``~/.config/videogw/`` on Linux). The
library reads only the file it is given (`Gateway("videogw.toml")`).

```toml
[providers.pixazo]
api_key_env = "PIXAZO_API_KEY"      # secrets come from the environment, never this file
default_motion_id = "..."

[providers.hf-market]               # a second instance of a plugin, under another name
plugin = "higgsfield"
mode = "marketplace"

[routes.dop-lite]
candidates = ["pixazo", "higgsfield"]
strategy = "cheapest"

[ledger]
path = "~/.local/share/videogw/ledger.sqlite3"
# or, for a fleet of processes on one PostgreSQL (pip install 'videogw[postgres]'):
# url = "postgresql://videogw@db.internal/videogw"
```

Provider tables are validated by each plugin's own `Settings` model when the gateway is
built; unknown keys anywhere are errors that name the key and its line.
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .errors import ConfigurationError

__all__ = [
    "CONFIG_ENV",
    "LEDGER_ENV",
    "POSTGRES_SCHEMES",
    "BreakerConfig",
    "Config",
    "DownloadConfig",
    "LedgerConfig",
    "PollConfig",
    "RouteConfig",
    "find_config",
    "load_config",
]

CONFIG_ENV = "VIDEOGW_CONFIG"
# "memory", a ledger file path, or a postgresql:// URL, when the config names none
LEDGER_ENV = "VIDEOGW_LEDGER"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RouteConfig(_Strict):
    """Which providers may serve a neutral model, and how to pick among them."""

    candidates: list[str] = Field(min_length=1)
    strategy: Literal["priority", "cheapest", "fastest", "weighted"] = "priority"
    weights: dict[str, float] = Field(default_factory=dict)
    retry_failed: bool = False  # resubmit a refunded failure to the next candidate
    content_failover: bool = False  # may a content refusal move on to the next provider?
    queued_deadline_s: float | None = Field(default=None, gt=0)
    max_cost_usd: Decimal | None = Field(default=None, gt=0)


class LedgerConfig(_Strict):
    # "postgres" needs `url`; a postgresql:// `url` (or $VIDEOGW_LEDGER) also selects it
    backend: Literal["sqlite", "memory", "postgres"] = "sqlite"
    path: Path | None = None  # default: $VIDEOGW_LEDGER, else the platform data directory
    # PostgreSQL: a libpq URL (its password is better given as PGPASSWORD or in ~/.pgpass)
    url: str | None = None
    max_daily_spend_usd: Decimal | None = Field(default=None, gt=0)
    # FULL survives a killed process and a power cut (an fsync per commit, which the async
    # engine shares among the writes of one event-loop tick and the next); NORMAL survives a
    # killed process only: a power cut may lose the commits since the last checkpoint
    synchronous: Literal["NORMAL", "FULL"] = "FULL"
    # how long a process holds a job it acts on without renewing; after it dies, another
    # process takes the job over once this has passed
    lease_s: float = Field(default=120.0, gt=0)
    claim_batch: int = Field(default=500, ge=1)  # jobs `resume` claims per transaction

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(POSTGRES_SCHEMES):
            raise ValueError("url must be a PostgreSQL URL (postgresql://user@host/dbname)")
        return value


class DownloadConfig(_Strict):
    """Defaults for saving outputs (`videogw run`, `videogw download`)."""

    max_bytes: int = Field(default=2 * 1024**3, gt=0)  # far above any generated clip
    allow_private: bool = False  # private/loopback addresses and plain http: emulators only


class PollConfig(_Strict):
    floor_s: float = Field(default=1.0, gt=0)
    cap_s: float = Field(default=30.0, gt=0)


class BreakerConfig(_Strict):
    failures: int = Field(default=3, ge=1)
    window_s: float = Field(default=60.0, gt=0)
    cooldown_s: float = Field(default=30.0, gt=0)


class Config(_Strict):
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    poll: PollConfig = Field(default_factory=PollConfig)
    download: DownloadConfig = Field(default_factory=DownloadConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    public_url: str | None = None  # where the webhook receiver is reachable (https)

    @field_validator("public_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith("https://"):
            raise ValueError("public_url must start with https:// (providers refuse plain http)")
        return value

    _source: str | None = PrivateAttr(default=None)
    _text: str = PrivateAttr(default="")

    @property
    def source(self) -> str | None:
        """The file this config was read from (None: built in code, or no file)."""
        return self._source

    def locate(self, dotted: str) -> str:
        """'file, line N' for a dotted key, as well as can be found; '' when unknown."""
        if not self._source:
            return ""
        line = _find_line(self._text, dotted)
        return f"{self._source}, line {line}" if line else self._source


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the config file at `path`, or ``$VIDEOGW_CONFIG``; an empty config if neither."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV)
    if not chosen:
        return Config()
    file = Path(chosen).expanduser()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {file}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        kind = "UTF-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "not text"
        raise ConfigurationError(
            f"cannot read config file {file}: it is {kind}, not UTF-8 (TOML files are UTF-8)"
        ) from None
    return parse_config(text, source=str(file))


CONFIG_NAME = "videogw.toml"


def user_config_path() -> Path:
    """``videogw.toml`` in the user config directory (``~/.config/videogw`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("videogw")) / CONFIG_NAME


def find_config(explicit: str | os.PathLike[str] | None = None) -> tuple[Path | None, str]:
    """The config file the command line uses, and how it was chosen: ``--config``, else
    ``$VIDEOGW_CONFIG``, else ``./videogw.toml``, else the user config directory's
    ``videogw.toml``; ``(None, "...")`` when there is none."""
    if explicit is not None and str(explicit):
        return Path(explicit).expanduser(), "--config"
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser(), f"${CONFIG_ENV}"
    here = Path.cwd() / CONFIG_NAME
    if here.is_file():
        return here, f"./{CONFIG_NAME}"
    user = user_config_path()
    if user.is_file():
        return user, "the user config directory"
    return None, (f"no config loaded (looked for --config, ${CONFIG_ENV}, ./{CONFIG_NAME}, {user})")


def parse_config(text: str, *, source: str = "<config>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{source}: not valid TOML: {exc}") from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, text=text, source=source) from None
    config._source, config._text = source, text
    return config


def config_error(
    exc: ValidationError, *, text: str, source: str, prefix: tuple[str, ...] = ()
) -> ConfigurationError:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in (*prefix, *first["loc"]))
    line = _find_line(text, loc)
    where = f"{source}, line {line}" if line else source
    if first["type"] == "extra_forbidden":
        return ConfigurationError(f"{where}: unknown key {loc!r}")
    message = re.sub(r"^(Value error|Assertion failed), ", "", first["msg"])
    return ConfigurationError(f"{where}: {loc}: {message}")


def _find_line(text: str, dotted: str) -> int | None:
    """The line of the last key of `dotted`, looked for inside its table when possible."""
    parts = dotted.split(".")
    key = re.escape(parts[-1])
    lines = text.splitlines()
    whole = r"\.".join(re.escape(p) for p in parts)
    own_table = re.compile(rf"^\s*\[\s*{whole}\s*[\].]")
    for number, line in enumerate(lines):
        if own_table.match(line):
            return number + 1
    start = 0
    for depth in range(len(parts) - 1, 0, -1):
        table = r"\.".join(re.escape(p) for p in parts[:depth])
        header = re.compile(rf"^\s*\[\s*{table}\s*\]")
        for number, line in enumerate(lines):
            if header.match(line):
                start = number
                break
        else:
            continue
        break
    pattern = re.compile(rf"^\s*[\"']?{key}[\"']?\s*=")
    for number in range(start, len(lines)):
        if pattern.match(lines[number]):
            return number + 1
    return start + 1 if start else None
