"""The webhook receiver: one Starlette app, built from a gateway, with a route per provider.

```python
from videogw import Gateway
from videogw.webhooks import make_webhook_app

app = make_webhook_app(Gateway("videogw.toml"))     # serve with uvicorn, behind TLS
```

``POST /webhooks/{provider}/{job_id}`` is the callback URL videogw gives each provider
(`callback_url`; the gateway builds it from ``public_url`` in the config). Each delivery:

1. **Routing and size.** An unknown provider or job is 404. A body over `max_body` bytes is
   413 (by its Content-Length, or as it streams in), before anything parses it.
2. **Verification** is the provider's own `parse_webhook(headers, body, job=, query=)`:
   Standard Webhooks signatures for Higgsfield (5-minute window; a redelivery reuses its
   ``webhook-id``, its dedupe key in step 3), the per-job token in the callback URL for
   providers that sign nothing (Pixazo).
   A `WebhookRejectedError` is 401 and changes nothing; an unreadable payload is 400.
3. **Deduplication** on the update's `dedupe_key` (falling back to ``webhook-id`` or the
   body's hash), in a bounded memory of recent keys: a duplicate answers 200 and changes
   nothing. Keys are remembered only after verification, so forgeries cannot poison it.
4. **Normalization**: the update is the same `StatusUpdate` a status read produces, folded
   in with `lifecycle.apply_update` (which never walks a finished job backwards).
5. **Trust**: a non-terminal update (queued, running, progress) is written to the store at
   once and answered 200. A *terminal* claim is not trusted on the delivery's word: the
   receiver answers **202 right away** and then, in a background task after the response,
   confirms with a status read through the gateway (which writes the store/ledger); the
   delivery's extra details are kept only when the read agrees. Providers give callbacks a
   few seconds; a status read with its retries may take longer, so it never holds up the
   answer. A failed confirmation is logged and left to polling (`wait`, `resume`).

A delivery for a job that has since moved to another provider (failover) is answered 200
and ignored: only the current provider's deliveries can verify against the job.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .callbacks import callback_url, with_callback
from .errors import UnsupportedOperationError, VideoGWError, WebhookRejectedError
from .models import Job
from .provider import Provider, StatusUpdate

if TYPE_CHECKING:  # Starlette is imported when an app is built: the gateway needs only
    from starlette.applications import Starlette  # `with_callback`, cheaply
    from starlette.requests import Request
    from starlette.responses import JSONResponse

__all__ = [
    "DEFAULT_MAX_BODY",
    "ReceiverStats",
    "WebhookReceiver",
    "callback_url",
    "make_webhook_app",
    "with_callback",
]

log = logging.getLogger("videogw.webhooks")

DEFAULT_MAX_BODY = 256 * 1024  # status payloads are a few KiB
PATH = "/webhooks/{provider}/{job_id}"


class _Recent:
    """A bounded, thread-safe set of recently seen keys, oldest forgotten first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        """Remember `key`; False when it was already remembered."""
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return False
            self._keys[key] = None
            if len(self._keys) > self.size:
                self._keys.popitem(last=False)
            return True

    def discard(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass
class ReceiverStats:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    confirmed: int = 0
    disputed: int = 0  # terminal claims the status read did not confirm
    confirm_failures: int = 0
    deferred: int = 0  # terminal claims left to the process that holds the job's lease
    reasons: deque[str] = field(default_factory=lambda: deque(maxlen=50))


class WebhookReceiver:
    """The logic behind the app; `make_webhook_app` wires it to Starlette."""

    def __init__(
        self,
        gateway: Any,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        dedupe_size: int = 10_000,
        confirm: Literal["background", "inline"] = "background",
    ) -> None:
        self.gateway = gateway
        self.max_body = max_body
        self.confirm = confirm
        self.seen = _Recent(dedupe_size)
        self.stats = ReceiverStats()
        tracker = getattr(gateway, "tracker", None)
        if tracker is not None:
            # deliveries now reach this process's pollers: they read such jobs only as a
            # backstop (`Tracker.webhooked`)
            tracker.hears_webhooks = True

    # -- the gateway, sync or async -------------------------------------------------------
    def _provider(self, name: str) -> Provider | None:
        if name not in self.gateway.provider_names():
            return None
        try:
            provider: Provider = self.gateway.provider(name)
        except VideoGWError:
            return None
        return provider

    async def _call(self, method: Any, *args: Any) -> Any:
        if inspect.iscoroutinefunction(method):
            return await method(*args)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(method, *args)

    # -- one delivery ---------------------------------------------------------------------
    async def handle(self, request: Request) -> JSONResponse:
        from starlette.background import BackgroundTask
        from starlette.responses import JSONResponse

        self.stats.received += 1
        name, job_id = request.path_params["provider"], request.path_params["job_id"]
        provider = self._provider(name)
        if provider is None:
            return self._refuse(404, f"no provider named {name!r}")
        body = await self._body(request)
        if body is None:
            return self._refuse(413, f"body over {self.max_body} bytes")
        job: Job | None = await self._call(self.gateway.store.get, job_id)  # a read
        if job is None:
            return self._refuse(404, f"no job {job_id!r}")
        if job.provider != name:
            self.stats.ignored += 1
            return JSONResponse({"result": "ignored", "reason": "job is on another provider"})
        try:
            update = provider.parse_webhook(
                dict(request.headers), body, job=job, query=dict(request.query_params)
            )
        except WebhookRejectedError as exc:
            return self._refuse(401, str(exc), public="webhook rejected")
        except UnsupportedOperationError as exc:
            return self._refuse(404, str(exc))
        except (VideoGWError, ValueError) as exc:
            return self._refuse(400, f"{type(exc).__name__}: {exc}", public="unreadable payload")
        if update.provider_job_id and job.provider_job_id not in (None, update.provider_job_id):
            return self._refuse(400, f"delivery is about {update.provider_job_id}, not {job_id}")
        key = update.dedupe_key or request.headers.get("webhook-id")
        key = f"{name}/{job_id}/{key or hashlib.sha256(body).hexdigest()}"
        if not self.seen.add(key):
            self.stats.duplicates += 1
            return JSONResponse({"result": "duplicate"})
        if not update.status.is_terminal:
            # through the one writer: a compare-and-swap that never overwrites a newer record
            new = await self._call(self.gateway.apply_webhook_update, job.id, update)
            self.stats.applied += 1
            return JSONResponse({"result": "applied", "status": new.status.value})
        if self.confirm == "inline":
            await self._confirm(job, update, key)
            return JSONResponse({"result": "confirmed"}, status_code=200)
        task = BackgroundTask(self._confirm, job, update, key)
        return JSONResponse({"result": "accepted", "confirming": True}, 202, background=task)

    async def _body(self, request: Request) -> bytes | None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return None
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _confirm(self, job: Job, update: StatusUpdate, key: str) -> None:
        """Trust a terminal claim only when a status read agrees, read under the job's
        lease (the read is recorded through the gateway's one writer). When another
        process holds the lease, it acts on the job and this receiver leaves it be. An
        unconfirmed claim is forgotten, so the provider's retry of it is heard again."""
        try:
            read: Job | None = await self._call(self.gateway.confirm_webhook, job, update)
        except VideoGWError as exc:
            self.seen.discard(key)
            self.stats.confirm_failures += 1
            log.warning(
                "job %s: %s webhook says %s but the confirming status read failed (%s); "
                "polling will settle it",
                job.id,
                job.provider,
                update.status.value,
                exc,
            )
            return
        if read is None:
            self.seen.discard(key)
            self.stats.deferred += 1
            log.info("job %s: leased by another process; it will read the job itself", job.id)
            return
        if read.status is not update.status:
            self.seen.discard(key)
            self.stats.disputed += 1
            log.warning(
                "job %s: %s webhook says %s, its status read says %s; trusting the read",
                job.id,
                job.provider,
                update.status.value,
                read.status.value,
            )
            return
        self.stats.confirmed += 1
        self.stats.applied += 1

    def _refuse(self, status: int, reason: str, *, public: str | None = None) -> JSONResponse:
        from starlette.responses import JSONResponse

        self.stats.rejected += 1
        self.stats.reasons.append(f"{status} {reason}")
        log.info("webhook refused (%s): %s", status, reason)
        return JSONResponse({"error": public or reason}, status_code=status)


def make_webhook_app(
    gateway: Any,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    dedupe_size: int = 10_000,
    confirm: Literal["background", "inline"] = "background",
) -> Starlette:
    """The ASGI app for `gateway` (a `Gateway` or an `AsyncGateway`).

    ``app.state.receiver`` is the `WebhookReceiver` (its `stats` count what happened)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    receiver = WebhookReceiver(gateway, max_body=max_body, dedupe_size=dedupe_size, confirm=confirm)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route(PATH, receiver.handle, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )
    app.state.receiver = receiver
    return app
