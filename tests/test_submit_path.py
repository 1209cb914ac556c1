"""What issue 17 (client CPU per submit) changed on the submit path, held to the behaviour
it had: the same fingerprints in the ledger, caches that follow what they cache."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from videogw import GenerationRequest
from videogw.ledger import dump_request, fingerprint

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
