"""Pixazo webhooks (seed 003 "Webhook (Optional)", reference/providers.md §3.4).

Deliveries are unsigned, so videogw puts a per-job secret token in the callback URL it
hands Pixazo and `parse_webhook` checks it; duplicates are expected and deduplicated on
``request_id:status``. The documented callback bodies are in
cassettes/pixazo/webhook_callbacks.yaml, verbatim from the seed."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from videogw import GenerationRequest, Job, JobStatus, Task
from videogw.cassettes import load
from videogw.emulator import FakeClock, LoopbackServer, SyncEmulatorTransport, Timing
from videogw.emulator.harness import emulate
from videogw.errors import InvalidRequestError, MalformedResponseError, WebhookRejectedError
from videogw.lifecycle import apply_update
from videogw.models import Attempt, AttemptOutcome
from videogw.testing import registry_with
from videogw_pixazo import PixazoProvider
from videogw_pixazo.provider import TOKEN_PARAM

CALLBACKS = Path(__file__).parents[3] / "cassettes" / "pixazo" / "webhook_callbacks.yaml"
RID = "ai-model-api_019dxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
HOOK = "https://your-server.com/webhook/callback"  # seed 003 "Example: enable webhook"
TOKEN = "s3cr3t-token-for-this-job"
NOW = datetime(2026, 5, 22, 13, 19, 30, tzinfo=UTC)
REQUEST: dict[str, Any] = {
    "model": "dop-lite",
    "prompt": "a lake",
    "image": "https://example.com/lake.jpg",
    "motion": {"id": "m-1"},
}


def provider() -> PixazoProvider:
    return PixazoProvider(PixazoProvider.Settings(api_key="k"))


def accepted_job(token: str | None = TOKEN, request_id: str | None = RID) -> Job:
    started = NOW - timedelta(minutes=2)
    return Job(
        model="dop-lite",
        task=Task.image_to_video,
        status=JobStatus.queued,
        provider="pixazo",
        provider_model="dop-lite",
        provider_job_id=request_id,
        provider_data={"webhook_token": token} if token else {},
        idempotency_key="k",
        attempts=(
            Attempt(
                provider="pixazo",
                provider_model="dop-lite",
                idempotency_key="k",
                outcome=AttemptOutcome.accepted,
                started_at=started,
                provider_job_id=request_id,
                status=JobStatus.queued,
            ),
        ),
    )


def documented() -> tuple[bytes, bytes]:
    completed, failed = load(CALLBACKS)
    return completed.request_body, failed.request_body


def deliver(body: bytes, job: Job, token: str | None = TOKEN) -> Any:
    query = {TOKEN_PARAM: token} if token is not None else {}
    return provider().parse_webhook(
        {"content-type": "application/json"}, body, job=job, query=query
    )


# -- the submit asks for the callback ---------------------------------------------------
def test_submit_sends_the_callback_url_with_the_jobs_token() -> None:
    p = provider()
    prepared = p.prepare(GenerationRequest(**REQUEST, webhook_url=HOOK))
    token = prepared.provider_data["webhook_token"]
    assert len(token) >= 32
    built = p.build_submit(prepared)
    assert built.headers["x-webhook-url"] == f"{HOOK}?{TOKEN_PARAM}={token}"
    assert built.headers["x-webhook-mode"] == "terminal"
    assert prepared.provider_data["webhook_mode"] == "terminal"
    assert token not in built.read().decode()  # only in the header


def test_sync_mode_and_an_existing_query_are_kept() -> None:
    p = provider()
    prepared = p.prepare(
        GenerationRequest(
            **REQUEST, webhook_url=f"{HOOK}?src=videogw#frag", options={"webhook_mode": "sync"}
        )
    )
    token = prepared.provider_data["webhook_token"]
    built = p.build_submit(prepared)
    assert built.headers["x-webhook-url"] == f"{HOOK}?src=videogw&{TOKEN_PARAM}={token}#frag"
    assert built.headers["x-webhook-mode"] == "sync"


def test_each_job_gets_its_own_token() -> None:
    p = provider()
    request = GenerationRequest(**REQUEST, webhook_url=HOOK)
    assert (
        p.prepare(request).provider_data["webhook_token"]
        != (p.prepare(request).provider_data["webhook_token"])
    )
    assert "webhook_token" not in p.prepare(GenerationRequest(**REQUEST)).provider_data


def test_an_http_callback_url_is_rejected_before_sending() -> None:
    with pytest.raises(ValidationError, match="https"):
        GenerationRequest(**REQUEST, webhook_url="http://your-server.com/webhook/callback")
    # model_copy skips validators (Gateway.submit(request, **fields) uses it): the
    # provider checks again, and nothing reaches Pixazo
    emulated = emulate(["pixazo"], registry=registry_with(PixazoProvider))
    with emulated.gateway(sync=True) as gw, pytest.raises(InvalidRequestError) as caught:
        gw.submit(GenerationRequest(**REQUEST), webhook_url="http://your-server.com/hook")
    assert caught.value.field == "webhook_url"
    assert sum(emulated.emulators["pixazo"].counts.values()) == 0


# -- the documented deliveries -------------------------------------------------------------
def test_documented_terminal_callback() -> None:
    completed, _ = documented()
    update = deliver(completed, accepted_job())
    assert update.status is JobStatus.succeeded
    assert update.provider_job_id == RID
    assert update.dedupe_key == f"{RID}:COMPLETED"
    assert update.charged is True
    assert [(o.url, o.media_type) for o in update.outputs] == [
        (
            "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/v1/"
            "ai-model-api_019dxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/output.mp4",
            "video/mp4",
        )
    ]
    # ISO-8601 and zone-less "YYYY-MM-DD HH:MM:SS" (taken as UTC) in one payload
    assert dict(update.provider_data) == {
        "created_at": "2026-05-22T13:17:32.110000+00:00",
        "updated_at": "2026-05-22T13:19:23+00:00",
        "completed_at": "2026-05-22T13:19:23+00:00",
    }


def test_documented_failure_callback() -> None:
    _, failed = documented()
    update = deliver(failed, accepted_job())
    assert update.status is JobStatus.failed
    assert update.charged is False  # ERROR: "not charged"
    assert update.error.message == "Description of the error"
    assert update.dedupe_key == f"{RID}:ERROR"
    assert dict(update.provider_data) == {}  # the seed's "..." timestamps are not times


@pytest.mark.parametrize(
    ("job", "token", "why"),
    [
        (accepted_job(), "wrong-token", "wrong"),
        (accepted_job(), None, "missing"),
        (accepted_job(), "", "missing"),
        (accepted_job(token=None), TOKEN, "without a webhook URL"),
        (accepted_job(request_id="ai-model-api_other"), TOKEN, "not job"),
    ],
)
def test_a_delivery_that_fails_the_check_is_rejected(job: Job, token: str | None, why: str) -> None:
    completed, _ = documented()
    with pytest.raises(WebhookRejectedError, match=why) as caught:
        deliver(completed, job, token)
    assert TOKEN not in str(caught.value)


def test_a_delivery_without_its_job_or_without_a_body_is_rejected() -> None:
    completed, _ = documented()
    with pytest.raises(WebhookRejectedError):
        provider().parse_webhook({}, completed, job=None, query={TOKEN_PARAM: TOKEN})
    with pytest.raises(WebhookRejectedError):
        provider().parse_webhook({}, completed, job=accepted_job(), query=None)
    # a verified delivery that cannot be read is not a forgery: the receiver answers 400
    with pytest.raises(MalformedResponseError, match="request_id"):
        deliver(b"not json", accepted_job())
    with pytest.raises(MalformedResponseError, match="request_id"):
        deliver(b'{"status": "COMPLETED"}', accepted_job())


def test_a_delivery_can_reconcile_a_submit_whose_outcome_was_unknown() -> None:
    completed, _ = documented()
    update = deliver(completed, accepted_job(request_id=None))
    assert update.provider_job_id == RID


def test_a_duplicate_delivery_changes_nothing() -> None:
    completed, _ = documented()
    job = accepted_job()
    first, again = deliver(completed, job), deliver(completed, job)
    assert first == again
    assert first.dedupe_key == again.dedupe_key
    once = apply_update(job, first, now=NOW)
    twice = apply_update(once, again, now=NOW)
    assert twice == once
    assert once.status is JobStatus.succeeded
    assert once.finished_at == NOW
    # even applied later, only the bookkeeping time moves
    later = apply_update(once, again, now=NOW + timedelta(seconds=5))
    assert later.model_copy(update={"updated_at": once.updated_at}) == once


def test_a_late_sync_delivery_never_walks_a_finished_job_back() -> None:
    completed, _ = documented()
    progress = json.dumps({**json.loads(completed), "status": "PROCESSING", "output": None})
    job = apply_update(accepted_job(), deliver(completed, accepted_job()), now=NOW)
    late = deliver(progress.encode(), job)
    assert late.dedupe_key == f"{RID}:PROCESSING"
    assert apply_update(job, late, now=NOW).status is JobStatus.succeeded


# -- the emulator delivers -------------------------------------------------------------------
def submit_with_hook(mode: str, prompt: str = "a lake") -> tuple[Any, Any, FakeClock, Job]:
    clock = FakeClock()
    emulated = emulate(["pixazo"], registry=registry_with(PixazoProvider), clock=clock)
    app = emulated.emulators["pixazo"]
    with emulated.gateway(sync=True, clock=clock) as gw:
        job = gw.submit(
            GenerationRequest(
                **{**REQUEST, "prompt": prompt},
                webhook_url=f"{HOOK}?src=videogw",
                options={"webhook_mode": mode},
            )
        )
    return emulated, app, clock, job


def receive(job: Job, delivery: Any) -> Any:
    parts = urlsplit(delivery.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == HOOK
    query = dict(parse_qsl(parts.query))
    assert query["src"] == "videogw"
    return provider().parse_webhook(delivery.headers, delivery.body, job=job, query=query)


def test_emulator_terminal_delivery_end_to_end() -> None:
    _, app, clock, job = submit_with_hook("terminal")
    app.duplicate_rate = 0.0
    assert app.due_webhooks() == []  # nothing while the job runs
    clock.advance(60)
    (delivery,) = app.due_webhooks()
    update = receive(job, delivery)
    assert update.status is JobStatus.succeeded
    assert apply_update(job, update, now=NOW).status is JobStatus.succeeded
    assert app.due_webhooks() == []  # exactly one


def test_emulator_duplicates_are_deduplicated() -> None:
    _, app, clock, job = submit_with_hook("terminal")
    app.duplicate_rate = 1.0
    clock.advance(60)
    deliveries = app.due_webhooks()
    assert len(deliveries) == 2
    first, second = (receive(job, d) for d in deliveries)
    assert first.dedupe_key == second.dedupe_key
    once = apply_update(job, first, now=NOW)
    assert apply_update(once, second, now=NOW) == once


def test_emulator_sync_mode_reports_progress_then_the_end() -> None:
    _, app, clock, job = submit_with_hook("sync", "a lake emulate:queue=1 emulate:run=2")
    app.duplicate_rate = 0.0
    seen = []
    for _ in range(8):
        clock.advance(0.75)
        for delivery in app.due_webhooks():
            update = receive(job, delivery)
            job = apply_update(job, update, now=NOW)
            seen.append(update.raw_status)
    assert seen == ["QUEUED", "PROCESSING", "PROCESSING", "COMPLETED"]
    assert job.status is JobStatus.succeeded


def test_emulator_failure_delivery_is_not_charged() -> None:
    _, app, clock, job = submit_with_hook("terminal", "a lake emulate:error")
    app.duplicate_rate = 0.0
    clock.advance(60)
    (delivery,) = app.due_webhooks()
    update = receive(job, delivery)
    assert (update.status, update.raw_status, update.charged) == (JobStatus.failed, "ERROR", False)


def test_emulator_refuses_a_plain_http_callback() -> None:
    app = PixazoProvider.emulator()
    with httpx.Client(transport=SyncEmulatorTransport(app)) as client:
        response = client.post(
            "https://gateway.pixazo.ai/ai-model-api/v1/image-to-video",
            json=minimal_body(),
            headers={"Ocp-Apim-Subscription-Key": "k", "X-Webhook-URL": "http://x.example/h"},
        )
    assert response.status_code == 400
    assert "HTTPS" in response.json()["message"]
    assert not app.jobs


def minimal_body() -> dict[str, Any]:
    return {
        "model": "dop-lite",
        "prompt": "a lake",
        "seed": 1,
        "motions_id": "m-1",
        "motions_strength": 0.5,
        "input_images": ["https://example.com/lake.jpg"],
        "enhance_prompt": True,
    }


def test_emulator_delivers_to_a_loopback_receiver() -> None:
    received: list[tuple[str, bytes]] = []
    arrived = threading.Event()

    async def receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        received.append((scope["query_string"].decode(), body))
        arrived.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = PixazoProvider.emulator(timing=Timing(queue_s=0.05, run_s=0.1), duplicate_rate=0.0)
    with LoopbackServer(receiver) as hooks, LoopbackServer(app) as server:
        response = httpx.post(
            f"{server.base_url}/ai-model-api/v1/image-to-video",
            json=minimal_body(),
            headers={
                "Ocp-Apim-Subscription-Key": "k",
                "X-Webhook-URL": f"{hooks.base_url}/hook?{TOKEN_PARAM}=t0k",
            },
        )
        assert response.status_code == 202
        assert arrived.wait(10), server.webhook_errors
        time.sleep(0.3)  # nothing more should come
    (query, body), *more = received
    assert not more
    assert query == f"{TOKEN_PARAM}=t0k"
    payload = json.loads(body)
    assert payload["request_id"] == response.json()["request_id"]
    assert payload["status"] == "COMPLETED"
