"""Reading Segmind's answers: money, bodies that may not be JSON, output URLs in whatever
shape a model gives them, the rate-limit reset header; and writing a sync-mode video."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import tempfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from videogw import Output
from videogw import wire as core
from videogw.provider import json_loads

__all__ = [
    "DOP_SLUG",
    "HISTORY_URL",
    "SPEAK_SLUG",
    "data_url",
    "json_object",
    "media_type",
    "money",
    "output_urls",
    "rate_limit_reset",
    "write_video",
]

SPEAK_SLUG = "higgsfield-speech2video"
DOP_SLUG = "higgsfield-image2video"
#: the generations API (SDK ``generations.get``): one request of any age, with its cost
HISTORY_URL = "https://api.spotprod.segmind.com/inference-request/request-history"
#: ``model_status`` of a generations row -> the v2 status it stands for
HISTORY_STATUS = {"COMPLETED": "COMPLETED", "FAILED": "FAILED", "PENDING": "PROCESSING"}


def data_url(content: bytes, content_type: str) -> str:
    """A base64 data URL (Segmind storage's input); bytes of unknown type are sniffed."""
    if content_type == "application/octet-stream":
        content_type = core.sniff(content[:16]) or content_type
    return f"data:{content_type};base64,{base64.b64encode(content).decode('ascii')}"


def money(value: object) -> Decimal | None:
    return None if value is None else core.parse_decimal(value)


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} (HTML pages, bytes, lists): never raises."""
    if "json" not in response.headers.get("content-type", "") and not response.content[
        :1
    ].startswith(b"{"):
        return {}
    try:
        data = json_loads(response.content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def output_urls(output: object) -> list[str]:
    """URLs in a v2 ``output`` (a URL string for media models; lists, objects and
    stringified JSON are searched too, since the shape varies by model)."""
    if isinstance(output, str):
        text = output.strip()
        if text.startswith(("https://", "http://")):
            return [text]
        if text.startswith(("[", "{")):
            try:
                return output_urls(json_loads(text))
            except ValueError:
                return []
        return []
    if isinstance(output, list):
        return [url for item in output for url in output_urls(item)]
    if isinstance(output, dict):
        return [url for value in output.values() for url in output_urls(value)]
    return []


def media_type(url: str) -> str:
    return core.media_type(url, default="video/mp4") or "video/mp4"


def rate_limit_reset(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds until ``x-rate-limit-reset-at-utc`` (ISO 8601, epoch seconds/ms or an HTTP
    date; the format is not documented), else None. Segmind sends no Retry-After."""
    value = response.headers.get("x-rate-limit-reset-at-utc", "")
    return core.until(value, now.timestamp() if now is not None else None)


def write_video(
    content: bytes, kind: str, path: Path | None, *, directory: Path | None, prefix: str
) -> Output:
    """Write `content` to `path`, else to a new temporary file in `directory` (or the
    system's temporary directory); raises `OSError`."""
    if path is None:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        suffix = mimetypes.guess_extension(kind) or ".bin"
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
        with open(handle, "wb") as file:
            file.write(content)
        path = Path(name)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return Output(
        url=path.resolve().as_uri(),
        media_type=kind,
        path=str(path),
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )
