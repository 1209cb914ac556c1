"""The engine's wire behaviour on every HTTP client it can use (aiohttp, the default, and
httpx), sync and async, against real sockets: what "not sent" and "outcome unknown" mean
for money, timeouts, TLS verification and proxies from the environment."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from toy import ToyProvider
from videogw import AsyncGateway, AttemptOutcome, Gateway, JobStatus
from videogw.emulator import FakeClock
from videogw.engine import HTTP_ENV, AsyncEngine, SyncEngine
from videogw.errors import OutcomeUnknownError, RequestNotSentError
from videogw.store import MemoryStore
from videogw.testing import registry_with
from videogw.transports import AiohttpTransport, _mapped

REQUEST = {"model": "toy:dop-lite", "prompt": "a cat", "image": "https://example.com/cat.jpg"}
ACCEPTED = b'{"id": "j1", "state": "pending"}'
PROXY_ENVS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

Handler = Callable[["RawServer", socket.socket], None]


# -- a server that misbehaves exactly as told ------------------------------------------------


class RawServer:
    """Accepts on 127.0.0.1 and hands each connection to `handle` in its own thread."""

    def __init__(self, handle: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handle = handle
        self.tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            self.handle(self, conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def read_request(self, conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        self.requests.append(head + b"\r\n\r\n" + body)
        return data

    def close(self) -> None:
        self.sock.close()


def answer(status: str = "201 Created", body: bytes = ACCEPTED) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def accepts(server: RawServer, conn: socket.socket) -> None:
    server.read_request(conn)
    conn.sendall(answer())


def drops_on_accept(server: RawServer, conn: socket.socket) -> None:
    conn.close()


def drops_after_the_body(server: RawServer, conn: socket.socket) -> None:
    server.read_request(conn)
    conn.shutdown(socket.SHUT_RDWR)


def answers_late(server: RawServer, conn: socket.socket) -> None:
    server.read_request(conn)
    time.sleep(1.5)


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(handle: Handler, **kwargs: Any) -> RawServer:
        servers.append(RawServer(handle, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# -- gateways on every client ------------------------------------------------------------------


@pytest.fixture(params=["aiohttp", "httpx"])
def http(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(HTTP_ENV, request.param)
    for name in PROXY_ENVS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Gateways:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.open: list[Any] = []

    def __call__(self, base_url: str, **settings: Any) -> Any:
        provider = ToyProvider(ToyProvider.Settings(api_key="k", base_url=base_url, **settings))
        cls = Gateway if self.mode == "sync" else AsyncGateway
        gateway = cls(
            providers=[provider],
            registry=registry_with(ToyProvider),
            store=MemoryStore(),
            clock=FakeClock(),  # retries of reads do not really sleep
        )
        self.open.append(gateway)
        return gateway

    async def call(self, method: Callable[..., Any], *args: Any) -> Any:
        """Run a gateway method: a sync one on a plain thread (no event loop running
        there, as in a script), so its engine runs requests on a loop of that thread."""
        if self.mode == "sync":
            return await asyncio.to_thread(method, *args)
        return await method(*args)

    async def close(self) -> None:
        for gateway in self.open:
            if self.mode == "sync":
                await asyncio.to_thread(gateway.close)
            else:
                await gateway.aclose()


@pytest.fixture
async def gateway_for(http: str, mode: str) -> Any:
    gateways = Gateways(mode)
    yield gateways
    await gateways.close()


async def test_a_sync_gateway_inside_a_running_event_loop_still_works(
    http: str, serve: Callable[..., RawServer]
) -> None:
    """Sync code called from async code (a notebook cell): the engine cannot run a loop
    of its own on this thread, so aiohttp's requests go to its shared loop thread."""
    server = serve(accepts)
    gateways = Gateways("sync")
    job = gateways(server.url()).submit(REQUEST)  # called right here, on the loop's thread
    assert job.provider_job_id == "j1"
    for gateway in gateways.open:
        gateway.close()


