"""Higgsfield webhook verification: the Standard Webhooks scheme (docs/providers/higgsfield.md).

Headers ``webhook-id``, ``webhook-timestamp`` (±5 minutes) and ``webhook-signature`` (one or
more ``v1,<base64>``, one per secret while a secret is being rotated); the signature is
HMAC-SHA256 over ``{id}.{timestamp}.{raw body}`` with the account's ``whsec_`` secret.
The `standardwebhooks` package does the cryptography and the timestamp window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from videogw.errors import WebhookRejectedError

__all__ = ["sign", "verify"]

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
