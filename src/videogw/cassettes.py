"""Cassettes: a provider's documented request/response examples, written once as vcrpy
YAML files in ``cassettes/<provider>/``. Both sides are checked against them:

- the adapter must build the documented request (`assert_request_matches`) and parse the
  documented response (replayed through vcrpy with `replay`, so the real httpx stack runs);
- the emulator must answer the same request with a response of the same shape
  (`emulator_answer` + `assert_same_shape`).

Secrets never appear in a cassette: auth headers hold ``REDACTED`` (see `SECRET_HEADERS`),
and a test scans every cassette for anything that looks like a key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "SECRET_HEADERS",
    "Interaction",
    "assert_request_matches",
    "assert_same_shape",
    "emulator_answer",
    "load",
    "replay",
    "to_httpx_response",
]

SECRET_HEADERS = (
    "authorization",
    "x-api-key",
    "ocp-apim-subscription-key",
    "x-rapidapi-key",
    "hf-api-key",
    "hf-secret",
)
REDACTED = "REDACTED"


@dataclass(frozen=True)
class Interaction:
    method: str
    uri: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes

    def request_json(self) -> Any:
        return json.loads(self.request_body) if self.request_body else None

    def response_json(self) -> Any:
        return json.loads(self.response_body) if self.response_body else None


def _first(value: Any) -> str:
    return str(value[0]) if isinstance(value, list) else str(value)


def _body(value: Any) -> bytes:
    if isinstance(value, dict):
        value = value.get("string", "")
    if value is None:
        return b""
    return value if isinstance(value, bytes) else str(value).encode()


def load(path: str | Path) -> list[Interaction]:
    """Read a vcrpy cassette file into plain interactions."""
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    found = []
    for item in data["interactions"]:
        req, resp = item["request"], item["response"]
        found.append(
            Interaction(
                method=req["method"].upper(),
                uri=req["uri"],
                request_headers={
                    k.lower(): _first(v) for k, v in (req.get("headers") or {}).items()
                },
                request_body=_body(req.get("body")),
                status=int(resp["status"]["code"]),
                response_headers={
                    k.lower(): _first(v) for k, v in (resp.get("headers") or {}).items()
                },
                response_body=_body(resp.get("body")),
            )
        )
    return found


def assert_request_matches(built: httpx.Request, documented: Interaction) -> None:
    """The adapter's request equals the documented one: method, URL, body (as JSON when
    JSON), and every documented header (secret ones only need to be present)."""
    assert built.method == documented.method, (built.method, documented.method)
    assert str(built.url) == documented.uri, (str(built.url), documented.uri)
    for name, value in documented.request_headers.items():
        got = built.headers.get(name)
        assert got is not None, f"header {name!r} missing from the built request"
        if name not in SECRET_HEADERS and value != REDACTED:
            assert got == value, (name, got, value)
    body = built.read()
    if documented.request_body:
        try:
            assert json.loads(body) == documented.request_json(), (
                json.loads(body),
                documented.request_json(),
            )
        except json.JSONDecodeError:
            assert body == documented.request_body
    else:
        assert not body, body


def to_httpx_response(
    documented: Interaction, request: httpx.Request | None = None
) -> httpx.Response:
    """The documented response as an `httpx.Response` (for `parse_*` unit tests)."""
    return httpx.Response(
        documented.status,
        headers=documented.response_headers,
        content=documented.response_body,
        request=request or httpx.Request(documented.method, documented.uri),
    )


@contextmanager
def replay(path: str | Path) -> Iterator[Any]:
    """Replay a cassette through vcrpy: real httpx clients get its answers, and any request
    that is not in it fails (record mode "none": the network is never touched)."""
    import vcr

    recorder = vcr.VCR(
        record_mode="none",
        match_on=("method", "scheme", "host", "port", "path", "query", "json_body"),
        filter_headers=list(SECRET_HEADERS),
    )
    recorder.register_matcher("json_body", _same_body)
    with recorder.use_cassette(str(path), allow_playback_repeats=True) as cassette:
        yield cassette


def _same_body(r1: Any, r2: Any) -> None:
    """vcrpy matcher: bodies equal as JSON (key order and spacing aside), else as bytes."""
    a, b = _body(r1.body), _body(r2.body)
    try:
        same = json.loads(a or b"null") == json.loads(b or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        same = a == b
    if not same:
        raise AssertionError(f"bodies differ: {a[:200]!r} != {b[:200]!r}")


def emulator_answer(
    app: Any, documented: Interaction, *, headers: Mapping[str, str]
) -> httpx.Response:
    """Send the documented request to an emulator in-process (with working `headers` in
    place of the redacted ones) and return its answer."""
    from .emulator.transport import SyncEmulatorTransport

    sent_headers = {k: v for k, v in documented.request_headers.items() if v != REDACTED} | dict(
        headers
    )
    with httpx.Client(transport=SyncEmulatorTransport(app)) as client:
        return client.request(
            documented.method,
            documented.uri,
            headers=sent_headers,
            content=documented.request_body or None,
        )


def assert_same_shape(actual: Any, documented: Any, path: str = "$") -> None:
    """Every key the documented JSON has is in `actual` with a value of the same JSON type
    (null matches anything; lists are compared by their first item)."""
    if documented is None or actual is None:
        return
    if isinstance(documented, bool) or isinstance(actual, bool):
        assert type(actual) is type(documented), f"{path}: {actual!r} vs {documented!r}"
        return
    if isinstance(documented, int | float):
        assert isinstance(actual, int | float), f"{path}: expected a number, got {actual!r}"
        return
    assert type(actual) is type(documented), (
        f"{path}: expected {type(documented).__name__}, got {type(actual).__name__}"
    )
    if isinstance(documented, dict):
        for key, value in documented.items():
            assert key in actual, f"{path}: key {key!r} missing"
            assert_same_shape(actual[key], value, f"{path}.{key}")
    elif isinstance(documented, list) and documented and actual:
        assert_same_shape(actual[0], documented[0], f"{path}[0]")
