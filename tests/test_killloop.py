"""A bounded kill loop (benchmarks/killloop.py runs the full one): workers SIGKILLed at
random instants on one ledger file, then the money invariants."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import killloop


@pytest.mark.slow
def test_sigkills_at_random_instants_never_pay_twice_or_lose_a_job(tmp_path: Path) -> None:
    figures = killloop.run(kills=8, jobs=50, seed=7, workdir=tmp_path)
    print(figures)
    assert figures["kills"] >= 8
    assert figures["logical_jobs"] >= 50, figures
    assert figures["paid_twice"] == 0, figures
    assert figures["problems"] == [], figures
    assert figures["open_not_listed"] == 0, figures
    # as numbers: the ledger's total is normalised ("7.46"), the emulators' sum is not
    # ("7.460"), and text compared that way failed whenever a sum ended in a zero
    assert Decimal(figures["ledger_spend_usd"]) == Decimal(figures["emulators_billed_usd"]), figures
