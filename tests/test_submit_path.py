"""What issue 17 (client CPU per submit) changed on the submit path, held to the behaviour
it had: the same fingerprints in the ledger, caches that follow what they cache."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AliasChoices, Field

from routing_kit import Kit, request
from videogw import GenerationRequest, Job
from videogw.emulator import FakeClock, FaultProfile
from videogw.errors import IdempotencyConflictError, ProviderRejectedError
from videogw.ledger import MemoryLedger, SQLiteLedger, dump_request, fingerprint
from videogw.ledger.base import request_record
from videogw.provider import ProviderOptions, option_names, parsed_url
from videogw.testing import maybe_await
from videogw.wire import trusted_url
from videogw_higgsfield.prices import table_estimate

REQUESTS: list[dict[str, Any]] = [
    {"model": "dop-lite", "image": "https://example.com/cat.jpg"},
    {
        "model": "higgsfield:dop-lite",
        "prompt": "un chat tourne la tête \u2014 \U0001f408",
        "image": "https://example.com/cat.jpg",
        "motion": {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.6},
        "options": {"higgsfield": {"hf_expires_after": 3600}, "flat": [1, 2.5, None, True]},
        "labels": {"team": "a", "client_key": "k1"},
        "idempotency_key": "key-1",
    },
    {
        "model": "kling-2.1",
        "image": b"\x89PNG\r\n\x1a\n" + bytes(range(40)),
        "end_image": {"url": "https://example.com/end.png", "content_type": "image/png"},
        "duration_s": 10,
        "seed": 7,
        "aspect_ratio": "16:9",
        "webhook_url": "https://hooks.example.com/x",
    },
]


def _fingerprint_as_stored(request: GenerationRequest) -> str:
    """The fingerprint as ledgers hold it (the definition before issue 17)."""
    data = json.loads(dump_request(request))
    data.pop("idempotency_key", None)
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("fields", REQUESTS)
def test_fingerprint_matches_what_ledgers_already_hold(fields: dict[str, Any]) -> None:
    request = GenerationRequest.model_validate(fields)
    assert fingerprint(request) == _fingerprint_as_stored(request)
    other_key = request.model_copy(update={"idempotency_key": "another"})
    assert fingerprint(other_key) == fingerprint(request)
    assert fingerprint(request.model_copy(update={"prompt": "x"})) != fingerprint(request)
    assert request_record(request) == (dump_request(request), fingerprint(request))


def _trusted_by_parsing(url: object, base_url: str, hosts: tuple[str, ...]) -> bool:
    """`trusted_url` as it was: both URLs parsed, every time (and a URL that does not
    parse, such as an unbalanced "[", untrusted rather than a ValueError)."""
    if not isinstance(url, str) or not url or not url.isprintable():
        return False
    try:
        given, base = urlsplit(url), urlsplit(base_url)
    except ValueError:
        return False
    if (given.scheme, given.netloc) == (base.scheme, base.netloc):
        return True
    return given.scheme == "https" and given.netloc in hosts


BASES = [
    "http://127.0.0.1:8000",
    "https://platform.higgsfield.ai",
    "https://platform.higgsfield.ai/v1/",
    "https://user:pw@api.example.com:8443/base?x=1",
    "HTTPS://Upper.Example.com",
    "https://[::1]:9/",
    "not a url",
    "",
]
URLS = [
    "http://127.0.0.1:8000/requests/1/status",
    "http://127.0.0.1:8000?x",
    "http://127.0.0.1:8000#frag",
    "http://127.0.0.1:8000",
    "http://127.0.0.1:80001/requests",
    "http://127.0.0.1:8000@evil.com/requests",
    "http://127.0.0.1:8000.evil.com/x",
    "https://platform.higgsfield.ai/requests/abc/status",
    "https://platform.higgsfield.ai.evil.com/requests",
    "https://platform.higgsfield.ai:443/requests",
    "HTTPS://platform.higgsfield.ai/x",
    "https://upper.example.com/x",
    "https://Upper.Example.com/x",
    "https://user:pw@api.example.com:8443/other",
    "https://api.example.com:8443/other",
    "https://[::1]:9/x",
    "https://cdn.higgsfield.ai/x",
    " https://platform.higgsfield.ai/x",
    "https://platform.higgsfield.ai/x\n",
    "//platform.higgsfield.ai/x",
    "/relative/path",
    "",
    None,
    42,
]


@pytest.mark.parametrize("base", BASES)
def test_trusted_url_answers_as_parsing_both_urls_does(base: str) -> None:
    hosts = ("cdn.higgsfield.ai", "platform.higgsfield.ai")
    for url in [*URLS, *(f"{base}{tail}" for tail in ("/x", "?q", "#f", "", "x", ".evil/x"))]:
        assert trusted_url(url, base, hosts) == _trusted_by_parsing(url, base, hosts), url


def _answer(check: Callable[[], bool]) -> bool | str:
    try:
        return check()
    except ValueError as exc:  # urlsplit refuses an unbalanced "[" in a netloc
        return repr(exc)


@given(st.text(min_size=1, max_size=40), st.sampled_from(BASES[:6]))
def test_trusted_url_fast_path_on_any_tail(tail: str, base: str) -> None:
    for url in (base + tail, base.rstrip("/") + "/" + tail, tail):
        fast = _answer(lambda: trusted_url(url, base))  # noqa: B023 - called right here
        assert fast == _answer(lambda: _trusted_by_parsing(url, base, ())), url  # noqa: B023


def test_option_names_are_read_per_options_class() -> None:
    class One(ProviderOptions):
        alpha: int | None = None

    class Two(ProviderOptions):
        beta: int | None = Field(default=None, validation_alias=AliasChoices("beta", "b"))

    assert option_names(One) == {"alpha"}
    assert option_names(Two) == {"beta", "b"}
    assert option_names(One) is option_names(One)


def test_http_url_is_parsed_once_and_never_changed_by_a_request() -> None:
    url = parsed_url("http://127.0.0.1:9/v1/thing")
    assert parsed_url("http://127.0.0.1:9/v1/thing") is url
    with_query = httpx.Request("POST", url, params={"hf_webhook": "https://h/x"}, json={})
    assert str(with_query.url) == "http://127.0.0.1:9/v1/thing?hf_webhook=https%3A%2F%2Fh%2Fx"
    assert str(url) == "http://127.0.0.1:9/v1/thing"
    assert httpx.Request("POST", url, json={}).url == url


class _CountingLedger(MemoryLedger):
    def __init__(self) -> None:
        super().__init__()
        self.key_reads = 0

    def get_by_key(self, idempotency_key: str) -> Job | None:
        self.key_reads += 1
        return super().get_by_key(idempotency_key)


@pytest.mark.parametrize("sync", [True, False])
async def test_a_key_drawn_for_the_submit_is_not_looked_up_but_a_given_one_is(
    sync: bool,
) -> None:
    kit = Kit(sync=sync, clock=FakeClock())
    ledger = _CountingLedger()
    gw = kit.gateway(store=ledger)
    first = await maybe_await(gw.submit(request()))
    assert ledger.key_reads == 0  # its key was drawn here: no stored job can hold it
    assert (await maybe_await(gw.submit(request(idempotency_key="K-1")))).version > 0
    again = await maybe_await(gw.submit(request(idempotency_key="K-1")))
    assert ledger.key_reads == 2
    made = GenerationRequest.model_validate(request())  # the caller's object, sent twice
    assert (await maybe_await(gw.submit(made))).id == (await maybe_await(gw.submit(made))).id
    same = await maybe_await(gw.submit(made, prompt=made.prompt))  # a copy, same key
    assert same.idempotency_key == made.idempotency_key
    assert ledger.key_reads == 5
    with pytest.raises(IdempotencyConflictError):
        await maybe_await(gw.submit(request(idempotency_key="K-1", prompt="another")))
    assert kit.emulator("toy").count("submit") == 3  # first, K-1, made: nothing twice
    assert again.id != first.id
    await kit.close()


def test_higgsfield_table_estimates_are_priced_once_per_distinct_figure() -> None:
    dop: Any = SimpleNamespace(model="dop-lite", options=None)
    rate = Decimal("0.0625")
    first = table_estimate(dop, override=None, usd_per_credit=rate)
    assert first is table_estimate(dop, override=None, usd_per_credit=rate)
    assert first is not None
    assert first.amount == 2
    two = table_estimate(dop, override=Decimal("2"), usd_per_credit=rate)
    two_point_oh = table_estimate(dop, override=Decimal("2.0"), usd_per_credit=rate)
    assert two is not None
    assert two_point_oh is not None
    assert "2 credits" in two.basis
    assert "2.0 credits" in two_point_oh.basis
    other_rate = table_estimate(dop, override=None, usd_per_credit=Decimal("0.1"))
    assert other_rate is not None
    assert other_rate.usd == Decimal("0.2")
    soul = [SimpleNamespace(model="soul", options=SimpleNamespace(batch_size=n)) for n in (1, 4)]
    one, four = (table_estimate(p, override=None, usd_per_credit=rate) for p in soul)
    assert one is not None
    assert four is not None
    assert four.amount == 4 * one.amount


def test_a_malformed_url_in_an_answer_is_untrusted_not_a_crash() -> None:
    # urlsplit raises ValueError on an unbalanced "[": a hostile answer must not turn a
    # submit into an untyped exception
    assert trusted_url("https://[::1/jobs/1", "https://api.example.com") is False
    assert trusted_url("http://api.example.com]x/1", "https://api.example.com") is False


class _LeaseLedger(MemoryLedger):
    """Records how leases are given up: with a write (`update(release=)`) or on their own."""

    def __init__(self) -> None:
        super().__init__()
        self.let_go: list[tuple[str, str]] = []  # (how, owner)

    def update(self, job: Job, *, budget: Any = None, release: str | None = None) -> Job:
        stored = super().update(job, budget=budget, release=release)
        if release is not None:
            self.let_go.append(("update", release))
        return stored

    def release(self, job_id: str, owner: str) -> None:
        self.let_go.append(("release", owner))
        super().release(job_id, owner)


@pytest.mark.parametrize("sync", [True, False])
async def test_the_acceptance_write_gives_the_submits_lease_up(sync: bool) -> None:
    kit = Kit(sync=sync, clock=FakeClock())
    ledger = _LeaseLedger()
    gw = kit.gateway(store=ledger)
    job = await maybe_await(gw.submit(request()))
    assert job.provider_job_id is not None
    assert ledger.lease(job.id) is None
    assert [how for how, _ in ledger.let_go] == ["update"]  # one write, no release after it
    # kept for a wait: neither
    ledger.let_go.clear()
    made = GenerationRequest.model_validate(request())
    op = gw.submitter.submit_op(made, "waiter", keep_lease=True)
    kept = await maybe_await(gw._engine.run(op))
    assert kept.provider_job_id is not None
    held = ledger.lease(kept.id)
    assert held is not None
    assert held.owner == "waiter"
    assert ledger.let_go == []
    # a submit that ends without an acceptance gives it up on its own, as before
    kit.emulator("toy").faults = FaultProfile.parse("submit:422*1")
    with pytest.raises(ProviderRejectedError) as caught:
        await maybe_await(gw.submit(request()))
    failed = caught.value.job
    assert failed is not None
    assert ledger.lease(failed.id) is None
    assert [how for how, _ in ledger.let_go] == ["release"]
    await kit.close()


def test_a_submit_on_sqlite_writes_its_acceptance_and_release_in_one_statement(
    tmp_path: Path,
) -> None:
    kit = Kit(sync=True, clock=FakeClock())
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    gw = kit.gateway(store=ledger)
    seen: list[str] = []
    ledger._db.set_trace_callback(lambda text: seen.append(" ".join(text.split())))
    job = gw.submit(request())
    writes = [s for s in seen if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    # the key, the job, its attempt; the acceptance (lease given up in it), its attempt
    assert [w.split()[2] for w in writes] == [
        "idempotency_keys",
        "jobs",
        "attempts",
        "SET",
        "attempts",
    ], writes
    assert writes[3].startswith("UPDATE jobs SET claimed_by = CASE")
    assert ledger.lease(job.id) is None
    gw.close()
    asyncio.run(kit.close())
