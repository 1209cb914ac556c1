"""The job ledger: one contract (`Ledger`), an in-memory, a SQLite and a PostgreSQL
backend (`videogw.ledger.postgres`, with ``pip install 'videogw[postgres]'``), and the choice
of backend from config."""

from __future__ import annotations

import os
from pathlib import Path

from ..config import LEDGER_ENV, POSTGRES_SCHEMES, LedgerConfig
from ..errors import ConfigurationError
from .base import (
    Budget,
    ClientKey,
    Group,
    Lease,
    Ledger,
    Standing,
    current_group,
    dump_request,
    fingerprint,
    grouped,
    is_claimable,
    is_resumable,
    is_unknown_submit,
    load_request,
    new_owner,
)
from .memory import MemoryLedger
from .sqlite import SQLiteLedger

__all__ = [
    "Budget",
    "ClientKey",
    "Group",
    "Lease",
    "Ledger",
    "MemoryLedger",
    "SQLiteLedger",
    "Standing",
    "current_group",
    "default_ledger_path",
    "dump_request",
    "fingerprint",
    "grouped",
    "is_claimable",
    "is_resumable",
    "is_unknown_submit",
    "load_request",
    "new_owner",
    "open_ledger",
    "open_store",
]


def default_ledger_path() -> Path:
    """``$VIDEOGW_LEDGER`` when it names a file, else the platform's user data directory."""
    import platformdirs

    env = os.environ.get(LEDGER_ENV)
    if env and env != "memory" and not env.startswith(POSTGRES_SCHEMES):
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("videogw")) / "ledger.sqlite3"


def open_ledger(config: LedgerConfig) -> Ledger:
    """The ledger a gateway uses when none is given: `LedgerConfig` (its `url` selects
    PostgreSQL, its `path` SQLite), then ``$VIDEOGW_LEDGER`` (``memory``, a
    ``postgresql://`` URL or a path), then SQLite in the platform data directory."""
    env = os.environ.get(LEDGER_ENV)
    if config.backend == "memory":
        return MemoryLedger()
    env_url = env if env and env.startswith(POSTGRES_SCHEMES) else None
    url = config.url or (env_url if config.path is None else None)
    if config.backend == "postgres" or url is not None:
        if url is None:
            raise ConfigurationError(
                '[ledger] backend = "postgres" needs url = "postgresql://…" (or '
                f"{LEDGER_ENV}=postgresql://…)"
            )
        from .postgres import PostgresLedger  # psycopg is imported only when chosen

        return PostgresLedger(url)
    if config.path is None and env == "memory":
        return MemoryLedger()
    path = config.path.expanduser() if config.path is not None else default_ledger_path()
    return SQLiteLedger(path, synchronous=config.synchronous)


open_store = open_ledger  # the 0.1 name
