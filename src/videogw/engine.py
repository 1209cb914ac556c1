"""The only module that does I/O.

Gateway operations are generators that yield *effects*: a `Call` (send this request) or a
`Sleep`. `SyncEngine.run` and `AsyncEngine.run` are the two drivers that carry them out;
all logic above them is shared. The async driver also owns the ledger's group commit: the
writes an operation makes between two effects stay uncommitted (`videogw.ledger.grouped`)
until one commit, at the end of the event-loop tick after the first of them, makes them
durable together, and no request leaves, no sleep starts and no result returns before that
commit.

`send` applies the one retry policy (tenacity, honouring ``Retry-After``) and the submit
rules: a submit is retried only where the provider honours idempotency keys, and then with
the very same request (so the same key).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import tenacity
from tenacity import RetryCallState

from .errors import (
    AcceptanceNotRecordedError,
    ConfigurationError,
    Failover,
    InvalidRequestError,
    LedgerError,
    OutcomeUnknownError,
    RequestNotSentError,
    ServerError,
    TransportError,
    VideoGWError,
)
from .ledger.base import Group, Ledger, join_group, leave_group
from .policy import may_replay_submit, settle_submit_error
from .provider import Call, Flow, Provider, Purpose

__all__ = [
    "HTTP_ENV",
    "AsyncEngine",
    "Clock",
    "Op",
    "RetryPolicy",
    "Sleep",
    "SyncEngine",
    "drive",
    "send",
]

log = logging.getLogger("videogw.engine")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Effect = Call | Sleep
Op = Generator[Effect, Any, T]


class Clock:
    """Wall time, monotonic time and sleeping, injectable for tests."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for reads, cancels and uploads."""

    max_attempts: int = 4
    max_total_s: float = 60.0
    initial_s: float = 0.5
    max_backoff_s: float = 10.0
    jitter_s: float = 0.5
    max_retry_after_s: float = 30.0  # a longer Retry-After is better spent failing over

    def tenacity(self) -> tenacity.Retrying:
        backoff = tenacity.wait_exponential(
            multiplier=self.initial_s, max=self.max_backoff_s
        ) + tenacity.wait_random(0, self.jitter_s)
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts)
            | tenacity.stop_after_delay(self.max_total_s),
            wait=_WaitRetryAfter(backoff),
            retry=tenacity.retry_if_exception(self._retryable),
            reraise=True,
        )

    def _retryable(self, exc: BaseException) -> bool:
        if not getattr(exc, "retryable", False):
            return False
        after = getattr(exc, "retry_after", None)
        return after is None or after <= self.max_retry_after_s


class _WaitRetryAfter(tenacity.wait.wait_base):
    """Wait what the provider asked for (Retry-After), else the backoff."""

    def __init__(self, fallback: tenacity.wait.wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return float(after)
        return float(self.fallback(retry_state))


def _transport_error(provider: Provider, call: Call, exc: httpx.HTTPError) -> TransportError:
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return RequestNotSentError(f"request not sent ({name}: {exc})", provider=provider.instance)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.LocalProtocolError):
        return RequestNotSentError(f"request not sent ({name}: {exc})", provider=provider.instance)
    return OutcomeUnknownError(
        f"{call.purpose.value} sent but no answer came back ({name}: {exc})",
        provider=provider.instance,
    )


def _may_retry(provider: Provider, call: Call, error: VideoGWError) -> bool:
    if call.purpose is not Purpose.submit:
        return True
    return may_replay_submit(error, replayable=call.may_replay(provider.capabilities.idempotency))


def _settle(provider: Provider, call: Call, error: VideoGWError, maybe_sent: bool) -> VideoGWError:
    """What a failed call means for the caller (the money rules are `videogw.policy`'s).

    A failed upload created nothing billable (the submit was never sent), so it is "not
    sent" whatever the storage said."""
    if call.purpose is Purpose.upload and getattr(error, "failover", None) is Failover.unknown:
        not_sent = RequestNotSentError(
            f"input upload failed, so nothing was submitted ({error})", provider=provider.instance
        )
        not_sent.__cause__ = error
        return not_sent
    if call.purpose is not Purpose.submit:
        return error
    return settle_submit_error(
        error,
        provider=provider.instance,
        replayable=call.may_replay(provider.capabilities.idempotency),
        maybe_sent=maybe_sent,
    )


