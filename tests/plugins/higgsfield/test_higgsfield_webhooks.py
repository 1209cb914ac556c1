"""Higgsfield webhooks (Standard Webhooks, reference/providers.md §1.10): a valid signature is
accepted; a tampered body, a wrong secret, a stale timestamp and an unsigned delivery are
rejected, a redelivered ``webhook-id`` is not; signatures from a secret rotation are
understood; and the emulator's own deliveries verify."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from videogw import GenerationRequest, JobStatus
from videogw.emulator import FakeClock
from videogw.errors import WebhookRejectedError
from videogw_higgsfield import HiggsfieldProvider, HiggsfieldSettings
from videogw_higgsfield.emulator import HiggsfieldEmulator
from videogw_higgsfield.webhooks import sign
from videogw_higgsfield.wire import EMULATOR_WEBHOOK_SECRET

SECRET = "whsec_" + base64.b64encode(b"a-test-secret-for-webhooks-only").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the-secret-before-the-rotation").decode()
BODY = json.dumps(
    {
        "status": "completed",
        "request_id": "0b7c9a8e-1111-4c2d-9e0f-123456789abc",
        "status_url": "https://platform.higgsfield.ai/requests/0b7c9a8e-1111-4c2d-9e0f-123456789abc/status",
        "video": {"url": "https://cdn.higgsfield.ai/outputs/0b7c9a8e/out.mp4"},
        "expires_at": "2026-06-01T12:00:00Z",
    }
).encode()


def provider(**settings: Any) -> HiggsfieldProvider:
    settings.setdefault("webhook_secret", SECRET)
    return HiggsfieldProvider(HiggsfieldSettings(api_key="a:b", **settings))


def headers(
    body: bytes = BODY,
    *,
    msg_id: str = "msg_1",
    at: float | None = None,
    secrets: tuple[str, ...] = (SECRET,),
) -> dict[str, str]:
    stamp = time.time() if at is None else at
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(int(stamp)),
        "Webhook-Signature": " ".join(sign(s, msg_id, stamp, body) for s in secrets),
        "Content-Type": "application/json",
    }


def test_valid_delivery_is_accepted() -> None:
    update = provider().parse_webhook(headers(), BODY)
    assert update.status is JobStatus.succeeded
    assert update.charged is True
    assert update.provider_job_id == "0b7c9a8e-1111-4c2d-9e0f-123456789abc"
    assert update.dedupe_key == "msg_1"
    assert update.outputs is not None
    assert update.outputs[0].url.endswith("out.mp4")


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("tampered body", lambda: (headers(), BODY.replace(b"completed", b"failed"))),
        ("wrong secret", lambda: (headers(secrets=(OLD_SECRET,)), BODY)),
        ("stale timestamp", lambda: (headers(at=time.time() - 6 * 60), BODY)),
        ("future timestamp", lambda: (headers(at=time.time() + 6 * 60), BODY)),
        ("unsigned", lambda: ({"Content-Type": "application/json"}, BODY)),
        ("garbled signature", lambda: ({**headers(), "Webhook-Signature": "v1,%%%"}, BODY)),
        ("signature without version", lambda: ({**headers(), "Webhook-Signature": "abc"}, BODY)),
        ("not a status body", lambda: (headers(b"[]"), b"[]")),
    ],
)
def test_bad_deliveries_are_rejected(case: str, make: Any) -> None:
    sent_headers, body = make()
    with pytest.raises(WebhookRejectedError) as caught:
        provider().parse_webhook(sent_headers, body)
    assert SECRET not in str(caught.value)


def test_redelivery_is_not_rejected_and_keeps_its_dedupe_key() -> None:
    """webhook-security: redeliveries reuse ``webhook-id`` so receivers deduplicate, and
    4xx is never retried; the provider hands the id on as the dedupe key instead of
    refusing it (the receiver answers the duplicate 2xx)."""
    p = provider()
    first = p.parse_webhook(headers(msg_id="msg_42"), BODY)
    again = p.parse_webhook(headers(msg_id="msg_42"), BODY)
    assert first.dedupe_key == again.dedupe_key == "msg_42"
    assert again.status is JobStatus.succeeded
    with pytest.raises(WebhookRejectedError):  # a forged copy is still refused
        p.parse_webhook(headers(msg_id="msg_42", secrets=(OLD_SECRET,)), BODY)


def test_rotation_several_signatures_and_several_secrets() -> None:
    both = headers(secrets=(OLD_SECRET, SECRET))
    assert provider().parse_webhook(both, BODY).status is JobStatus.succeeded
    old_only = headers(msg_id="msg_2", secrets=(OLD_SECRET,))
    rotating = provider(webhook_secret=f"{SECRET} {OLD_SECRET}")
    assert rotating.parse_webhook(old_only, BODY).dedupe_key == "msg_2"


def test_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_WEBHOOK_SECRET", SECRET)
    p = HiggsfieldProvider(HiggsfieldSettings(api_key="a:b"))
    assert p.parse_webhook(headers(), BODY).status is JobStatus.succeeded


def test_unsigned_only_when_explicitly_allowed_and_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HF_WEBHOOK_SECRET", raising=False)
    plain = {"Content-Type": "application/json"}
    with pytest.raises(WebhookRejectedError, match="allow_unsigned_webhooks"):
        HiggsfieldProvider(HiggsfieldSettings(api_key="a:b")).parse_webhook(plain, BODY)
    lax = HiggsfieldProvider(HiggsfieldSettings(api_key="a:b", allow_unsigned_webhooks=True))
    update = lax.parse_webhook(plain, BODY)
    assert update.dedupe_key == "0b7c9a8e-1111-4c2d-9e0f-123456789abc:completed"
    # with a secret configured, an unsigned delivery is refused even when allowed
    with pytest.raises(WebhookRejectedError, match="missing"):
        provider(allow_unsigned_webhooks=True).parse_webhook(plain, BODY)


def test_emulator_deliveries_verify() -> None:
    clock = FakeClock(time.time())
    app = HiggsfieldEmulator(clock=clock)
    p = HiggsfieldProvider(
        HiggsfieldSettings(**HiggsfieldProvider.emulator_settings("https://api.higgsfield.ai"))
    )
    assert p.webhook_secrets() == [EMULATOR_WEBHOOK_SECRET]
    from videogw import Gateway
    from videogw.emulator import SyncEmulatorTransport
    from videogw.testing import registry_with

    with Gateway(
        providers=[p],
        registry=registry_with(HiggsfieldProvider),
        clock=clock,
        transports={"higgsfield": SyncEmulatorTransport(app)},
    ) as gw:
        request = GenerationRequest(
            model="dop-lite",
            prompt="a cat",
            image="https://e.com/c.jpg",
            webhook_url="https://hooks.example/higgsfield",
        )
        done = gw.submit(request)
        failed = gw.submit(
            request.model_copy(update={"prompt": "a cat emulate:failed", "idempotency_key": "k2"})
        )
        cancelled = gw.submit(
            request.model_copy(update={"prompt": "emulate:queue=1000", "idempotency_key": "k3"})
        )
        gw.cancel(cancelled)
    assert app.due_webhooks() == []  # nothing before the jobs finish
    clock.advance(60)
    deliveries = app.due_webhooks()
    assert [d.url for d in deliveries] == ["https://hooks.example/higgsfield"] * 2  # no cancel
    updates = {
        u.provider_job_id: u for u in (p.parse_webhook(d.headers, d.body) for d in deliveries)
    }
    assert updates[done.provider_job_id].status is JobStatus.succeeded
    assert updates[failed.provider_job_id].status is JobStatus.failed
    assert updates[failed.provider_job_id].charged is False
