"""Pixazo's wire: paths and names shared with the emulator, and readers of its answers.

Sources: docs/providers/pixazo.md (the seed 003 page's JSON examples are the contract).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from videogw import Output
from videogw import wire as core
from videogw.provider import json_loads

__all__ = [
    "OFFICIAL_HOST",
    "STATUS_PATH",
    "SUBMIT_PATH",
    "TIMESTAMPS",
    "TOKEN_PARAM",
    "callback_url",
    "error_body",
    "json_object",
    "outputs",
    "parse_timestamp",
]

TOKEN_PARAM = "vgw_token"  # query parameter of the callback URL that carries the job's token
OFFICIAL_HOST = "gateway.pixazo.ai"
SUBMIT_PATH = "/ai-model-api/v1/image-to-video"
STATUS_PATH = "/v2/requests/status/{id}"
TIMESTAMPS = ("created_at", "updated_at", "completed_at")
# Extensions an output can have, fixed here rather than read from the system's mime.types
# (which maps odd ones, such as the seed's ``.ext``, to odd types).
MEDIA_TYPES = {
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "gif": "image/gif",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}


def callback_url(url: str, token: str) -> str:
    """`url` with the job's token appended as ``vgw_token`` (other query params kept)."""
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}{TOKEN_PARAM}={token}"))


def parse_timestamp(value: object) -> datetime | None:
    """ISO-8601 (``2026-05-22T13:17:32.110Z``) or ``2026-05-22 13:19:23`` (zone-less, taken
    as UTC), as an aware datetime; None for anything else (the seed even shows ``"..."``)."""
    if not isinstance(value, str):
        return None
    try:
        float(value)
    except ValueError:
        return core.parse_time(value)
    return None  # Pixazo sends no epoch numbers: a bare number is not one of its stamps


def outputs(output: object) -> tuple[Output, ...]:
    """``output.media_url[]`` (a string is tolerated), typed by ``media_type``, or by the
    URL's extension when Pixazo says ``application/octet-stream``."""
    if not isinstance(output, dict):
        return ()
    urls = output.get("media_url")
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list):
        return ()
    given = output.get("media_type")
    kind = given if isinstance(given, str) else None
    return tuple(
        Output(url=url, media_type=_media_type(url, kind))
        for url in urls
        if isinstance(url, str) and url
    )


def _media_type(url: str, given: str | None) -> str | None:
    if given and given != "application/octet-stream":
        return given
    _, dot, ext = urlsplit(url).path.rpartition(".")
    return MEDIA_TYPES.get(ext.lower(), given) if dot else given


def json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json_loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def error_body(response: httpx.Response) -> dict[str, Any]:
    return json_object(response.content) or {}
