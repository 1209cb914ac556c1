"""Download a job's output to a file, safely.

```python
from videogw.download import DownloadPolicy, download

saved = download(job.outputs[0], "clip.mp4", on_progress=lambda done, total: ...)
print(saved.path, saved.size, saved.sha256)       # an `Output` copy to store on the job
```

An output URL comes from a provider's answer, so it is treated as untrusted input:

- ``https://`` only. Plain ``http://`` is accepted only when private addresses are allowed
  *and* the host is private or loopback (the emulators on ``127.0.0.1``).
- The host is resolved first and every address it resolves to is checked: private,
  loopback, link-local, shared, reserved, multicast and unspecified addresses are refused
  unless `DownloadPolicy.allow_private` is set. The connection then goes to the address
  that was checked (the TLS name stays the host's), so a second DNS answer cannot swap in
  an internal address. Each redirect is checked the same way.
- The body is streamed to ``<path>.part`` and renamed only when complete; a body larger
  than `max_bytes` (by its Content-Length or as it streams) stops the download and the
  partial file is removed. The size and sha256 are recorded.
- An output within `expiry_margin` of its ``expires_at`` (or past it) gets a warning.

Sync (`download`) and async (`adownload`) share every check in `_Transfer`; only the loops
that read the network differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import os
import re
import socket
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx

from .errors import VideoGWError
from .models import Output

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DownloadError",
    "DownloadPolicy",
    "DownloadTooLargeError",
    "UnsafeURLError",
    "adownload",
    "check_address",
    "download",
    "output_paths",
    "system_resolver",
]

log = logging.getLogger("videogw.download")

DEFAULT_MAX_BYTES = 2 * 1024**3  # 2 GiB: far above any generated clip
MAX_REDIRECTS = 5
CHUNK = 64 * 1024

ProgressCallback = Callable[[int, int | None], None]  # (bytes so far, total if known)
WarningCallback = Callable[[str], None]
Resolver = Callable[[str, int], list[str]]  # (host, port) -> IP addresses


class DownloadError(VideoGWError):
    """An output could not be downloaded (the job itself is unaffected)."""


class UnsafeURLError(DownloadError):
    """The URL is not https, or its host is (or resolves to) a non-public address."""


class DownloadTooLargeError(DownloadError):
    """The output is larger than the configured cap; nothing was kept."""


@dataclass(frozen=True)
class DownloadPolicy:
    max_bytes: int = DEFAULT_MAX_BYTES
    allow_private: bool = False  # emulators on loopback; never for real providers
    timeout_s: float = 60.0
    expiry_margin: timedelta = field(default=timedelta(minutes=15))


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DownloadError(f"cannot resolve {host}: {exc.strerror}") from None
    except UnicodeError:  # a label over 63 characters, or not encodable as IDNA
        raise UnsafeURLError(f"not a valid host name: {host[:80]!r}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_address(address: str) -> str | None:
    """Why `address` is not a public address, or None when it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # an IPv4 address inside an IPv6 one reaches that IPv4 host: judge the IPv4
        # (mapped ::ffff:a.b.c.d, 6to4 2002:AABB:CCDD::, Teredo's client, NAT64 64:ff9b::)
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip.teredo is not None:
            ip = ip.teredo[1]
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for name in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    if not ip.is_global:
        return "non-global"
    return None


