"""Where a provider should deliver a job's webhooks: ``{public_url}/webhooks/{provider}/{job}``.

The gateway asks for callbacks at submit when `Config.public_url` is set; the receiver in
`videogw.webhooks` answers on the same paths.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from .errors import VideoGWError
from .provider import Prepared, Provider

__all__ = ["callback_url", "with_callback"]

log = logging.getLogger("videogw.webhooks")


def callback_url(public_url: str, provider: str, job_id: str) -> str:
    """The URL a provider should call for one job: ``{public_url}/webhooks/{provider}/{id}``."""
    return f"{public_url.rstrip('/')}/webhooks/{quote(provider, safe='')}/{quote(job_id, safe='')}"


def with_callback(
    provider: Provider, prepared: Prepared, public_url: str | None, job_id: str
) -> Prepared:
    """`prepared` again with the job's callback URL, when the provider sends webhooks, a
    public URL is configured and the request names no URL of its own. Re-preparing lets
    the provider mint what goes with the URL (Pixazo's per-job token)."""
    if not public_url or not provider.capabilities.webhooks or prepared.request.webhook_url:
        return prepared
    url = callback_url(public_url, prepared.provider, job_id)
    try:
        return provider.prepare(prepared.request.model_copy(update={"webhook_url": url}))
    except VideoGWError as exc:  # e.g. a listing without webhook pass-through: poll instead
        log.info("%s: not asking for webhooks (%s)", prepared.provider, exc)
        return prepared