def test_the_engine_picks_its_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HTTP_ENV, raising=False)
    assert SyncEngine().http == "aiohttp"
    assert AsyncEngine(http="httpx").http == "httpx"
    monkeypatch.setenv(HTTP_ENV, "httpx")
    assert AsyncEngine().http == "httpx"
    with pytest.raises(ValueError, match="unknown HTTP client"):
        SyncEngine(http="urllib")


# -- before the send: not sent -----------------------------------------------------------------


async def test_connection_refused_is_not_sent(gateway_for: Any) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    gateway = gateway_for(f"http://127.0.0.1:{port}")
    with pytest.raises(RequestNotSentError) as caught:
        await gateway_for.call(gateway.submit, REQUEST)
    attempt = caught.value.job.attempts[-1]  # type: ignore[attr-defined]
    assert attempt.outcome is AttemptOutcome.not_sent
    assert attempt.charged is False


# -- after the send: outcome unknown, never a second POST ------------------------------------


@pytest.mark.parametrize("handler", [drops_on_accept, drops_after_the_body])
async def test_a_dropped_submit_is_an_unknown_outcome_sent_once(
    gateway_for: Any, serve: Callable[..., RawServer], handler: Handler
) -> None:
    server = serve(handler)
    job = await gateway_for.call(gateway_for(server.url()).submit, REQUEST)
    assert job.status is JobStatus.unknown
    assert job.attempts[-1].outcome is AttemptOutcome.unknown
    assert "OutcomeUnknownError" in (job.attempts[-1].reason or "")
    assert server.connections == 1  # the POST was never repeated
    if handler is drops_after_the_body:
        assert len(server.requests) == 1
        assert server.requests[0].startswith(b"POST /v1/jobs HTTP/1.1\r\n")


async def test_a_read_timeout_on_submit_is_an_unknown_outcome(
    gateway_for: Any, serve: Callable[..., RawServer]
) -> None:
    server = serve(answers_late)
    started = time.monotonic()
    job = await gateway_for.call(gateway_for(server.url(), timeout_s=0.3).submit, REQUEST)
    assert time.monotonic() - started < 1.4  # the timeout fired, not the server's close
    assert job.status is JobStatus.unknown
    assert "Timeout" in (job.attempts[-1].reason or "")
    assert server.connections == 1


async def test_a_dropped_status_read_is_retried_then_unknown(
    gateway_for: Any, serve: Callable[..., RawServer]
) -> None:
    accepting = serve(accepts)
    gateway = gateway_for(accepting.url())
    job = await gateway_for.call(gateway.submit, REQUEST)
    assert job.provider_job_id == "j1"
    dropping = serve(drops_after_the_body)
    provider = gateway.provider("toy")
    provider.settings.base_url = dropping.url()  # the same job, now read from a bad host
    with pytest.raises(OutcomeUnknownError):
        await gateway_for.call(gateway.status, job)
    assert len(dropping.requests) == 4  # reads are retried (RetryPolicy.max_attempts)
    assert all(r.startswith(b"GET /v1/jobs/j1 HTTP/1.1\r\n") for r in dropping.requests)


async def test_the_wire_carries_the_providers_request_and_nothing_else(
    gateway_for: Any, serve: Callable[..., RawServer]
) -> None:
    server = serve(accepts)
    job = await gateway_for.call(gateway_for(server.url()).submit, REQUEST)
    assert job.provider_job_id == "j1"
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    names = {line.split(b":")[0].lower() for line in head.split(b"\r\n")[1:]}
    assert names >= {b"host", b"authorization", b"content-type", b"content-length"}
    assert b"user-agent" not in names or b"aiohttp" not in head  # nothing of aiohttp's own
    assert b"accept-encoding" not in names or b"gzip" not in head.lower()
    assert b'"prompt":"a cat"' in body


# -- TLS verification -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path], serve: Callable[..., RawServer]) -> RawServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return serve(accepts, tls=context)


