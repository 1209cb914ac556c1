"""How the Segmind provider runs a job in each mode (docs/providers/segmind.md).

- `Queue` (default): ``POST /v2/{slug}``, then status reads; the full result once done;
  past retention, the generations API settles the job.
- `Sync`: ``POST /v1/{slug}`` holds the connection for the whole job and answers the video
  bytes (some models JSON) with ``x-cost``; the job is finished when the submit returns,
  and the video is written to disk (the provider's only file write).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

import httpx

from videogw import Accepted, Capabilities, Job, JobError, JobStatus, Output, StatusUpdate, errors
from videogw.provider import Flow, Prepared, Purpose
from videogw.wire import request as http_request

from .models import SegmindOptions
from .wire import media_type, output_urls, write_video

if TYPE_CHECKING:
    from .provider import SegmindProvider

__all__ = ["MODES", "Queue", "Sync"]

log = logging.getLogger("videogw.segmind")


class Queue:
    """The v2 queue: a request id now, the outcome by polling."""

    name: ClassVar[str] = "queue"
    version: ClassVar[str] = "v2"

    def __init__(self, provider: SegmindProvider) -> None:
        self.provider = provider

    def capabilities(self, full: Capabilities) -> Capabilities:
        return full

    def build_submit(self, prepared: Prepared, body: dict[str, object]) -> httpx.Request:
        p = self.provider
        path = f"/{self.version}/{prepared.spec.provider_model}"
        return http_request("POST", p.url(path), json=body, headers=p.headers())

    def parse_submit(
        self, prepared: Prepared, response: httpx.Response, extra: dict[str, object]
    ) -> Accepted:
        p = self.provider
        data = p.json(response)
        keys = ("request_id", "status_url", "response_url")
        if not isinstance(data, dict) or not all(data.get(key) for key in keys):
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise p.malformed(
                response, f"v2 submit answered without request_id/status_url/response_url: {found}"
            )
        raw = str(data.get("status") or "QUEUED")
        urls = {"status_url": data["status_url"], "response_url": data["response_url"]}
        return Accepted(
            str(data["request_id"]),
            p.map_status(raw),
            raw,
            provider_data={"mode": self.name, **urls, **extra},
            provider_request_id=p.provider_request_id(response),
        )

    def finish(self, prepared: Prepared, accepted: Accepted, response: httpx.Response) -> Accepted:
        return accepted

    def status_flow(self, job: Job) -> Flow[StatusUpdate]:
        p = self.provider
        response = yield p.call(p.build_status(job), Purpose.read)
        update = p.parse_status(job, response)
        if update.status is JobStatus.succeeded and update.outputs is None:
            response = yield p.call(p.build_result(job), Purpose.read)
            update = p.parse_status(job, response)
        lost = response.status_code == 404 and not job.status.is_terminal
        if not lost and (update.status is not JobStatus.succeeded or update.actual_cost):
            return update
        try:  # the generations API: the outcome of a lost job, or a cost the result lacked
            answer = yield p.call(p.build_generation(job), Purpose.read)
        except errors.VideoGWError as exc:
            log.info("%s: no generations record of %s: %s", p.instance, job.id, exc)
            return update
        found = p.parse_generation(job, answer)
        if lost:
            return found or update
        if found is not None and found.actual_cost is not None:
            return replace(update, actual_cost=found.actual_cost, cost_currency="USD")
        return update


class Sync(Queue):
    """The v1 call: the job is done when the submit answers."""

    name = "sync"
    version = "v1"

    def capabilities(self, full: Capabilities) -> Capabilities:
        return full.model_copy(update={"sync_mode": True})

    def build_submit(self, prepared: Prepared, body: dict[str, object]) -> httpx.Request:
        request = super().build_submit(prepared, body)
        timeout = httpx.Timeout(self.provider.settings.sync_timeout_s, connect=10.0)
        request.extensions["timeout"] = timeout.as_dict()  # held for the whole job
        return request

    def parse_submit(
        self, prepared: Prepared, response: httpx.Response, extra: dict[str, object]
    ) -> Accepted:
        """A finished job; for a video-bytes answer the update has no outputs yet (`finish`
        writes them)."""
        p = self.provider
        headers = response.headers
        billing = p.billing(headers.get("x-cost"), headers.get("x-remaining-credits"))
        outputs = None
        if "json" in headers.get("content-type", ""):
            data = p.json(response)
            urls = output_urls(data.get("output", data) if isinstance(data, dict) else data)
            if not urls:
                raise p.malformed(response, "v1 answered JSON without an output URL")
            outputs = tuple(Output(url=url, media_type=media_type(url)) for url in urls)
        elif not response.content:
            raise p.malformed(response, "v1 answered 200 with an empty body")
        update = StatusUpdate(
            JobStatus.succeeded, raw_status="200", outputs=outputs, charged=True, **billing
        )
        request_id = p.provider_request_id(response)
        return Accepted(
            request_id or f"sync-{uuid.uuid4().hex}",
            JobStatus.succeeded,
            update.raw_status,
            provider_data={"mode": self.name, **extra},
            provider_request_id=request_id,
            update=update,
        )

    def finish(self, prepared: Prepared, accepted: Accepted, response: httpx.Response) -> Accepted:
        """Write the video to the request's output_path, else into output_dir or a new
        temporary file (the caller owns it)."""
        update = accepted.update
        if update is None or update.outputs is not None:
            return accepted
        p, job_id = self.provider, accepted.provider_job_id
        options: SegmindOptions = prepared.options  # type: ignore[assignment]
        kind = response.headers.get("content-type", "video/mp4").split(";")[0].strip()
        try:
            output = write_video(
                response.content,
                kind,
                options.output_path,
                directory=p.settings.output_dir,
                prefix=f"segmind-{job_id}-",
            )
        except OSError as exc:
            # The job is paid for: keep it on record as succeeded and say what went wrong.
            log.error("%s: could not save the video of %s: %s", p.instance, job_id, exc)
            error = JobError(kind="provider_error", message=f"video received, not saved: {exc}")
            return replace(accepted, update=replace(update, outputs=(), error=error))
        return replace(accepted, update=replace(update, outputs=(output,)))

    def status_flow(self, job: Job) -> Flow[StatusUpdate]:
        return StatusUpdate(status=job.status)  # finished at submit; nothing to ask
        yield  # pragma: no cover


MODES: dict[str, type[Queue]] = {"queue": Queue, "sync": Sync}
