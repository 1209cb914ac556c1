"""The ledger conformance suite on the memory and SQLite backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from videogw.ledger import MemoryLedger, SQLiteLedger
from videogw.testing import LedgerContract


class TestMemoryLedger(LedgerContract):
    @pytest.fixture
    def ledger(self) -> MemoryLedger:
        return MemoryLedger()


class TestSQLiteLedger(LedgerContract):
    @pytest.fixture
    def ledger(self, tmp_path: Path) -> Iterator[SQLiteLedger]:
        led = SQLiteLedger(tmp_path / "ledger.sqlite3")
        yield led
        led.close()
