"""Issue 16: a provider's answer nested thousands of levels deep is a typed error for that
job only: tracking of every other job carries on, and a webhook delivery gets a 4xx."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from toy import ToyProvider
from videogw import Gateway, GenerationRequest, JobStatus, MemoryStore
from videogw.emulator import FakeClock, SyncEmulatorTransport
from videogw.emulator.harness import emulate
from videogw.provider import json_loads
from videogw.testing import registry_with
from videogw.webhooks import make_webhook_app

IMAGE = "https://example.com/cat.jpg"
DEEP = b"[" * 50_000 + b"]" * 50_000


class DeepFor(SyncEmulatorTransport):
    """The emulator, except that status reads of the named provider job ids answer with
    JSON nested 50,000 levels deep."""

    def __init__(self, app: Any, poisoned: set[str]) -> None:
        super().__init__(app)
        self.poisoned = poisoned

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.rsplit("/", 1)[-1] in self.poisoned:
            return httpx.Response(200, headers={"content-type": "application/json"}, content=DEEP)
        return super().handle_request(request)


def test_json_loads_refuses_depth_with_a_value_error() -> None:
    for text in (DEEP, b'{"a":' * 70 + b"1" + b"}" * 70, b"1" * 5000):
        try:
            json_loads(text)
        except ValueError:
            continue
        raise AssertionError("accepted")
    assert json_loads(b'{"a": "[[[[[[", "b": [1, [2]]}') == {"a": "[[[[[[", "b": [1, [2]]}


def test_a_deeply_nested_status_answer_does_not_end_wait_all_for_every_job() -> None:
    clock = FakeClock()
    emulated = emulate(["toy"], registry=registry_with(ToyProvider), clock=clock)
    poisoned: set[str] = set()
    transport = DeepFor(emulated.emulators["toy"], poisoned)
    with Gateway(
        emulated.config(),
        transports={"toy": transport},
        registry=emulated.registry,
        clock=clock,
        store=MemoryStore(),
    ) as gateway:
        jobs = [gateway.submit(model="dop-lite", prompt="a cat", image=IMAGE) for _ in range(3)]
        poisoned.add(str(jobs[0].provider_job_id))
        finished = gateway.wait_all(jobs, timeout=3600)
    assert [job.id for job in finished] == [job.id for job in jobs]
    assert finished[0].status is not JobStatus.succeeded  # given up on; it lives on
    assert [job.status for job in finished[1:]] == [JobStatus.succeeded] * 2


async def test_a_deeply_nested_webhook_body_is_refused_with_a_4xx() -> None:
    from videogw_pixazo import PixazoProvider

    clock = FakeClock()
    emulated = emulate(["pixazo"], registry=registry_with(PixazoProvider), clock=clock)
    gateway = emulated.gateway(sync=True, clock=clock)
    job = gateway.submit(
        GenerationRequest(
            model="pixazo:dop-lite",
            prompt="a cat",
            image=IMAGE,
            motion={"id": "m1"},
            webhook_url="https://hooks.test/webhooks/pixazo/pending",
        )
    )
    clock.advance(600)
    delivery = emulated.emulators["pixazo"].due_webhooks()[-1]
    query = urlsplit(delivery.url).query
    app = make_webhook_app(gateway)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://hooks.test") as client:
        answer = await client.post(f"/webhooks/pixazo/{job.id}?{query}", content=DEEP[:60_000])
        deep = b"[" * 5000 + b"]" * 5000
        nested = await client.post(f"/webhooks/pixazo/{job.id}?{query}", content=deep)
    assert 400 <= answer.status_code < 500
    assert 400 <= nested.status_code < 500
    gateway.close()
