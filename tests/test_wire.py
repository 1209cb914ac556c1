"""The shared wire helpers (videogw.wire): decimals, timestamps, resets, media types."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from videogw import wire
from videogw.wire import media_type, parse_decimal, parse_time, retry_after, sniff, until

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.500", Decimal("1.500")), (2, Decimal(2)), ("nan", None), (True, None), ("x", None)],
)
def test_parse_decimal(value: object, expected: Decimal | None) -> None:
    assert parse_decimal(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-22T13:17:32Z", datetime(2026, 5, 22, 13, 17, 32, tzinfo=UTC)),
        ("2026-05-22 13:19:23", datetime(2026, 5, 22, 13, 19, 23, tzinfo=UTC)),
        (1_800_000_000, datetime.fromtimestamp(1_800_000_000, UTC)),
        ("1800000000000", datetime.fromtimestamp(1_800_000_000, UTC)),
        ("...", None),
        (None, None),
    ],
)
def test_parse_time(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", 42.0),  # seconds
        (str(int(NOW + 30)), 30.0),  # an epoch timestamp (RapidAPI: "seconds or a timestamp")
        (str(int(NOW + 30) * 1000), 30.0),  # in milliseconds
        (str(int(NOW - 30)), 0.0),  # already past
        ("Fri, 15 Jan 2027 08:00:30 GMT", 30.0),  # an HTTP date
        ("2027-01-15T08:00:30Z", 30.0),
        ("soon", None),
        ("nan", None),
        ("-1e20", None),
        ("1E30", None),
    ],
)
def test_until(value: str, expected: float | None) -> None:
    assert until(value, NOW) == expected


def test_retry_after_prefers_the_standard_header() -> None:
    both = httpx.Response(429, headers={"retry-after": "3", "x-reset": str(int(NOW + 60))})
    assert retry_after(both, "x-reset", now=NOW) == 3.0
    only = httpx.Response(429, headers={"x-reset": str(int(NOW + 60))})
    assert retry_after(only, "x-reset", now=NOW) == 60.0
    assert retry_after(httpx.Response(429), "x-reset") is None


def test_media_type_and_sniff() -> None:
    assert media_type("https://c.test/a/out.mp4?sig=1") == "video/mp4"
    assert media_type("https://c.test/out.mp4", "application/octet-stream") == "video/mp4"
    assert media_type("https://c.test/out", None, "video/mp4") == "video/mp4"
    assert media_type("https://c.test/out.png", "image/webp") == "image/webp"
    assert sniff(b"\x89PNG\r\n") == "image/png"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "audio/wav"
    assert sniff(b"nothing") is None


# -- parse_url / request: httpx's own URL, built without re-parsing a known origin --------

_URL_CHARS = "aZ09-._~!$&'()*+,;=:@/?#%[] \t\u00e9\u4e2d\\\"<>^`{|}"


@given(
    origin=st.sampled_from(
        [
            "http://127.0.0.1:8080",
            "https://Platform.Higgsfield.AI",
            "https://user:pw@api.example.com",
            "http://[::1]:9000",
            "https://xn--bcher-kva.example",
        ]
    ),
    rest=st.text(alphabet=_URL_CHARS, max_size=40),
)
def test_parse_url_equals_httpx_for_any_path_and_query(origin: str, rest: str) -> None:
    url = origin + "/" + rest
    try:
        expected = httpx.URL(url)
    except httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            wire.parse_url(url)
        return
    got = wire.parse_url(url)
    assert str(got) == str(expected)
    assert got == expected
    assert (got.scheme, got.host, got.port, got.raw_path) == (
        expected.scheme,
        expected.host,
        expected.port,
        expected.raw_path,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/requests/3b1a96f5-cdc4/status",
        "http://127.0.0.1:8080/a/../b",  # dot segments: httpx removes them
        "http://127.0.0.1:8080/a/./b/.",
        "http://127.0.0.1:8080/a%2Fb?q=%41",  # escapes: httpx checks them
        "http://127.0.0.1:8080/x?",  # an empty query is not no query
        "HTTP://EXAMPLE.com/X",
        "http://example.com",
    ],
)
def test_parse_url_edge_cases_match_httpx(url: str) -> None:
    assert wire._SHORTCUT  # the shortcut is in use with the pinned httpx
    assert str(wire.parse_url(url)) == str(httpx.URL(url))
    assert wire.parse_url(url).query == httpx.URL(url).query


def test_request_is_the_request_httpx_builds() -> None:
    url = "https://api.example.com/v1/jobs/abc?wait=1"
    ours = wire.request("POST", url, headers={"Authorization": "Key k"}, json={"a": 1})
    theirs = httpx.Request("POST", url, headers={"Authorization": "Key k"}, json={"a": 1})
    assert (ours.method, str(ours.url), ours.headers.raw, ours.content) == (
        theirs.method,
        str(theirs.url),
        theirs.headers.raw,
        theirs.content,
    )
    with_params = wire.request("GET", "https://api.example.com/v1", params={"page": "2"})
    assert str(with_params.url) == "https://api.example.com/v1?page=2"


_HEADER_SETS = [
    None,
    {"Authorization": "Key k:s", "Accept": "application/json"},
    {"X-Api-Key": "k", "Idempotency-Key": "vgw-1", "User-Agent": "videogw/0.2"},
    {"User-Agent": "videogw (é)"},  # httpx refuses it: so must this
    {"Content-Type": "application/json; charset=utf-8"},  # one httpx would add: httpx's path
    {"host": "other.example"},
]
_BODIES = [None, {}, {"prompt": "un chat — 猫", "n": 1.5, "ok": True, "x": None}, [1, "a"]]


@pytest.mark.parametrize("method", ["GET", "delete", "POST", "PUT", "PATCH"])
@pytest.mark.parametrize("headers", _HEADER_SETS)
@pytest.mark.parametrize("body", _BODIES)
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/v1/x", "https://api.example.com:8443/a/b?c=d", "http://[::1]/z"]
)
def test_request_matches_httpx_byte_for_byte(
    method: str, headers: dict[str, str] | None, body: object, url: str
) -> None:
    try:
        theirs = httpx.Request(method, url, headers=headers, json=body)
    except Exception as refused:  # e.g. a header httpx cannot encode: the same refusal
        with pytest.raises(type(refused)):
            wire.request(method, url, headers=headers, json=body)
        return
    ours = wire.request(method, url, headers=headers, json=body)
    assert ours.method == theirs.method
    assert str(ours.url) == str(theirs.url)
    assert ours.headers.raw == theirs.headers.raw  # names, values and order
    assert vars(ours.headers) == vars(theirs.headers)  # what httpx keeps, lowered names too
    assert vars(ours).keys() == vars(theirs).keys()
    assert ours.extensions == theirs.extensions
    assert ours.content == theirs.content
    assert ours.read() == theirs.read()
    assert list(ours.stream) == list(theirs.stream)  # type: ignore[call-overload]


def test_the_fast_paths_are_in_use_with_the_pinned_httpx() -> None:
    # they are checked against httpx's own objects at import; a new httpx that breaks them
    # falls back to httpx's constructors (and fails here, to be looked at)
    assert wire._FAST_REQUEST
    assert wire._FAST_HEADERS


@pytest.mark.parametrize("value", [1, b"k", None])
def test_a_header_value_that_is_not_text_is_refused_as_httpx_does(value: object) -> None:
    try:
        theirs = httpx.Request("GET", "http://a.example/x", headers={"X-Key": value})  # type: ignore[dict-item]
    except Exception as refused:
        with pytest.raises(type(refused)):
            wire.request("GET", "http://a.example/x", headers={"X-Key": value})  # type: ignore[dict-item]
        return
    ours = wire.request("GET", "http://a.example/x", headers={"X-Key": value})  # type: ignore[dict-item]
    assert ours.headers.raw == theirs.headers.raw


@pytest.mark.parametrize(
    "pairs",
    [
        [],
        [(b"Content-Type", b"application/json"), (b"content-length", b"2")],
        [(b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"X-\xff", b"\xfe\x00")],
    ],
)
def test_raw_headers_are_the_headers_httpx_builds(pairs: list[tuple[bytes, bytes]]) -> None:
    ours, theirs = wire.raw_headers(pairs), httpx.Headers(pairs)
    assert vars(ours) == vars(theirs)
    assert ours.multi_items() == theirs.multi_items()
    assert dict(httpx.Response(200, headers=ours).headers) == dict(theirs)


def test_request_with_a_nan_body_fails_as_httpx_does() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        httpx.Request("POST", "http://a.example/x", json={"x": float("nan")})
    with pytest.raises(ValueError, match="JSON compliant"):
        wire.request("POST", "http://a.example/x", json={"x": float("nan")})
