"""Reading the relays' answers: one-api-style error bodies and the video of a feed job.

Sources: docs/providers/hfrelay.md; the feed's ``result`` shape is not documented [inf].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from videogw import Output
from videogw import wire as core
from videogw.provider import json_loads

__all__ = ["one_api_error", "output"]

_URL_PATHS = (("raw", "url"), ("min", "url"), ("url",), ("video", "url"), ("video_url",))


def one_api_error(response: httpx.Response) -> tuple[str, str]:
    """Message and code of a one-api-style ``{"error": {"message", "type", "code"}}`` body,
    the usual shape of these relays' errors [inf]; empty strings when it is not one."""
    try:
        error = json_loads(response.content).get("error")
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("message") or ""), str(error.get("code") or "")


def output(job: Mapping[str, Any]) -> Output | None:
    """The video of one job: `result.raw.url` (full size) first, then `result.min.url` and
    other URL fields relays have been seen to use [inf]."""
    result = job.get("result") or job.get("results")
    if isinstance(result, str) and result.startswith("https://"):
        return Output(url=result, media_type=media_type(result, None))
    if not isinstance(result, Mapping):
        return None
    for path in _URL_PATHS:
        node: Any = result
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, str) and node.startswith(("https://", "http://")):
            parent = result.get(path[0])
            kind = parent.get("type") if isinstance(parent, Mapping) else None
            return Output(url=node, media_type=media_type(node, kind))
    return None


def media_type(url: str, kind: object) -> str | None:
    given = kind if isinstance(kind, str) and "/" in kind else None
    return core.media_type(url, given, "video/mp4" if kind == "video" else None)
