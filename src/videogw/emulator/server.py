"""Serve emulators on loopback (a real port) for sync clients, the CLI, SDKs and benchmarks."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

import httpx

__all__ = ["LoopbackServer"]

log = logging.getLogger("videogw.emulator")


class LoopbackServer:
    """One emulator on ``http://HOST:PORT`` (port 0 picks a free one), in a thread.

    Also delivers the emulator's scheduled webhooks from the same event loop.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        import uvicorn

        self.app = app
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; without
        # it every response (headers and body are two writes) stalls ~40 ms on delayed ACK
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(
            app,
            log_level="critical",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            backlog=4096,
            # the same HTTP stack wherever the tests run, whether or not uvicorn's optional
            # C parser and loop happen to be installed
            http="h11",
            loop="asyncio",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._webhook_transport = webhook_transport
        self.webhook_errors: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(target=self._run, name=f"emulator:{self.port}", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"emulator on port {self.port} failed to start")
            threading.Event().wait(0.01)
        return self

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        ticker = asyncio.create_task(self._deliver_webhooks())
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            ticker.cancel()

    async def _deliver_webhooks(self) -> None:
        due = getattr(self.app, "due_webhooks", None)
        if due is None:
            return
        async with httpx.AsyncClient(transport=self._webhook_transport, timeout=10) as client:
            while True:
                await asyncio.sleep(0.1)
                for delivery in due():
                    try:
                        await client.post(
                            delivery.url, content=delivery.body, headers=delivery.headers
                        )
                    except httpx.HTTPError as exc:
                        self.webhook_errors.append(f"{delivery.url}: {exc}")

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