def _maybe_sent(error: VideoGWError) -> bool:
    """Could this failed try have reached the provider and created something?"""
    return isinstance(error, OutcomeUnknownError | ServerError)


def send(provider: Provider, call: Call, policy: RetryPolicy) -> Op[httpx.Response]:
    """Send one call with the retry rules of its purpose; return a response `parse_*` can read."""
    try:
        response: httpx.Response = yield call
    except httpx.HTTPError as exc:
        error: VideoGWError = _transport_error(provider, call, exc)
    else:
        maybe = provider.classify(response, call.purpose)
        if maybe is None:
            return response
        error = maybe
    maybe_sent = _maybe_sent(error)  # sticky: once a try may have landed, it stays so
    if not _may_retry(provider, call, error):
        raise _settle(provider, call, error, False)

    # The first attempt ran without tenacity (cheap on the hot path); from here tenacity
    # decides, driven step by step so this stays a generator (sans-I/O).
    retrying = policy.tenacity()
    retrying.begin()
    state = RetryCallState(retrying, fn=None, args=(), kwargs={})
    state.set_exception((type(error), error, error.__traceback__))
    while True:
        try:
            action = retrying.iter(state)
        except VideoGWError as exhausted:  # tenacity gave up and re-raised the last error
            raise _settle(provider, call, exhausted, maybe_sent) from None
        if isinstance(action, tenacity.DoAttempt):
            try:
                response = yield call
            except httpx.HTTPError as exc:
                failure: VideoGWError = _transport_error(provider, call, exc)
            else:
                found = provider.classify(response, call.purpose)
                if found is None:
                    return response
                failure = found
            if not _may_retry(provider, call, failure):
                raise _settle(provider, call, failure, maybe_sent)
            maybe_sent = maybe_sent or _maybe_sent(failure)
            state.set_exception((type(failure), failure, failure.__traceback__))
        elif isinstance(action, tenacity.DoSleep):
            state.prepare_for_next_attempt()
            log.debug("%s: retrying %s in %.2f s", provider.instance, call.purpose, action)
            yield Sleep(float(action))
        else:  # pragma: no cover - reraise=True means tenacity raises instead
            raise error


def drive(provider: Provider, flow: Flow[T], policy: RetryPolicy, *, submit: bool = False) -> Op[T]:
    """Run a provider's flow: each `Call` it yields goes through `send`; errors are thrown
    back into the flow so a provider may handle an optional step failing.

    `submit=True` (a submit flow): any error before the flow's first submit call left the
    process is "not sent" (an upload slot answered garbage, a local file vanished...), so
    no plugin has to say so itself; request and configuration errors keep their type."""
    value: httpx.Response | None = None
    error: BaseException | None = None
    sent = not submit
    while True:
        try:
            call = flow.throw(error) if error is not None else flow.send(value)  # type: ignore[arg-type]
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except (InvalidRequestError, ConfigurationError):
            raise
        except VideoGWError as exc:
            if sent or isinstance(exc, RequestNotSentError):
                raise
            not_sent = RequestNotSentError(
                f"failed before the submit was sent, so nothing was created ({exc})",
                provider=provider.instance,
            )
            raise not_sent from exc
        sent = sent or call.purpose is Purpose.submit
        value, error = None, None
        try:
            value = yield from send(provider, call, policy)
        except VideoGWError as exc:
            error = exc


HTTP_ENV = "VIDEOGW_HTTP"  # "aiohttp" (default) or "httpx": the engine's HTTP client
HTTP_CLIENTS = ("aiohttp", "httpx")


def _http_choice(http: str | None) -> str:
    chosen = (http or os.environ.get(HTTP_ENV) or "aiohttp").strip().lower()
    if chosen not in HTTP_CLIENTS:
        raise ValueError(f"unknown HTTP client {chosen!r}: expected one of {HTTP_CLIENTS}")
    return chosen


