"""Wire helpers every provider plugin needs: the small readers they used to write again each.

Pure functions over values a provider sent (no I/O):

- `parse_decimal`: a money or credit figure (string or number) as a finite `Decimal`;
- `parse_time`: ISO 8601 (``Z``, offset, or naive = UTC, ``T`` or space), or epoch seconds /
  milliseconds, as an aware datetime;
- `until`: seconds until a reset given as seconds, an epoch timestamp (s or ms), ISO 8601
  or an HTTP date -- RapidAPI documents ``x-ratelimit-reset`` as "seconds or a timestamp";
- `retry_after`: the first such header of a response, ``Retry-After`` first;
- `media_type`: an output's type from what the provider said, else the URL's extension;
- `sniff`: a type from the first bytes of a file (JPEG, PNG, GIF, WebP, WAV, MP4, MP3,
  Ogg, FLAC);
- `trusted_url`: whether a URL from an answer may be sent our key (same origin as the
  configured base URL, or https on one of the provider's own hosts);
- `request` / `parse_url`: an `httpx.Request` / `httpx.URL` built the way httpx would,
  without parsing the scheme and host of an origin seen before (httpx checks every
  character of every URL and parses an IP host with `ipaddress`: ~40 % of the CPU of
  building a status request, measured on a ~450 us read), and without httpx's generic
  header merging and normalizing;
- `raw_headers`: `httpx.Headers` from a parser's bytes pairs (a transport's answers).
"""

from __future__ import annotations

import functools
import mimetypes
import re
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from json import dumps as json_dumps
from urllib.parse import urlsplit

import httpx

__all__ = [
    "media_type",
    "parse_decimal",
    "parse_time",
    "parse_url",
    "raw_headers",
    "request",
    "retry_after",
    "sniff",
    "trusted_url",
    "until",
]

# A number at least this large is a point in time, not a delay: 1e9 s is 2001-09-09, and
# no provider asks to wait 31 years. Larger than 1e11 it is in milliseconds.
EPOCH_MIN = 1e9
_MS_MIN = 1e11


def parse_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        found = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return found if found.is_finite() else None


def _epoch(number: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(number / 1000 if number > _MS_MIN else number, UTC)
    except (OverflowError, OSError, ValueError):  # nan, inf, or beyond any calendar
        return None


def parse_time(value: object) -> datetime | None:
    """A timestamp in any of the shapes providers send; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _epoch(float(value))
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return _epoch(float(text))
    except ValueError:
        pass
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def until(value: str, now: float | None = None) -> float | None:
    """Seconds to wait, from a header that holds seconds or a point in time."""
    text = value.strip()
    if not text:
        return None
    current = time.time() if now is None else now
    when: datetime | None
    try:
        number = float(text)
    except ValueError:
        when = parse_time(text)
        if when is None:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
    else:
        if number != number or number < 0:  # nan, or no delay and no time at all
            return None
        if number < EPOCH_MIN:
            return max(0.0, number)
        when = _epoch(number)
        if when is None:
            return None
    return max(0.0, when.timestamp() - current)


def retry_after(response: httpx.Response, *names: str, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After``, else from the first of `names` that reads."""
    for name in ("retry-after", *names):
        value = response.headers.get(name)
        if value:
            found = until(value, now)
            if found is not None:
                return found
    return None


def media_type(url: str, given: str | None = None, default: str | None = None) -> str | None:
    """`given` when it is a real type, else the URL's extension, else `default`."""
    if given and "/" in given and given != "application/octet-stream":
        return given
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed or given or default


_MAGIC = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG", 0, "image/png"),
    (b"GIF8", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"WAVE", 8, "audio/wav"),
    (b"ftyp", 4, "video/mp4"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\xff\xfb", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
    (b"fLaC", 0, "audio/flac"),
)


def sniff(head: bytes) -> str | None:
    """The type the first bytes of a file declare, if one of the common media kinds."""
    for magic, offset, found in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return found
    return None


def trusted_url(url: object, base_url: str, hosts: Collection[str] = ()) -> bool:
    """Whether `url` (from a provider's answer) may be called with our credentials (never
    one with control characters: httpx would refuse it, after our key was attached)."""
    if not isinstance(url, str) or not url or not url.isprintable():
        return False
    origin = _origin(base_url)
    # Every accepted submit answers with URLs on the configured origin: spelled exactly
    # so, `urlsplit(url)` would give that very scheme and netloc (the netloc ends at the
    # first "/", "?" or "#"), so it is not parsed again.
    if origin and url.startswith(origin) and url[len(origin) : len(origin) + 1] in ("/", "?", "#"):
        return True
    try:
        given, base = urlsplit(url), urlsplit(base_url)
    except ValueError:  # e.g. an unbalanced "[" (a malformed IPv6 host): not ours to call
        return False
    if (given.scheme, given.netloc) == (base.scheme, base.netloc):
        return True
    return given.scheme == "https" and given.netloc in hosts


@functools.lru_cache(maxsize=64)
def _origin(base_url: str) -> str:
    """``scheme://netloc`` of `base_url`; empty when it would not split back to the same
    two (then `trusted_url` always parses)."""
    base = urlsplit(base_url)
    origin = f"{base.scheme}://{base.netloc}"
    if not base.scheme or not base.netloc or urlsplit(origin + "/")[:2] != base[:2]:
        return ""
    return origin


# A path (and query) made only of characters httpx leaves exactly as they are: unreserved
# and sub-delimiters, ":", "@", "/" (RFC 3986 section 3.3), no "%" (httpx re-checks escapes)
# and no dot segment (httpx removes those). Anything else goes through httpx's own parser.
_PATH = r"/[A-Za-z0-9\-_~!$&'()*+,;=:@/.]*"
_QUERY = r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*"
_PLAIN_REST = re.compile(f"({_PATH})(?:\\?({_QUERY}))?")
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|\Z)")
_ORIGIN = re.compile(r"[a-z][a-z0-9+.\-]*://[^/?#]+")


