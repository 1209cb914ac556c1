"""Output download: https only, no private addresses, a size cap, size and sha256 recorded."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from videogw.download import (
    DownloadError,
    DownloadPolicy,
    DownloadTooLargeError,
    UnsafeURLError,
    adownload,
    check_address,
    download,
)
from videogw.models import Output

BODY = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


def public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


def serve(body: bytes = BODY, *, length: bool = True, seen: list[httpx.Request] | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        headers = {"content-type": "video/mp4"}
        if not length:
            return httpx.Response(200, headers=headers, content=iter([body[:1000], body[1000:]]))
        return httpx.Response(200, headers=headers, content=body)

    return httpx.MockTransport(handler)


def test_sha256_and_size_are_recorded_and_the_connection_is_pinned(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    progress: list[tuple[int, int | None]] = []
    out = Output(url="https://cdn.example.com/v/clip.mp4?sig=abc", media_type="video/mp4")
    saved = download(
        out,
        tmp_path / "clip.mp4",
        transport=serve(seen=seen),
        resolver=public,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert saved.sha256 == hashlib.sha256(BODY).hexdigest()
    assert saved.size == len(BODY)
    assert saved.path == str(tmp_path / "clip.mp4")
    assert saved.url == out.url
    assert (tmp_path / "clip.mp4").read_bytes() == BODY
    assert not (tmp_path / "clip.mp4.part").exists()
    assert progress[0] == (0, len(BODY))
    assert progress[-1] == (len(BODY), len(BODY))
    # the request went to the address that was checked, with the real Host and TLS name
    assert seen[0].url.host == "93.184.216.34"
    assert seen[0].headers["host"] == "cdn.example.com"
    assert seen[0].extensions["sni_hostname"] == "cdn.example.com"


@pytest.mark.parametrize(
    ("url", "resolved"),
    [
        ("https://10.1.2.3/clip.mp4", ["10.1.2.3"]),
        ("https://internal.example/clip.mp4", ["192.168.1.20"]),
        ("https://meta.example/latest", ["169.254.169.254"]),
        ("https://localhost/clip.mp4", ["127.0.0.1"]),
        ("https://[::1]/clip.mp4", ["::1"]),
        ("https://mapped.example/clip.mp4", ["::ffff:127.0.0.1"]),
        ("https://mixed.example/clip.mp4", ["93.184.216.34", "10.0.0.1"]),
    ],
)
def test_private_addresses_are_refused(tmp_path: Path, url: str, resolved: list[str]) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(UnsafeURLError, match="address"):
        download(
            Output(url=url),
            tmp_path / "x.mp4",
            transport=serve(seen=seen),
            resolver=lambda host, port: resolved,
        )
    assert seen == []
    assert list(tmp_path.iterdir()) == []


def test_plain_http_is_refused_and_loopback_allowed_only_when_asked(tmp_path: Path) -> None:
    loopback = Output(url="http://127.0.0.1:8123/v1/job/output.mp4")
    with pytest.raises(UnsafeURLError, match="https"):
        download(loopback, tmp_path / "a.mp4", transport=serve(), resolver=public)
    with pytest.raises(UnsafeURLError, match="https"):
        download(
            Output(url="http://cdn.example.com/a.mp4"),
            tmp_path / "a.mp4",
            policy=DownloadPolicy(allow_private=True),
            transport=serve(),
            resolver=public,
        )
    saved = download(
        loopback,
        tmp_path / "a.mp4",
        policy=DownloadPolicy(allow_private=True),
        transport=serve(),
        resolver=lambda host, port: ["127.0.0.1"],
    )
    assert saved.size == len(BODY)


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "streamed"])
def test_over_the_cap_is_stopped_and_the_partial_file_removed(tmp_path: Path, length: bool) -> None:
    with pytest.raises(DownloadTooLargeError, match="cap"):
        download(
            Output(url="https://cdn.example.com/big.mp4"),
            tmp_path / "big.mp4",
            policy=DownloadPolicy(max_bytes=2000),
            transport=serve(length=length),
            resolver=public,
        )
    assert list(tmp_path.iterdir()) == []


def test_redirects_are_checked_hop_by_hop(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "https://internal.example/x.mp4"})

    addresses = {"cdn.example.com": ["93.184.216.34"], "internal.example": ["10.0.0.7"]}
    with pytest.raises(UnsafeURLError, match="10.0.0.7"):
        download(
            Output(url="https://cdn.example.com/x.mp4"),
            tmp_path / "x.mp4",
            transport=httpx.MockTransport(handler),
            resolver=lambda host, port: addresses[host],
        )


def test_http_error_and_expiry_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=3)
    gone = httpx.MockTransport(lambda request: httpx.Response(403))
    warnings: list[str] = []
    with pytest.raises(DownloadError, match="HTTP 403"):
        download(
            Output(url="https://cdn.example.com/x.mp4", expires_at=soon),
            tmp_path / "x.mp4",
            transport=gone,
            resolver=public,
            on_warning=warnings.append,
        )
    assert warnings
    assert "expires in about" in warnings[0]
    assert list(tmp_path.iterdir()) == []
    with caplog.at_level(logging.WARNING, logger="videogw.download"):
        download(
            Output(url="https://cdn.example.com/x.mp4", expires_at=soon - timedelta(hours=1)),
            tmp_path / "x.mp4",
            transport=serve(),
            resolver=public,
        )
    assert "expired at" in caplog.text


def test_check_address() -> None:
    assert check_address("93.184.216.34") is None
    assert check_address("2606:4700::1111") is None
    assert check_address("172.16.0.1") == "private"
    assert check_address("fe80::1") == "link-local"
    assert check_address("0.0.0.0") == "unspecified"


async def test_async_download_records_the_same(tmp_path: Path) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=BODY)

    saved = await adownload(
        Output(url="https://cdn.example.com/clip.mp4"),
        tmp_path / "clip.mp4",
        transport=httpx.MockTransport(handler),
        resolver=public,
    )
    assert saved.sha256 == hashlib.sha256(BODY).hexdigest()
    with pytest.raises(UnsafeURLError):
        await adownload(
            Output(url="https://10.0.0.1/clip.mp4"),
            tmp_path / "y.mp4",
            transport=httpx.MockTransport(handler),
            resolver=lambda host, port: ["10.0.0.1"],
        )


# -- hostile answers (issue 16): each a typed DownloadError, never a bare exception ---------


def test_a_gzip_bomb_stops_at_the_cap_without_inflating_it_in_memory(tmp_path: Path) -> None:
    import gzip
    import tracemalloc

    bomb = gzip.compress(b"\0" * (64 * 1024**2), compresslevel=9)  # 64 MiB in ~64 KiB

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-encoding": "gzip"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(bomb))

    tracemalloc.start()
    try:
        with pytest.raises(DownloadTooLargeError, match="cap"):
            download(
                Output(url="https://cdn.example.com/bomb.mp4"),
                tmp_path / "bomb.mp4",
                policy=DownloadPolicy(max_bytes=1024**2),
                transport=httpx.MockTransport(handler),
                resolver=public,
            )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024**2
    assert list(tmp_path.iterdir()) == []


def test_a_gzipped_output_is_saved_decoded(tmp_path: Path) -> None:
    import gzip

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "identity"
        headers = {"content-encoding": "gzip"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(gzip.compress(BODY)))

    saved = download(
        Output(url="https://cdn.example.com/x.mp4"),
        tmp_path / "x.mp4",
        transport=httpx.MockTransport(handler),
        resolver=public,
    )
    assert (tmp_path / "x.mp4").read_bytes() == BODY
    assert saved.sha256 == hashlib.sha256(BODY).hexdigest()


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::1",
        "2002:0a00:0001::",
        "64:ff9b::7f00:1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
    ],
)
def test_ipv4_inside_ipv6_is_judged_as_its_ipv4(address: str) -> None:
    # 6to4 around 127.0.0.1 / 10.0.0.1, NAT64 around 127.0.0.1, Teredo around 127.0.0.1
    assert check_address(address) is not None


@pytest.mark.parametrize(
    "location",
    ["https://ex\u00e4" + "a" * 70 + ".com/x.mp4", "https://" + "a" * 64 + ".com/x.mp4"],
    ids=["non-ascii", "long-label"],
)
def test_a_redirect_to_an_invalid_host_is_a_typed_error(tmp_path: Path, location: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": location.encode()})

    def resolver(host: str, port: int) -> list[str]:
        if host == "cdn.example.com":
            return ["93.184.216.34"]
        from videogw.download import system_resolver

        return system_resolver(host, port)

    with pytest.raises(DownloadError):
        download(
            Output(url="https://cdn.example.com/x.mp4"),
            tmp_path / "x.mp4",
            transport=httpx.MockTransport(handler),
            resolver=resolver,
        )


def test_an_unwritable_destination_is_a_typed_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DownloadError, match="cannot write"):
        download(
            Output(url="https://cdn.example.com/x.mp4"),
            blocker / "x.mp4",
            transport=serve(),
            resolver=public,
        )
