"""The job ledger: one contract (`Ledger`), an in-memory and a SQLite backend, and the
choice of backend from config."""

from __future__ import annotations

import os
from pathlib import Path

from ..config import LEDGER_ENV, LedgerConfig
from .base import (
    Budget,
    Lease,
    Ledger,
    dump_request,
    fingerprint,
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
    "Lease",
    "Ledger",
    "MemoryLedger",
    "SQLiteLedger",
    "default_ledger_path",
    "dump_request",
    "fingerprint",
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
    if env and env != "memory":
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("videogw")) / "ledger.sqlite3"


def open_ledger(config: LedgerConfig) -> Ledger:
    """The ledger a gateway uses when none is given: `LedgerConfig`, then
    ``$VIDEOGW_LEDGER`` (``memory`` or a path), then the platform data directory."""
    env = os.environ.get(LEDGER_ENV)
    if config.backend == "memory" or (config.path is None and env == "memory"):
        return MemoryLedger()
    path = config.path.expanduser() if config.path is not None else default_ledger_path()
    return SQLiteLedger(path, synchronous=config.synchronous)


open_store = open_ledger  # the 0.1 name
