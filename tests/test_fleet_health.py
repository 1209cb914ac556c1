"""Provider health shared by the fleet through the ledger: what one process learns (a
Retry-After cool-down, an account refused) the others honour, and a reset anywhere clears
it everywhere. Two gateways on one ledger stand for two processes."""

from __future__ import annotations

from routing_kit import Kit, request
from videogw.emulator import FakeClock, FaultProfile
from videogw.ledger import MemoryLedger
from videogw.testing import maybe_await

PAIR = {"candidates": ["toy", "toy2"]}


def submits(kit: Kit, name: str) -> int:
    return int(kit.emulator(name).count("submit"))


async def test_a_retry_after_learned_by_one_process_pauses_the_provider_for_all(
    kit: Kit, clock: FakeClock
) -> None:
    ledger = MemoryLedger()
    kit.emulator("toy").faults = FaultProfile.parse("submit:429/120*1")
    first, second = kit.gateway(PAIR, store=ledger), kit.gateway(PAIR, store=ledger)
    job = await maybe_await(first.submit(request()))
    assert job.provider == "toy2"
    assert submits(kit, "toy") == 1
    standing = ledger.standings()["toy"]
    assert standing.paused_s > 100
    assert "Retry-After" in (standing.pause_reason or "")
    why = {row.provider: row.reason for row in second.explain(request())}
    assert "cooling down" in (why["toy"] or "")
    other = await maybe_await(second.submit(request()))
    assert other.provider == "toy2"
    assert submits(kit, "toy") == 1  # the second process never asked toy


async def test_an_account_refused_in_one_process_is_skipped_by_all_until_reset(
    kit: Kit, clock: FakeClock
) -> None:
    ledger = MemoryLedger()
    kit.emulator("toy").api_key = "the-only-right-key"
    first, second = kit.gateway(PAIR, store=ledger), kit.gateway(PAIR, store=ledger)
    assert (await maybe_await(first.submit(request()))).provider == "toy2"
    assert ledger.standings()["toy"].disabled is not None
    assert (await maybe_await(second.submit(request()))).provider == "toy2"
    assert submits(kit, "toy") == 1
    kit.emulator("toy").api_key = None
    first.reset_provider("toy")  # e.g. after rotating the key, in any process
    assert ledger.standings() == {}
    clock.advance(2)  # the other process re-reads the fleet's standings within a second
    assert (await maybe_await(second.submit(request()))).provider == "toy"
