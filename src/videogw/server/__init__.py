"""`videogw serve`: the gateway as an HTTP service any language can call.

- OpenAI-style ``/v1/videos`` (create, retrieve, list, content, delete), so the `openai`
  SDKs work against it; ``Idempotency-Key`` is honoured, an unknown submit outcome is
  answered with ``x-should-retry: false``, and ``openai-poll-after-ms`` paces polling.
- Native ``/v1/videogw/...``: estimate, explain, compare, the full job, spend.
- Bearer client keys (stored hashed in the ledger) with per-key daily budgets.
- The webhook receiver, a dashboard at ``/ui``, ``/metrics`` and ``/healthz``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .keys import create_key, find_key

if TYPE_CHECKING:
    from .app import ServerSettings, make_app

__all__ = ["ServerSettings", "create_key", "find_key", "make_app"]


def __getattr__(name: str) -> Any:
    # FastAPI is imported when an app is built, not by every `videogw` command
    if name in ("ServerSettings", "make_app"):
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
