"""Higgsfield webhook verification: the Standard Webhooks scheme (docs/providers/higgsfield.md).

Headers ``webhook-id``, ``webhook-timestamp`` (±5 minutes) and ``webhook-signature`` (one or
more ``v1,<base64>``, one per secret while a secret is being rotated); the signature is
HMAC-SHA256 over ``{id}.{timestamp}.{raw body}`` with the account's ``whsec_`` secret.
The `standardwebhooks` package does the cryptography and the timestamp window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from videogw import StatusUpdate
from videogw.errors import MalformedResponseError, WebhookRejectedError
from videogw.provider import json_loads

if TYPE_CHECKING:
    from .provider import HiggsfieldProvider

__all__ = ["message_id", "read_delivery", "sign", "verify"]

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def verify(secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> str:
    """Check a delivery against any of `secrets`; return its ``webhook-id``.

    Raises `WebhookRejectedError` saying why (never echoing a secret or a signature)."""
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    lowered = {k.lower(): v for k, v in headers.items()}
    missing = [name for name in SIGNATURE_HEADERS if not lowered.get(name)]
    if missing:
        raise WebhookRejectedError(f"higgsfield webhook: missing {', '.join(missing)}")
    if not secrets:
        raise WebhookRejectedError(
            "higgsfield webhook: signed delivery but no webhook secret is configured "
            "(set HF_WEBHOOK_SECRET or name the variable with webhook_secret_env)"
        )
    reason = "no matching signature"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, lowered, json_parse=False)
        except WebhookVerificationError as exc:
            reason = str(exc)
            if "timestamp" in reason.lower() or "header" in reason.lower():
                break  # the same for every secret
        except Exception as exc:  # malformed secret or signature header
            reason = f"unreadable signature or secret ({type(exc).__name__})"
        else:
            return lowered["webhook-id"]
    raise WebhookRejectedError(f"higgsfield webhook: {reason}")


def sign(secret: str, msg_id: str, timestamp: float, body: bytes) -> str:
    """The ``webhook-signature`` value for a delivery (the emulator signs with this)."""
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    when = datetime.fromtimestamp(int(timestamp), UTC)
    return str(Webhook(secret).sign(msg_id, when, body.decode()))


def message_id(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, *, unsigned_ok: bool, env: str
) -> str | None:
    """The delivery's ``webhook-id`` once it verifies (None for an allowed unsigned one).

    A redelivery (same ``webhook-id``) is *not* refused: Higgsfield reuses the id so that
    receivers deduplicate, and never retries a 4xx; the receiver answers it 2xx."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if secrets:
        return verify(secrets, lowered, body)
    if unsigned_ok:
        return lowered.get("webhook-id")
    raise WebhookRejectedError(
        f"higgsfield: no webhook secret configured (set {env}); unsigned deliveries are "
        "refused unless allow_unsigned_webhooks = true"
    )


def read_delivery(
    provider: HiggsfieldProvider, headers: Mapping[str, str], body: bytes
) -> StatusUpdate:
    """A verified delivery as a `StatusUpdate` (the same reader as a status answer), its
    ``webhook-id`` as the dedupe key (else ``request_id:status``)."""
    s = provider.settings
    secrets = provider.webhook_secrets()
    msg_id = message_id(
        secrets, headers, body, unsigned_ok=s.allow_unsigned_webhooks, env=s.webhook_secret_env
    )
    try:
        data = json_loads(body)
        update = provider.update_from(data)
    except (ValueError, UnicodeDecodeError, MalformedResponseError) as exc:
        raise WebhookRejectedError(f"{provider.instance}: unreadable webhook body: {exc}") from None
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise WebhookRejectedError(f"{provider.instance}: webhook body has no request_id")
    key = msg_id or f"{request_id}:{update.raw_status}"
    return dataclasses.replace(update, provider_job_id=request_id, dedupe_key=key)