ALLOW_HINT = (
    " (for emulators on loopback only: `[download] allow_private = true` in the config, "
    "`--allow-private` on the command line, or DownloadPolicy(allow_private=True))"
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class _Inflate:
    """Undo a Content-Encoding a bounded piece at a time, so a compressed bomb stops at
    the cap instead of expanding a whole network chunk in memory."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        self._z: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib or gzip header
        elif encoding not in ("", "identity"):
            raise DownloadError(f"output sent with an unsupported Content-Encoding {encoding!r}")

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            yield data
            return
        try:
            while data:
                piece = self._z.decompress(data, CHUNK)
                data = self._z.unconsumed_tail
                if piece:
                    yield piece
                elif self._z.eof:
                    break
        except zlib.error as exc:
            raise DownloadError(f"output is not valid compressed data ({exc})") from None


class _Transfer:
    """Everything but the network: URL and address checks, the cap, hashing, the file."""

    def __init__(
        self,
        output: Output,
        dest: Path,
        policy: DownloadPolicy,
        on_progress: ProgressCallback | None,
        on_warning: WarningCallback | None,
    ) -> None:
        self.output, self.dest, self.policy = output, dest, policy
        self.on_progress = on_progress
        self.part = dest.with_name(dest.name + ".part")
        self.hash = hashlib.sha256()
        self.size = 0
        self.total: int | None = None
        self.inflate = _Inflate("")
        self._file: IO[bytes] | None = None
        self.warn_if_expiring(on_warning or log.warning)

    def warn_if_expiring(self, warn: WarningCallback) -> None:
        expires = self.output.expires_at
        if expires is None:
            return
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        left = expires - datetime.now(UTC)
        if left <= timedelta(0):
            warn(f"output expired at {expires:%Y-%m-%d %H:%M:%S} UTC; the provider may refuse it")
        elif left <= self.policy.expiry_margin:
            minutes = max(1, int(left.total_seconds() // 60))
            warn(f"output expires in about {minutes} min ({expires:%H:%M:%S} UTC): download now")

    def target(self, url: httpx.URL) -> tuple[str, int]:
        """Check the scheme; return the host and port to resolve."""
        if url.scheme not in ("https", "http"):
            raise UnsafeURLError(f"refusing {url.scheme}:// URL: only https is downloaded")
        if url.scheme == "http" and not self.policy.allow_private:
            raise UnsafeURLError(
                f"refusing plain http URL {_short(url)}: only https is allowed{ALLOW_HINT}"
            )
        if not url.host:
            raise UnsafeURLError(f"URL has no host: {_short(url)}")
        return url.host, url.port or (443 if url.scheme == "https" else 80)

    def request(self, url: httpx.URL, addresses: list[str]) -> httpx.Request:
        """Check every address; pin the connection to the first (the one that was checked)."""
        if not addresses:
            raise DownloadError(f"{url.host} resolves to no address")
        for address in addresses:
            why = check_address(address)
            if why is None:
                if url.scheme == "http":
                    raise UnsafeURLError(
                        f"refusing plain http to public host {url.host}: only https is allowed"
                    )
                continue
            if not self.policy.allow_private:
                raise UnsafeURLError(
                    f"refusing {_short(url)}: {url.host} is a {why} address ({address})"
                    + ALLOW_HINT
                )
        pinned = addresses[0].split("%", 1)[0]
        host_header = url.netloc.decode("ascii").rpartition("@")[2]
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        return httpx.Request(
            "GET",
            url.copy_with(host=pinned),
            headers={"Host": host_header, "Accept": "*/*", "Accept-Encoding": "identity"},
            extensions=extensions,
        )

    def redirect(self, url: httpx.URL, response: httpx.Response) -> httpx.URL | None:
        if response.status_code not in (301, 302, 303, 307, 308):
            return None
        location = response.headers.get("location")
        if not location:
            raise DownloadError(f"redirect without a Location from {url.host}")
        try:
            return url.join(location)
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise UnsafeURLError(f"redirect to an invalid URL: {exc}"[:200]) from None

    def start(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise DownloadError(
                f"output URL answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
            )
        length = response.headers.get("content-length")
        self.total = int(length) if length and length.isdigit() else None
        if self.total is not None and self.total > self.policy.max_bytes:
            raise DownloadTooLargeError(
                f"output is {self.total:,} bytes, over the {self.policy.max_bytes:,}-byte cap"
            )
        self.inflate = _Inflate(response.headers.get("content-encoding", ""))
        try:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.part.open("wb")
        except OSError as exc:
            raise DownloadError(f"cannot write {self.dest}: {exc.strerror or exc}") from None
        if self.on_progress is not None:
            self.on_progress(0, self.total)

    def write_raw(self, data: bytes) -> None:
        """A chunk as it came off the wire (still content-encoded)."""
        for piece in self.inflate.feed(data):
            self.write(piece)

    def write(self, chunk: bytes) -> None:
        assert self._file is not None
        self.size += len(chunk)
        if self.size > self.policy.max_bytes:
            raise DownloadTooLargeError(
                f"output passed the {self.policy.max_bytes:,}-byte cap; download stopped"
            )
        self.hash.update(chunk)
        self._file.write(chunk)
        if self.on_progress is not None:
            self.on_progress(self.size, self.total)

    def finish(self) -> Output:
        assert self._file is not None
        self._file.close()
        try:
            os.replace(self.part, self.dest)
        except OSError as exc:
            raise DownloadError(f"cannot write {self.dest}: {exc.strerror or exc}") from None
        return self.output.model_copy(
            update={"path": str(self.dest), "size": self.size, "sha256": self.hash.hexdigest()}
        )

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
        with contextlib.suppress(OSError):  # an unwritable directory: nothing to remove
            self.part.unlink(missing_ok=True)


def download(
    output: Output,
    dest: str | os.PathLike[str],
    *,
    policy: DownloadPolicy | None = None,
    on_progress: ProgressCallback | None = None,
    on_warning: WarningCallback | None = None,
    transport: httpx.BaseTransport | None = None,
    resolver: Resolver = system_resolver,
) -> Output:
    """Stream `output` to `dest`; return a copy of `output` with path, size and sha256."""
    policy = policy or DownloadPolicy()
    transfer = _Transfer(output, Path(dest), policy, on_progress, on_warning)
    url = _parse(output.url)
    try:
        with httpx.Client(transport=transport, timeout=policy.timeout_s) as client:
            for _ in range(MAX_REDIRECTS + 1):
                host, port = transfer.target(url)
                request = transfer.request(url, resolver(host, port))
                response = client.send(request, stream=True)
                try:
                    next_url = transfer.redirect(url, response)
                    if next_url is None:
                        transfer.start(response)
                        if response.is_stream_consumed:  # built in memory: decoded already
                            for chunk in response.iter_bytes(CHUNK):
                                transfer.write(chunk)
                        else:
                            for chunk in response.iter_raw(CHUNK):
                                transfer.write_raw(chunk)
                        return transfer.finish()
                finally:
                    response.close()
                url = next_url
            raise DownloadError(f"more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        transfer.abort()
        raise DownloadError(f"download failed ({type(exc).__name__}: {exc})") from exc
    except BaseException:
        transfer.abort()
        raise


async def adownload(
    output: Output,
    dest: str | os.PathLike[str],
    *,
    policy: DownloadPolicy | None = None,
    on_progress: ProgressCallback | None = None,
    on_warning: WarningCallback | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver = system_resolver,
) -> Output:
    """`download`, awaited (name resolution runs in a thread)."""
    policy = policy or DownloadPolicy()
    transfer = _Transfer(output, Path(dest), policy, on_progress, on_warning)
    url = _parse(output.url)
    try:
        async with httpx.AsyncClient(transport=transport, timeout=policy.timeout_s) as client:
            for _ in range(MAX_REDIRECTS + 1):
                host, port = transfer.target(url)
                addresses = await asyncio.to_thread(resolver, host, port)
                request = transfer.request(url, addresses)
                response = await client.send(request, stream=True)
                try:
                    next_url = transfer.redirect(url, response)
                    if next_url is None:
                        transfer.start(response)
                        if response.is_stream_consumed:  # built in memory: decoded already
                            async for chunk in response.aiter_bytes(CHUNK):
                                transfer.write(chunk)
                        else:
                            async for chunk in response.aiter_raw(CHUNK):
                                transfer.write_raw(chunk)
                        return transfer.finish()
                finally:
                    await response.aclose()
                url = next_url
            raise DownloadError(f"more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        transfer.abort()
        raise DownloadError(f"download failed ({type(exc).__name__}: {exc})") from exc
    except BaseException:
        transfer.abort()
        raise


_PLAIN_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")


def output_paths(
    job_id: str, urls: list[str], dest: str | os.PathLike[str] | None = None
) -> list[Path]:
    """Where a job's outputs go: `dest` itself for one output (unless it is a directory),
    else ``<job id>[-N]<ext>`` in `dest` or the current directory. The extension comes
    from the URL only when it is short and plain (the name is the provider's choice)."""
    target = Path(dest).expanduser() if dest is not None else None
    if target is not None and len(urls) == 1 and not target.is_dir():
        return [target]
    directory = target if target is not None else Path.cwd()
    paths = []
    for index, url in enumerate(urls):
        suffix = Path(url.split("?", 1)[0].split("#", 1)[0]).suffix
        if not _PLAIN_SUFFIX.fullmatch(suffix):
            suffix = ".mp4"
        name = job_id if len(urls) == 1 else f"{job_id}-{index + 1}"
        paths.append(directory / f"{name}{suffix}")
    return paths


def _parse(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise UnsafeURLError(f"not a valid URL: {exc}") from None


def _short(url: httpx.URL) -> str:
    """The URL without its query (signed URLs carry credentials there)."""
    return str(url.copy_with(query=None, fragment=None))
