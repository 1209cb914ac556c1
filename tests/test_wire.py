"""The shared wire helpers (videogw.wire): decimals, timestamps, resets, media types."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

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
