"""Higgsfield's side requests: presigned uploads (ask for a slot, PUT the bytes with every
``upload_headers`` entry, which are signed, and no Higgsfield auth, then use the public
URL in the body) and the catalogs (docs/providers/higgsfield.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from videogw import Media
from videogw.errors import UnsupportedOperationError
from videogw.provider import Flow, Purpose
from videogw.wire import request as http_request

from .models import content_type_of
from .wire import models_list, motions_list

if TYPE_CHECKING:
    from .provider import HiggsfieldProvider

__all__ = ["catalog_flow", "upload_flow"]

CATALOGS = {"motions": ("v1/motions", motions_list), "models": ("models", models_list)}


def upload_flow(provider: HiggsfieldProvider, media: Media) -> Flow[str]:
    """Upload `media`; return its public URL."""
    kind = content_type_of(media)
    ask = http_request(
        "POST",
        provider.url("files/generate-upload-url"),
        json={"content_type": kind},
        headers=provider.headers(),
    )
    response = yield provider.call(ask, Purpose.upload)
    data = provider.json(response)
    if not isinstance(data, dict):
        raise provider.malformed(response, "upload slot answer is not an object")
    public_url, upload_url = data.get("public_url"), data.get("upload_url")
    if not isinstance(public_url, str) or not isinstance(upload_url, str):
        raise provider.malformed(response, "upload slot answer lacks public_url/upload_url")
    scheme = urlsplit(upload_url).scheme
    if scheme != "https" and urlsplit(provider.base_url).scheme != scheme:
        raise provider.malformed(response, f"upload_url is not https ({scheme or 'no scheme'})")
    headers = data.get("upload_headers") or {"Content-Type": kind}
    if not isinstance(headers, dict):
        raise provider.malformed(response, "upload_headers is not an object")
    put = http_request(
        "PUT",
        upload_url,
        content=media.read_bytes(),
        headers={str(k): str(v) for k, v in headers.items()},
    )
    yield provider.call(put, Purpose.upload)
    return public_url


def catalog_flow(provider: HiggsfieldProvider, kind: str) -> Flow[list[dict[str, Any]]]:
    """``motions``: DoP presets ``{id, name, description, preview_url}``; ``models``: the
    paths this account may call, each callable as ``higgsfield:<path>``."""
    if kind not in CATALOGS:
        raise UnsupportedOperationError(
            f"{provider.instance} has no {kind!r} catalog (it has: {', '.join(CATALOGS)})"
        )
    path, reader = CATALOGS[kind]
    ask = http_request("GET", provider.url(path), headers=provider.headers())
    response = yield provider.call(ask, Purpose.read)
    return provider.read(reader, provider.json(response), response)