def _with_rest(origin: httpx.URL, path: str, query: str | None) -> httpx.URL:
    # httpx keeps a parsed URL in a private named tuple (httpx is pinned < 0.29 in
    # pyproject, and `_SHORTCUT` checks it at import): replace its path and query
    built = httpx.URL.__new__(httpx.URL)
    built._uri_reference = origin._uri_reference._replace(path=path, query=query)
    return built


def _shortcut_holds() -> bool:
    try:
        built = _with_rest(httpx.URL("https://Example.COM:8443/"), "/a/b.mp4", "x=1&y=/z")
        return str(built) == str(httpx.URL("https://example.com:8443/a/b.mp4?x=1&y=/z"))
    except Exception:  # any surprise in httpx's internals: use httpx's own parser
        return False


_SHORTCUT = _shortcut_holds()


@functools.lru_cache(maxsize=64)
def _parsed_origin(origin: str) -> httpx.URL:
    return httpx.URL(origin + "/")


def parse_url(url: str | httpx.URL) -> httpx.URL:
    """`httpx.URL(url)`, equal to what httpx builds, cheaper for an origin seen before."""
    if isinstance(url, httpx.URL):
        return url
    origin = _ORIGIN.match(url) if _SHORTCUT else None
    if origin is not None:
        rest = _PLAIN_REST.fullmatch(url, origin.end())
        if rest is not None and not _DOT_SEGMENT.search(rest[1]):
            return _with_rest(_parsed_origin(origin[0]), rest[1], rest[2])
    return httpx.URL(url)


# Headers httpx adds itself (`httpx.Request` with content or json): a request that sets one
# of these, or has query params or content, is built by httpx in full
_AUTO_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding"})


def raw_headers(items: Sequence[tuple[bytes, bytes]]) -> httpx.Headers:
    """`httpx.Headers(items)` for names and values already bytes (an HTTP parser's output),
    without httpx's per-item normalizing calls: the same private list httpx keeps."""
    if not _FAST_HEADERS:
        return httpx.Headers(items)
    return _headers([(name, name.lower(), value) for name, value in items])


def _headers(listed: list[tuple[bytes, bytes, bytes]]) -> httpx.Headers:
    # httpx's private layout (checked at import, see `_fast_paths_hold`): each header as
    # (name as given, name lowered, value), all bytes
    headers = _new(httpx.Headers)
    headers._list = listed
    headers._encoding = None
    return headers


