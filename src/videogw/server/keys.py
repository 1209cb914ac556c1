"""Client keys: bearer secrets handed to callers of `videogw serve`.

The ledger keeps a key's id, name, daily budget and the SHA-256 of its secret, never the
secret itself (it is shown once, by ``videogw keys create``). A secret is 32 random bytes,
so one unsalted hash is enough to make the stored table useless to a reader of the ledger.
A job made through a key carries the key's id in ``labels["client_key"]``; the ledger
counts that key's spend and holds by it, so its daily budget is checked in the same
transaction as each new hold.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from decimal import Decimal

from ..ledger import ClientKey, Ledger

__all__ = ["SECRET_PREFIX", "create_key", "find_key", "hash_secret"]

SECRET_PREFIX = "vgw_sk_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    ledger: Ledger, name: str, budget_usd_per_day: Decimal | None = None
) -> tuple[ClientKey, str]:
    """Store a new key; returns it and its secret (shown once, never stored)."""
    if not name.strip():
        raise ValueError("a key needs a name")
    if budget_usd_per_day is not None and budget_usd_per_day < 0:
        raise ValueError("the daily budget cannot be negative")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = ClientKey(
        id="key_" + secrets.token_hex(6),
        name=name.strip(),
        key_hash=hash_secret(secret),
        created_at=datetime.now(UTC),
        budget_usd_per_day=budget_usd_per_day,
    )
    return ledger.add_key(key), secret


def find_key(ledger: Ledger, secret: str) -> ClientKey | None:
    """The stored key this secret belongs to (revoked or not), or None."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    key = ledger.key_by_hash(digest)
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    return key
