"""The emulator base: a small ASGI app with routing, auth, fault injection, a job store on
the job clock, a request log for tests, and webhook scheduling.

Provider emulators subclass `Emulator`, add their routes in `setup_routes()` and say how
their credentials look (`credentials`), how they refuse them (`unauthorized`) and how their
errors are shaped (`error_body`).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .clock import FAST, EmulatedJob, JobScript, Timing, script_from_prompt
from .faults import Fault, FaultProfile

__all__ = [
    "Delivery",
    "DropConnection",
    "EmuRequest",
    "EmuResponse",
    "Emulator",
    "Handler",
]


class DropConnection(Exception):
    """Raised inside the app to cut the connection (the in-process transport and the
    loopback server both turn it into a dropped connection on the client side)."""


@dataclass
class EmuRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str
    params: dict[str, str] = field(default_factory=dict)
    kind: str = ""

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class EmuResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> EmuResponse:
        return cls(
            status,
            json.dumps(data, separators=(",", ":")).encode(),
            {"content-type": "application/json", **(headers or {})},
        )

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> EmuResponse:
        return cls(status, text.encode(), {"content-type": content_type})


Handler = Callable[[EmuRequest], Awaitable[EmuResponse]]


@dataclass(frozen=True)
class Delivery:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    kind: str
    handler: Handler
    auth: bool


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+(?::path)?\})", template)
    regex = ""
    for part in parts:
        match = re.fullmatch(r"\{(\w+)(:path)?\}", part)
        if match:
            name, is_path = match.groups()
            regex += f"(?P<{name}>.+)" if is_path else f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(f"^{regex}$")


class Emulator:
    """Base ASGI emulator. Accepts any well-formed credentials unless `api_key` is given."""

    name: str = "emulator"
    realistic: Timing = Timing(queue_s=20.0, run_s=120.0)

    def __init__(
        self,
        *,
        api_key: str | None = None,
        faults: FaultProfile | str | None = None,
        timing: Timing | str = "fast",
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        self.api_key = api_key
        self.faults = (
            faults if isinstance(faults, FaultProfile) else FaultProfile.parse(faults, seed=seed)
        )
        if isinstance(timing, str):
            timing = {"fast": FAST, "realistic": self.realistic}[timing]
        self.timing = timing
        self.clock = clock
        self.jobs: dict[str, EmulatedJob] = {}
        self.counts: Counter[str] = Counter()
        self.log: deque[tuple[str, str, str]] = deque(maxlen=2000)
        self._routes: list[_Route] = []
        self._webhooks: list[tuple[float, int, str, str]] = []  # (due, seq, job id, url)
        self._webhook_seq = 0
        self.setup_routes()

    # -- for subclasses ------------------------------------------------------------------
    def setup_routes(self) -> None:
        """Add routes with `self.route(...)`."""

    def route(
        self, method: str, template: str, kind: str, handler: Handler, *, auth: bool = True
    ) -> None:
        self._routes.append(_Route(method.upper(), _compile(template), kind, handler, auth))

    def credentials(self, request: EmuRequest) -> str | None:
        """The credential the client sent, or None when it sent none (or a malformed one)."""
        return None

    def unauthorized(self, request: EmuRequest) -> EmuResponse:
        return self.error(request, 401, "Invalid credentials")

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    def error(
        self,
        request: EmuRequest,
        status: int,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> EmuResponse:
        return EmuResponse.json(self.error_body(status, message), status, headers)

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def create_job(
        self, prompt: str = "", data: dict[str, Any] | None = None, job_id: str | None = None
    ) -> EmulatedJob:
        """A new job on the clock; its outcome comes from the fault profile or the prompt."""
        outcome = self.faults.outcome()
        default = JobScript(self.timing.queue_s, self.timing.run_s, outcome)  # type: ignore[arg-type]
        job = EmulatedJob(
            job_id or self.new_id(), self.clock(), script_from_prompt(prompt, default), data or {}
        )
        self.jobs[job.id] = job
        return job

    def webhook_deliveries(self, job: EmulatedJob, url: str) -> list[Delivery]:
        """What the provider POSTs to `url` once `job` is finished (subclasses)."""
        return []

    # -- webhooks (no task per job: one heap, flushed by whoever serves the app) ----------
    def schedule_webhook(self, job: EmulatedJob, url: str, due: float | None = None) -> None:
        self._webhook_seq += 1
        heapq.heappush(
            self._webhooks,
            (due if due is not None else job.finished_at(), self._webhook_seq, job.id, url),
        )

    def due_webhooks(self, now: float | None = None) -> list[Delivery]:
        now = self.clock() if now is None else now
        found: list[Delivery] = []
        while self._webhooks and self._webhooks[0][0] <= now:
            _, _, job_id, url = heapq.heappop(self._webhooks)
            job = self.jobs.get(job_id)
            if job is not None:
                found.extend(self.webhook_deliveries(job, url))
        return found

    # -- helpers ---------------------------------------------------------------------------
    def count(self, kind: str) -> int:
        return self.counts[kind]

    def now(self) -> float:
        return self.clock()

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # pragma: no cover
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = _request(scope, body)
        response, fault = await self._dispatch(request)
        await _send(send, response, drop=fault is not None and fault.kind == "drop_after_accept")

    async def _dispatch(self, request: EmuRequest) -> tuple[EmuResponse, Fault | None]:
        for route in self._routes:
            if route.method != request.method:
                continue
            match = route.pattern.match(request.path)
            if match is None:
                continue
            request.params = match.groupdict()
            request.kind = route.kind
            break
        else:
            self.counts["unmatched"] += 1
            self.log.append((request.method, request.path, "unmatched"))
            return self.not_found(request), None
        self.counts[route.kind] += 1
        self.log.append((request.method, request.path, route.kind))
        fault = self.faults.draw(route.kind)
        if fault is not None:
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay_s)
            elif fault.kind == "drop":
                raise DropConnection(f"injected drop on {route.kind}")
            elif fault.kind == "status":
                headers = {}
                if fault.retry_after is not None:
                    headers["retry-after"] = f"{fault.retry_after:g}"
                return self.error(request, fault.status, "injected fault", headers), fault
        if route.auth:
            given = self.credentials(request)
            if given is None or (self.api_key is not None and given != self.api_key):
                return self.unauthorized(request), None
        response = await route.handler(request)
        if fault is not None and fault.kind == "malformed":
            response = EmuResponse(
                response.status, response.body[: len(response.body) // 2], response.headers
            )
        return response, fault

    def not_found(self, request: EmuRequest) -> EmuResponse:
        return self.error(request, 404, f"Not found: {request.method} {request.path}")


def _request(scope: Mapping[str, Any], body: bytes) -> EmuRequest:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    base_url = f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    return EmuRequest(scope["method"], scope["path"], query, headers, body, base_url)


async def _send(send: Any, response: EmuResponse, *, drop: bool) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
    length = len(response.body) + (1000 if drop else 0)
    headers.append((b"content-length", str(length).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if drop:
        # The job exists now; the client gets headers but never the whole body.
        raise DropConnection("injected drop after accept")
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