def _fast_request(
    method: str, url: httpx.URL, items: list[tuple[str, str]], body: bytes
) -> httpx.Request:
    # What `httpx.Request(method, url, headers=items, stream=ByteStream(body))` + `read()`
    # leaves, attribute for attribute (`_FAST_REQUEST` checks it at import; httpx is pinned
    # < 0.29): its __init__ and header normalizing were a fifth of a status read's CPU.
    built = _new(httpx.Request)
    built.method = method
    built.url = url
    listed = []
    for name, value in items:
        key = name.encode("ascii")
        listed.append((key, key.lower(), value.encode("ascii")))
    built.headers = _headers(listed)
    built.extensions = {}
    built.stream = httpx.ByteStream(body)
    built._content = body
    return built


def _slow_request(
    method: str, url: httpx.URL, items: list[tuple[str, str]], body: bytes
) -> httpx.Request:
    built = httpx.Request(method, url, headers=items, stream=httpx.ByteStream(body))
    built.read()
    return built


_new = object.__new__


def _same_request(a: httpx.Request, b: httpx.Request) -> bool:
    return (
        vars(a).keys() == vars(b).keys()
        and (a.method, str(a.url), a.headers.raw, a.extensions, a.content)
        == (b.method, str(b.url), b.headers.raw, b.extensions, b.content)
        and vars(a.headers) == vars(b.headers)
        and type(a.stream) is type(b.stream)
        and isinstance(a.stream, httpx.SyncByteStream)
        and isinstance(b.stream, httpx.SyncByteStream)
        and list(a.stream) == list(b.stream)
    )


def _fast_paths_hold() -> tuple[bool, bool]:
    try:
        url = httpx.URL("https://api.example.com/v1/x")
        items = [("Host", "api.example.com"), ("Authorization", "Key k"), ("X-A", "b")]
        request = _same_request(
            _fast_request("POST", url, items, b"{}"), _slow_request("POST", url, items, b"{}")
        )
        pairs = [(b"Content-Type", b"application/json"), (b"x-a", b"1"), (b"X-A", b"2")]
        built = _headers([(name, name.lower(), value) for name, value in pairs])
        reference = httpx.Headers(pairs)
        headers = vars(built) == vars(reference) and built.multi_items() == reference.multi_items()
        return request, headers
    except Exception:  # any surprise in httpx's internals: let httpx build them
        return False, False


_FAST_REQUEST, _FAST_HEADERS = _fast_paths_hold()


def request(
    method: str,
    url: str | httpx.URL,
    *,
    params: Mapping[str, str | int | float | bool | None] | None = None,
    headers: Mapping[str, str] | None = None,
    json: object = None,
    content: bytes | None = None,
) -> httpx.Request:
    """`httpx.Request(method, url, ...)`: the same request, headers in the same order, body
    byte for byte (checked against httpx's own by tests), built without httpx's generic
    header merging (a third of a status request's CPU in httpx, measured) when there is
    nothing to merge: a JSON body or none, no query params, none of the headers httpx adds.
    """
    parsed = parse_url(url)
    method = method.upper()
    if (
        params
        or content is not None
        or (json is None and method in ("POST", "PUT", "PATCH"))
        or (headers is not None and not _AUTO_HEADERS.isdisjoint(k.lower() for k in headers))
    ):
        return httpx.Request(
            method, parsed, params=params or None, headers=headers, json=json, content=content
        )
    items: list[tuple[str, str]] = [("Host", parsed.netloc.decode("ascii"))]
    fast = _FAST_REQUEST
    if headers is not None:
        items.extend(headers.items())
        # httpx refuses a value that is not a str with its own TypeError: let it
        fast = fast and all(type(name) is str is type(value) for name, value in items)
    body = b""
    if json is not None:
        # what httpx's `encode_json` sends
        text = json_dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        body = text.encode("utf-8")
        items.append(("Content-Length", str(len(body))))
        items.append(("Content-Type", "application/json"))
    return (_fast_request if fast else _slow_request)(method, parsed, items, body)
