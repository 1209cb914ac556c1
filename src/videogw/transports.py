"""httpx transports over aiohttp: the engine's fast path, same provider API.

Providers build `httpx.Request`s and parse `httpx.Response`s; only the bytes on the wire
move through aiohttp, whose connection pool costs a few microseconds per request where
httpcore 1.0's scans every pooled connection (a ``getpeername`` and a ``poll`` each) on
every request (encode/httpcore#1035): at 16 connections that was 11x aiohttp's CPU per GET.

`AiohttpTransport` is an `httpx.AsyncBaseTransport`; `SyncAiohttpTransport` runs one on a
private event loop of the calling thread, for `SyncEngine` (see benchmarks/RESULTS.md for
how it compares with httpx's own sync pool). Both read the whole body before returning (provider
answers are small JSON), so the read timeout covers the body too.

What they keep from httpx, because money depends on it (`engine._transport_error`):

- only a failure *before* the request could have left maps to `httpx.ConnectError` /
  `ConnectTimeout` / `UnsupportedProtocol` / `InvalidURL` ("not sent": DNS, refused, TLS
  verification, proxy connect, waiting for a pooled connection). Everything after the
  connection was handed to the request (a drop, a reset, a read timeout, a truncated body)
  maps to an error the engine calls "outcome unknown". (The `httpx-aiohttp` package maps
  every `ClientConnectionError`, a server disconnect included, to `ConnectTimeout`: a
  dropped submit would then look unsent and be failed over, paying twice.)
- timeouts: httpx's ``connect`` -> aiohttp ``sock_connect``, ``read`` -> ``sock_read``
  (between reads, as in httpx), ``pool`` -> ``connect`` (waiting for a connection plus
  connecting). aiohttp has no write timeout; request bodies here are small.
- TLS verification with `httpx.create_ssl_context` (certifi, or ``SSL_CERT_FILE`` /
  ``SSL_CERT_DIR`` from the environment); proxies from ``HTTP(S)_PROXY`` / ``ALL_PROXY`` /
  ``NO_PROXY``, read once when the transport is made, as httpx reads them when its client
  is made. (aiohttp's own ``trust_env`` looks them up, and reads ``~/.netrc``, in a worker
  thread on every request: two thread hops a request, so it is not used.)
- the same bytes on the wire: no ``User-Agent``, ``Accept`` or ``Accept-Encoding`` added
  (httpx adds none to a request built outside a client either), no redirects followed, no
  cookies kept.
- no resend of its own: aiohttp's resend of an idempotent request after a drop is turned
  off, so every read on the wire is one the engine's retry policy decided. (httpcore
  probes each idle connection before reuse; aiohttp learns of a closed idle connection
  from the event loop as it happens, so a stale keep-alive is only a true race.)
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import urllib.request
from typing import Any

import aiohttp
import httpx

from .wire import raw_headers

__all__ = ["AiohttpTransport", "SyncAiohttpTransport"]

_NO_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent"})
_HTTP11 = {"http_version": b"HTTP/1.1"}


def _mapped(exc: BaseException, request: httpx.Request) -> httpx.HTTPError | None:
    """The httpx error that means, for the engine, what this aiohttp error means; None for
    anything else (raised as it is)."""
    match exc:
        case aiohttp.ClientConnectorError():  # DNS, refused, TLS, proxy connect
            return httpx.ConnectError(str(exc) or type(exc).__name__, request=request)
        case aiohttp.ConnectionTimeoutError():  # connecting, or waiting for the pool
            return httpx.ConnectTimeout(str(exc) or "connect timeout", request=request)
        case aiohttp.SocketTimeoutError():
            return httpx.ReadTimeout(str(exc) or "read timeout", request=request)
        case aiohttp.ServerTimeoutError():
            return httpx.ReadTimeout(str(exc) or "timeout", request=request)
        case aiohttp.ServerDisconnectedError():
            return httpx.RemoteProtocolError(str(exc) or "server disconnected", request=request)
        case aiohttp.ClientPayloadError():
            return httpx.ReadError(str(exc) or "truncated body", request=request)
        case aiohttp.ClientHttpProxyError():
            return httpx.ProxyError(str(exc), request=request)
        case aiohttp.NonHttpUrlClientError():
            return httpx.UnsupportedProtocol(str(exc), request=request)
        case aiohttp.InvalidURL():
            return httpx.UnsupportedProtocol(f"invalid URL: {exc}", request=request)
        case TimeoutError():  # (an OSError too: before the catch-all)
            return httpx.ReadTimeout(str(exc) or "timeout", request=request)
        case aiohttp.ClientError() | OSError():  # resets and the rest: after the send
            return httpx.ReadError(str(exc) or type(exc).__name__, request=request)
    return None


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An `httpx.AsyncBaseTransport` that sends through one pooled `aiohttp.ClientSession`
    (made on first use, on the running loop)."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        trust_env: bool = True,
        max_connections: int = 16,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._ssl = httpx.create_ssl_context(verify=verify, trust_env=trust_env)
        self._env_proxies = urllib.request.getproxies_environment() if trust_env else {}
        self._proxies: dict[tuple[str, str, int | None], str | None] = {}
        self._limit = max_connections
        self._keepalive = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limit,
            limit_per_host=0,
            ssl=self._ssl,
            keepalive_timeout=self._keepalive,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,  # proxies: see `_proxy_for`
            skip_auto_headers=_NO_AUTO_HEADERS,
            auto_decompress=False,  # httpx.Response decodes by Content-Encoding itself
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        # The engine owns retries (one policy, with backoff and Retry-After). aiohttp would
        # also resend an idempotent request once after *any* drop, on a fresh connection
        # too: twice the reads against a flapping provider, and a read the policy never saw.
        if hasattr(self._session, "_retry_connection"):
            self._session._retry_connection = False
        return self._session

    def _timeout(self, given: dict[str, float | None]) -> aiohttp.ClientTimeout:
        key = (given.get("connect"), given.get("read"), given.get("pool"))
        found = self._timeouts.get(key)
        if found is None:
            connect, read, pool = key
            found = aiohttp.ClientTimeout(
                total=None, sock_connect=connect, sock_read=read, connect=pool
            )
            if len(self._timeouts) < 64:
                self._timeouts[key] = found
        return found

    def _proxy_for(self, url: httpx.URL) -> str | None:
        """The proxy from the environment for this URL (scheme, host, port), if any."""
        if not self._env_proxies:
            return None
        key = (url.scheme, url.host, url.port)
        if key in self._proxies:
            return self._proxies[key]
        where = url.host if url.port is None else f"{url.host}:{url.port}"
        found: str | None = None
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if not bypass(where, self._env_proxies):
            found = self._env_proxies.get(url.scheme) or self._env_proxies.get("all")
        if len(self._proxies) < 256:
            self._proxies[key] = found
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session
        if session is None or session.closed:
            session = self._open()
        try:
            body: bytes | None = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=self._timeout(request.extensions.get("timeout", {})),
                server_hostname=request.extensions.get("sni_hostname"),
                proxy=self._proxy_for(request.url),
            ) as answer:
                content = await answer.read()
                status, headers = answer.status, answer.raw_headers
                reason = answer.reason
        except Exception as exc:
            mapped = _mapped(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        extensions: dict[str, Any] = _HTTP11
        if reason:
            extensions = {**_HTTP11, "reason_phrase": reason.encode("ascii", "replace")}
        response = httpx.Response(
            status,
            headers=raw_headers(headers),
            stream=httpx.ByteStream(content),
            request=request,
            extensions=extensions,
        )
        if "content-encoding" in response.headers:
            response.read()  # decodes gzip/deflate/br, as httpx would
        else:
            # What read() would store, without its decoder chain: ~20 us of a ~500 us read.
            # (httpx keeps the body in `_content`; pinned to < 0.29 in pyproject.)
            response._content = content
        return response

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class SyncAiohttpTransport(httpx.BaseTransport):
    """`AiohttpTransport` for blocking code. Each calling thread runs its requests on an
    event loop of its own (no hop to another thread: under load a hop cost more than the
    request); a thread already running an event loop (a notebook, or sync code called
    from async code) hands its requests to one shared loop thread instead."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._local = threading.local()
        self._lock = threading.Lock()
        self._owned: list[tuple[asyncio.AbstractEventLoop, AiohttpTransport]] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the shared loop thread's
        self._thread: threading.Thread | None = None
        self._shared: AiohttpTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a sync body stream must be read on this thread
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            return self._via_thread(request)
        own: tuple[asyncio.AbstractEventLoop, AiohttpTransport] | None = getattr(
            self._local, "own", None
        )
        if own is None:
            own = (asyncio.new_event_loop(), AiohttpTransport(**self._kwargs))
            with self._lock:
                self._owned.append(own)
            self._local.own = own
        loop, transport = own
        response: httpx.Response = loop.run_until_complete(transport.handle_async_request(request))
        return response

    def _thread_loop(self) -> tuple[asyncio.AbstractEventLoop, AiohttpTransport]:
        with self._lock:
            if self._loop is None or self._shared is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="videogw-http", daemon=True)
                thread.start()
                started.wait()
                self._thread, self._loop = thread, loop
                self._shared = AiohttpTransport(**self._kwargs)
            return self._loop, self._shared

    def _via_thread(self, request: httpx.Request) -> httpx.Response:
        loop, transport = self._thread_loop()
        done = threading.Lock()
        done.acquire()
        landed: list[asyncio.Task[httpx.Response]] = []

        def finished(task: asyncio.Task[httpx.Response]) -> None:
            landed.append(task)
            done.release()

        def start() -> None:
            task = loop.create_task(transport.handle_async_request(request))
            task.add_done_callback(finished)

        loop.call_soon_threadsafe(start)
        done.acquire()
        return landed[0].result()

    def close(self) -> None:
        with self._lock:
            owned, self._owned = self._owned, []
            loop, thread, shared = self._loop, self._thread, self._shared
            self._loop = self._thread = self._shared = None
        self._local = threading.local()
        for own_loop, transport in owned:
            if own_loop.is_running():  # pragma: no cover - another thread mid-request
                continue
            own_loop.run_until_complete(transport.aclose())
            own_loop.close()
        if loop is None or thread is None or shared is None:
            return
        asyncio.run_coroutine_threadsafe(shared.aclose(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