async def test_an_unverifiable_certificate_is_not_sent(
    gateway_for: Any, tls_server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with pytest.raises(RequestNotSentError):
        await gateway_for.call(gateway_for(tls_server.url("https")).submit, REQUEST)
    assert tls_server.requests == []


async def test_a_trusted_certificate_from_the_environment_is_accepted(
    gateway_for: Any,
    tls_server: RawServer,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    job = await gateway_for.call(gateway_for(tls_server.url("https")).submit, REQUEST)
    assert job.provider_job_id == "j1"
    assert len(tls_server.requests) == 1


# -- proxies from the environment ------------------------------------------------------------


async def test_an_http_proxy_from_the_environment_carries_the_request(
    gateway_for: Any, serve: Callable[..., RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = serve(accepts)
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    job = await gateway_for.call(gateway_for("http://api.toy.test").submit, REQUEST)
    assert job.provider_job_id == "j1"
    assert proxy.requests[0].startswith(b"POST http://api.toy.test/v1/jobs HTTP/1.1\r\n")


async def test_no_proxy_is_honoured(
    gateway_for: Any, serve: Callable[..., RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, direct = serve(accepts), serve(accepts)
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    await gateway_for.call(gateway_for(direct.url()).submit, REQUEST)
    assert proxy.requests == []
    assert len(direct.requests) == 1


# -- the aiohttp error map, case by case -------------------------------------------------------


def _connector_error() -> aiohttp.ClientConnectorError:
    key: Any = type("Key", (), {"host": "h", "port": 1, "ssl": None})()
    return aiohttp.ClientConnectorError(key, OSError(111, "refused"))


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (_connector_error(), httpx.ConnectError),
        (aiohttp.ConnectionTimeoutError("pool"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("short"), httpx.ReadError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (ConnectionResetError(104, "reset"), httpx.ReadError),
        (TimeoutError(), httpx.ReadTimeout),
        (aiohttp.InvalidURL("nope"), httpx.UnsupportedProtocol),
    ],
)
def test_aiohttp_errors_map_to_what_they_mean_for_money(
    raised: BaseException, expected: type[httpx.HTTPError]
) -> None:
    request = httpx.Request("POST", "http://127.0.0.1/")
    mapped = _mapped(raised, request)
    assert type(mapped) is expected
    # only errors raised before anything could leave count as "not sent"
    not_sent = isinstance(mapped, httpx.ConnectError | httpx.ConnectTimeout)
    assert not_sent == (expected in (httpx.ConnectError, httpx.ConnectTimeout))
    assert _mapped(ValueError("a bug"), request) is None  # not a network error: raised as is


async def test_the_aiohttp_transport_closes_cleanly(serve: Callable[..., RawServer]) -> None:
    server = serve(accepts)
    transport = AiohttpTransport()
    response = await transport.handle_async_request(
        httpx.Request("GET", server.url() + "/x", extensions={"timeout": {"read": 5}})
    )
    assert response.json() == {"id": "j1", "state": "pending"}
    assert response.http_version == "HTTP/1.1"
    await transport.aclose()
    await transport.aclose()  # twice is fine


async def test_a_compressed_answer_is_decoded_and_a_plain_one_read(
    serve: Callable[..., RawServer],
) -> None:
    packed = gzip.compress(ACCEPTED)

    def gzipped(server: RawServer, conn: socket.socket) -> None:
        server.read_request(conn)
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            f"Content-Length: {len(packed)}\r\nConnection: close\r\n\r\n"
        )
        conn.sendall(head.encode() + packed)

    transport = AiohttpTransport()
    try:
        for handler in (gzipped, accepts):
            server = serve(handler)
            response = await transport.handle_async_request(
                httpx.Request("GET", server.url() + "/x", extensions={"timeout": {"read": 5}})
            )
            assert response.json() == {"id": "j1", "state": "pending"}
            assert response.content == ACCEPTED
            assert await response.aread() == ACCEPTED
            assert b"".join(response.iter_bytes()) == ACCEPTED
    finally:
        await transport.aclose()
