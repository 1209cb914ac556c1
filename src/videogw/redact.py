"""Secrets never shown: every configured secret is known here and removed from text.

A provider's secrets (API keys, key secrets, webhook signing secrets) are registered when
the provider is built; per-job secrets (Pixazo's callback token) are masked by where they
travel (a ``vgw_token=`` query parameter, a ``webhook_token`` key) so the registry does not
grow with every job. `redact` replaces each with ``[REDACTED]`` wherever it appears: error messages
(every `VideoGWError`), log lines (`RedactingFilter`), CLI output and what the ledger
writes (`redact_job`).

```python
from videogw import redact

redact.register("sk-live-123456789")
redact.redact("provider said: bad key sk-live-123456789")   # '... bad key [REDACTED]'
```

Values shorter than `MIN_LENGTH` are not registered (redacting ``"abc"`` everywhere would
garble text and protect nothing). `check_secret` refuses a value with whitespace or control
characters (a key read from a CRLF ``.env`` file ends in ``\\r``): such a key would be sent
broken, so it is a `ConfigurationError` before any request.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Job

__all__ = [
    "MASK",
    "MIN_LENGTH",
    "RedactingFilter",
    "check_secret",
    "install_log_filter",
    "redact",
    "redact_data",
    "redact_job",
    "register",
    "register_provider_secrets",
    "registered",
]

MASK = "[REDACTED]"
MIN_LENGTH = 8
# per-job secrets travel in URL query parameters (Pixazo's callback ``?vgw_token=``): they
# are masked by name, so the registry does not grow with every job
# (only videogw's own: a provider's signed output URL must stay usable in --json)
SECRET_PARAM = re.compile(r"([?&]vgw_token=)[^&#\s'\"]+")
# provider_data keys that hold secrets by name (Pixazo's webhook_token): hidden in output
SECRET_KEY = re.compile(r"(?i)(token|secret|password|api[_-]?key)")

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def _pieces(value: str) -> Iterable[str]:
    yield value
    # "key_id:key_secret" pairs and "Bearer x" forms: each long piece is a secret too
    for piece in re.split(r"[:\s]+", value):
        if piece != value:
            yield piece


def register(*values: str | None) -> None:
    """Remember secrets so `redact` removes them from now on."""
    global _pattern
    added = False
    with _lock:
        for value in values:
            if not value:
                continue
            for piece in _pieces(value.strip()):
                if len(piece) >= MIN_LENGTH and piece not in _secrets:
                    _secrets.add(piece)
                    added = True
        if added:
            ordered = sorted(_secrets, key=len, reverse=True)  # longest first
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def registered() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by ``[REDACTED]``."""
    if not text:
        return text
    if "=" in text:
        text = SECRET_PARAM.sub(rf"\g<1>{MASK}", text)
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None else text


def redact_data(data: Any, *, hide_keys: bool = True) -> Any:
    """JSON-like data with secrets redacted from every string, and (with `hide_keys`) the
    values of keys named like secrets (``webhook_token``) replaced by ``[REDACTED]``."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {
            key: (
                MASK
                if hide_keys and isinstance(key, str) and SECRET_KEY.search(key) and value
                else redact_data(value, hide_keys=hide_keys)
            )
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [redact_data(item, hide_keys=hide_keys) for item in data]
    return data


def redact_job(job: Job) -> Job:
    """A copy of `job` with registered secrets removed from its error and attempt texts,
    for the ledger writer (provider_data is kept: a webhook token must be checked later)."""
    if _pattern is None:
        return job
    update: dict[str, Any] = {}
    if job.error is not None:
        message = redact(job.error.message)
        if message != job.error.message:
            update["error"] = job.error.model_copy(update={"message": message})
    attempts = []
    changed = False
    for attempt in job.attempts:
        reason = redact(attempt.reason) if attempt.reason else attempt.reason
        changed |= reason != attempt.reason
        attempts.append(attempt.model_copy(update={"reason": reason}))
    if changed:
        update["attempts"] = tuple(attempts)
    if job.raw_status:
        raw = redact(job.raw_status)
        if raw != job.raw_status:
            update["raw_status"] = raw
    return job.model_copy(update=update) if update else job


def check_secret(value: str, where: str) -> None:
    """Refuse a secret with control characters (``\\r``, ``\\n``, tabs...) or spaces around
    it: it would be sent broken. (Spaces inside separate rotated webhook secrets.)"""
    if not value:
        return
    if "\r" in value:
        kind = "a carriage return (a .env file with CRLF line ends?)"
    elif any(not c.isprintable() for c in value):
        kind = "control characters"
    elif value != value.strip():
        kind = "spaces around it"
    else:
        return
    from .errors import ConfigurationError

    raise ConfigurationError(f"{where} contains {kind}: remove them; nothing was sent with it")


def register_provider_secrets(provider: Any) -> None:
    """Check and register every secret of a provider being built (`Provider.secrets`)."""
    for where, value in provider.secrets():
        check_secret(value, where)
        register(value)
    install_log_filter()


class RedactingFilter(logging.Filter):
    """Removes registered secrets from a log record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:
            return True
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install_log_filter(*handlers: logging.Handler) -> None:
    """Redact videogw's log records: on every ``videogw`` logger there is now, and on the
    given handlers (the CLI passes its own, which also see other libraries' records)."""
    names = [
        n for n in logging.root.manager.loggerDict if n == "videogw" or n.startswith("videogw.")
    ]
    for name in ["videogw", *names]:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
