"""Run an emulator in-process: `httpx` transports for async and sync clients.

The async one wraps `httpx.ASGITransport`; the sync one runs the same app on a private
event-loop thread, so blocking `httpx.Client`s can talk to it without a socket. Both turn
an injected `DropConnection` into the `httpx.RemoteProtocolError` a real drop produces.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

from .app import DropConnection

__all__ = ["AsyncEmulatorTransport", "SyncEmulatorTransport"]


class AsyncEmulatorTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: Any) -> None:
        self.app = app
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
            body = await response.aread()
        except DropConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response.", request=request
            ) from None
        return httpx.Response(response.status_code, headers=response.headers, content=body)


class _LoopThread:
    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="videogw-emulator", daemon=True
                )
                thread.start()
                cls._loop = loop
            return cls._loop


class SyncEmulatorTransport(httpx.BaseTransport):
    def __init__(self, app: Any) -> None:
        self.app = app
        self._async = AsyncEmulatorTransport(app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        clone = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=content,
            extensions=request.extensions,
        )
        future = asyncio.run_coroutine_threadsafe(
            self._async.handle_async_request(clone), _LoopThread.loop()
        )
        try:
            response = future.result()
        except httpx.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from None
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=response.content,
            request=request,
        )
