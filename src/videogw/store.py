"""The 0.1 names of the ledger API; `videogw.ledger` is where it lives now."""

from __future__ import annotations

from .ledger import (
    Ledger,
    MemoryLedger,
    dump_request,
    is_resumable,
    is_unknown_submit,
    load_request,
)

JobStore = Ledger
MemoryStore = MemoryLedger

__all__ = [
    "JobStore",
    "Ledger",
    "MemoryStore",
    "dump_request",
    "is_resumable",
    "is_unknown_submit",
    "load_request",
]