class _EngineBase:
    def __init__(
        self,
        *,
        transports: Mapping[str, Any] | None = None,
        transport: Any | None = None,
        clock: Clock | None = None,
        timeouts: Mapping[str, float] | None = None,
        limits: Mapping[str, int] | None = None,
        http: str | None = None,
    ) -> None:
        self.clock = clock or Clock()
        self._transports = dict(transports or {})
        self._default_transport = transport
        self._timeouts = dict(timeouts or {})
        self._limits = dict(limits or {})
        # Which client carries requests for which no transport was given: aiohttp (through
        # `videogw.transports`, about a sixth of httpx/httpcore's CPU per request) or httpx.
        self.http = _http_choice(http)

    def _timeout(self, provider: str) -> httpx.Timeout:
        return httpx.Timeout(self._timeouts.get(provider, 30.0), connect=10.0)

    def _direct(self, provider: str) -> bool:
        """Send straight through an aiohttp transport (no httpx client around it)?"""
        return self.http == "aiohttp" and (
            self._transports.get(provider, self._default_transport) is None
        )

    def _client_kwargs(self, provider: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "timeout": self._timeout(provider),
            "follow_redirects": False,
        }
        transport = self._transports.get(provider, self._default_transport)
        if transport is not None:
            kwargs["transport"] = transport
        else:
            size = self._limits.get(provider, 16)
            kwargs["limits"] = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        return kwargs

    def _prepare(self, client: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
        request = call.request
        if "timeout" not in request.extensions:
            # A request built outside a client carries no timeout; never send one unbounded.
            request.extensions["timeout"] = client.timeout.as_dict()
        return request

    def _prepared(self, timeouts: dict[str, dict[str, float | None]], call: Call) -> httpx.Request:
        request = call.request
        if "timeout" not in request.extensions:
            found = timeouts.get(call.provider)
            if found is None:
                found = timeouts[call.provider] = self._timeout(call.provider).as_dict()
            request.extensions["timeout"] = found
        return request


class SyncEngine(_EngineBase):
    """Runs operations with one pooled HTTP client per provider: aiohttp on an event loop
    of the calling thread (`SyncAiohttpTransport`), or an `httpx.Client`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clients: dict[str, httpx.Client] = {}
        self._senders: dict[str, httpx.BaseTransport] = {}
        self._request_timeouts: dict[str, dict[str, float | None]] = {}

    def client(self, provider: str) -> httpx.Client:
        client = self._clients.get(provider)
        if client is None:
            client = self._clients[provider] = httpx.Client(**self._client_kwargs(provider))
        return client

    def _send(self, call: Call) -> httpx.Response:
        sender = self._senders.get(call.provider)
        if sender is not None:
            return sender.handle_request(self._prepared(self._request_timeouts, call))
        if self._direct(call.provider):
            from .transports import SyncAiohttpTransport

            sender = self._senders[call.provider] = SyncAiohttpTransport(
                max_connections=self._limits.get(call.provider, 16)
            )
            return sender.handle_request(self._prepared(self._request_timeouts, call))
        client = self.client(call.provider)
        return client.send(self._prepare(client, call))

    def run(self, op: Op[T]) -> T:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            if isinstance(effect, Sleep):
                self.clock.sleep(effect.seconds)
                continue
            try:
                value = self._send(effect)
            except httpx.HTTPError as exc:
                error = exc

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for sender in self._senders.values():
            sender.close()
        self._senders.clear()


class GroupCommit:
    """Commits a ledger's grouped writes together: the first operation that needs them
    durable schedules the commit for the end of the *next* event-loop tick, and every
    operation that wrote in this tick or the next waits for the same one (one transaction,
    one fsync).

    Why the next tick: one more turn of the loop takes in the answers that arrived while
    this tick ran, so their writes join the same commit. With 16 concurrent submitters,
    `benchmarks/scale.py` measured 0.77-0.85 ms of client CPU per submit against 0.92-1.00
    committing at the end of the first tick (fewer commits, fewer fsyncs waited out on the
    loop), and 10,000 submits in 8.4-9.2 s instead of 10.2-11.1. An operation waits one
    turn of the loop longer for its commit."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._due: asyncio.Future[None] | None = None
        self.commits = 0  # for benchmarks: writes per commit = writes / commits

    async def wait(self) -> None:
        due = self._due
        if due is None:
            loop = asyncio.get_running_loop()
            due = self._due = loop.create_future()
            # retrieved even when every waiter was cancelled (no "never retrieved" noise)
            due.add_done_callback(lambda f: f.cancelled() or f.exception())
            loop.call_soon(self._next_tick, loop, due)
        await asyncio.shield(due)

    def _next_tick(self, loop: asyncio.AbstractEventLoop, due: asyncio.Future[None]) -> None:
        loop.call_soon(self._commit, due)

    def _commit(self, due: asyncio.Future[None]) -> None:
        self._due = None
        try:
            self.ledger.commit()
        except BaseException as exc:  # every waiter hears it; the loop goes on
            due.set_exception(exc)
        else:
            self.commits += 1
            due.set_result(None)


class AsyncEngine(_EngineBase):
    """Runs operations with one pooled HTTP client per provider: an aiohttp session
    (`AiohttpTransport`, called directly) or an `httpx.AsyncClient`. With a `ledger`, the
    writes operations make are group-committed (see the module docstring)."""

    def __init__(self, *, ledger: Ledger | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._senders: dict[str, httpx.AsyncBaseTransport] = {}
        self._request_timeouts: dict[str, dict[str, float | None]] = {}
        self.group_commit = GroupCommit(ledger) if ledger is not None else None

    def client(self, provider: str) -> httpx.AsyncClient:
        client = self._clients.get(provider)
        if client is None:
            client = self._clients[provider] = httpx.AsyncClient(**self._client_kwargs(provider))
        return client

    async def _send(self, call: Call) -> httpx.Response:
        sender = self._senders.get(call.provider)
        if sender is None and self._direct(call.provider):
            from .transports import AiohttpTransport

            sender = self._senders[call.provider] = AiohttpTransport(
                max_connections=self._limits.get(call.provider, 16)
            )
        if sender is not None:
            # The provider API stays httpx: an httpx.Request in, an httpx.Response (body
            # read) out; the httpx client around it (cookies, auth, hooks, mounts) is
            # skipped because the engine uses none of it.
            return await sender.handle_async_request(self._prepared(self._request_timeouts, call))
        client = self.client(call.provider)
        return await client.send(self._prepare(client, call))

    async def run(self, op: Op[T]) -> T:
        committer = self.group_commit
        group = Group() if committer is not None else None
        value: Any = None
        error: BaseException | None = None
        while True:
            token = join_group(group)
            try:
                effect = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                leave_group(token)
                await self._durable(group, op)
                return stop.value  # type: ignore[no-any-return]
            except BaseException:
                leave_group(token)
                await self._durable(group, op)  # what it recorded before failing stands
                raise
            leave_group(token)
            value, error = None, None
            # write-ahead: what the operation recorded is durable before its request leaves
            # (and before it sleeps: an open transaction would hold other processes off)
            await self._durable(group, op)
            if isinstance(effect, Sleep):
                await self.clock.asleep(effect.seconds)
                continue
            try:
                value = await self._send(effect)
            except httpx.HTTPError as exc:
                error = exc

    async def _durable(self, group: Group | None, op: Op[Any]) -> None:
        """Wait for the group commit when this operation wrote, or when another one's
        writes (which this one may have read) are not durable yet."""
        committer = self.group_commit
        if group is None or committer is None:
            return
        if not group.wrote and not committer.ledger.pending:
            return
        try:
            await committer.wait()
        except LedgerError as exc:
            # Nothing the operation did since its last commit has left the process (that
            # is what waiting here guarantees), so it stops; a provider job id among the
            # lost writes must not vanish silently.
            failure: LedgerError = exc
            for job_id, provider, provider_job_id in group.acceptances:
                log.critical(
                    "job %s: %s accepted it as %s but the ledger could not record it: %s",
                    job_id,
                    provider,
                    provider_job_id,
                    exc,
                )
            if group.acceptances:
                job_id, provider, provider_job_id = group.acceptances[0]
                failure = AcceptanceNotRecordedError(job_id, provider, provider_job_id, str(exc))
            group.lost()
            op.close()
            raise failure from exc
        group.committed()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        for sender in self._senders.values():
            await sender.aclose()
        self._senders.clear()
