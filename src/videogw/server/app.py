"""The `videogw serve` ASGI app: FastAPI over one blocking `Gateway`.

Handlers that touch the gateway or the ledger are plain functions (FastAPI runs them in its
thread pool); the gateway and every ledger backend are safe to share between threads.

Errors use OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``). Every 4xx
answer carries ``x-should-retry: false`` (the `openai` SDKs otherwise retry 409), and so
does an answer to a submit whose outcome is unknown: an SDK retrying it could buy a second
job.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from ..download import DownloadError, DownloadPolicy, download
from ..errors import (
    BudgetExceededError,
    ContentRefusedError,
    IdempotencyConflictError,
    InvalidRequestError,
    JobLeasedError,
    NoCandidateError,
    OutcomeUnknownError,
    ProviderError,
    ProviderRejectedError,
    TransportError,
    UnsupportedOperationError,
    VideoGWError,
)
from ..gateway import Gateway
from ..ledger import ClientKey, Ledger
from ..models import GenerationRequest, Job, JobStatus, Media
from ..webhooks import PATH as WEBHOOK_PATH
from ..webhooks import WebhookReceiver
from . import ui
from .figures import health_rows, latency_rows, recent_jobs, spend_rows
from .keys import SECRET_PREFIX, find_key
from .metrics import ServerMetrics
from .videos import BodyError, VideoObject, request_from_body, video_object

__all__ = ["ServerSettings", "make_app"]

log = logging.getLogger("videogw.server")

MAX_UPLOAD = 50 * 1024 * 1024
NO_RETRY = {"x-should-retry": "false"}
UI_COOKIE = "videogw_key"


@dataclass
class ServerSettings:
    """`require_keys`: every API call needs a bearer client key (else a call without one is
    served as nobody's; a key that is given is still checked). `download`: how outputs
    are fetched for ``/content``."""

    require_keys: bool = True
    download: DownloadPolicy = field(default_factory=DownloadPolicy)
    list_scan: int = 20_000  # the newest jobs a list or the dashboard looks through


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class BudgetFigures(BaseModel):
    client_key: str | None = None
    limit_usd_per_day: Decimal | None = None
    spent_or_held_today_usd: Decimal | None = None
    reasons: dict[str, str] = {}


class BudgetErrorResponse(ErrorResponse):
    budget: BudgetFigures


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VideoObject]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool
    video: VideoObject


class CreateVideoBody(BaseModel):
    """OpenAI's create-video fields, then videogw's own (all optional but `model`)."""

    model_config = {"extra": "forbid"}

    model: str
    prompt: str | None = None
    seconds: str | int | None = None
    size: str | None = None
    input_reference: dict[str, str] | None = None  # {"image_url": https or data URL}
    task: str | None = None
    image_url: str | None = None
    end_image_url: str | None = None
    audio_url: str | None = None
    motion: dict[str, Any] | None = None
    seed: int | None = None
    quality: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    enhance_prompt: bool | None = None
    options: dict[str, Any] | None = None
    webhook_url: str | None = None
    labels: dict[str, str] | None = None


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body: dict[str, Any] = {
            "error": {"message": message, "type": type, "param": param, "code": code},
            **(extra or {}),
        }
        self.headers = dict(headers or {})
        if 400 <= status < 500 and status != 429:
            self.headers.update(NO_RETRY)
        super().__init__(message)


Row = TypeVar("Row")  # a planning row: a quote, a candidate, a comparison


def _error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorResponse} for code in codes}


def _unflatten(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """Form fields with bracketed names (``motion[id]``, as the openai SDK sends nested
    extra fields) back into objects."""
    out: dict[str, Any] = {}
    for name, value in items:
        parts = name.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise BodyError(f"field {parts[0]!r} is given twice in different shapes", part)
            node = child
        node[parts[-1]] = value
    return out


def _form_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _form_value(v) for k, v in value.items()}
    if value in ("true", "false"):
        return value == "true"
    return value


class Server:
    def __init__(self, gateway: Gateway, settings: ServerSettings) -> None:
        self.gateway = gateway
        self.settings = settings
        self.receiver = WebhookReceiver(gateway)
        self.metrics = ServerMetrics(gateway, lambda: self.receiver)
        self._last_read: dict[str, float] = {}

    @property
    def ledger(self) -> Ledger:
        return self.gateway.store

    # -- auth -----------------------------------------------------------------------------
    def caller(self, request: Request, secret: str | None) -> ClientKey | None:
        header = request.headers.get("authorization")
        if header is not None and secret is None and self.settings.require_keys:
            raise ApiError(401, "expected Authorization: Bearer <client key>", code="invalid_auth")
        if secret is None:
            secret = request.cookies.get(UI_COOKIE) if request.url.path.startswith("/ui") else None
        open_server = not self.settings.require_keys
        if secret is not None and open_server and not secret.startswith(SECRET_PREFIX):
            secret = None  # an SDK's placeholder key on an open server: nobody's
        if secret is None:
            if self.settings.require_keys:
                raise ApiError(
                    401,
                    "a client key is required: Authorization: Bearer <key> "
                    "(videogw keys create --name NAME)",
                    code="missing_key",
                )
            return None
        key = find_key(self.ledger, secret)
        if key is None:
            raise ApiError(401, "unknown client key", code="invalid_key")
        if not key.active:
            raise ApiError(401, f"client key {key.id} was revoked", code="revoked_key")
        return key

    def visible(self, job: Job, key: ClientKey | None) -> bool:
        return key is None or job.labels.get("client_key") == key.id

    def job(self, video_id: str, key: ClientKey | None) -> Job:
        job = self.ledger.get(video_id) if len(video_id) <= 200 else None
        if job is None or not self.visible(job, key):
            raise ApiError(404, f"no video {video_id!r}", code="not_found", param="video_id")
        return job

    # -- reading --------------------------------------------------------------------------
    def poll_after_ms(self, job: Job) -> int:
        if job.status.is_terminal:
            return 0
        try:
            delay = float(self.gateway.tracker.next_delay(job))
        except VideoGWError:
            delay = self.gateway.config.poll.floor_s
        return max(1, round(delay * 1000))

    def refresh(self, job: Job) -> Job:
        """Read the job's status from its provider when the adaptive schedule says it is
        due (clients polling faster than that see the recorded job)."""
        if job.status.is_terminal or job.provider_job_id is None:
            return job
        now = time.monotonic()
        last = self._last_read.get(job.id)
        if last is not None and now - last < self.poll_after_ms(job) / 1000:
            return job
        self._last_read[job.id] = now
        if len(self._last_read) > 100_000:
            self._last_read.clear()
        try:
            self.metrics.status_reads.labels(job.provider or "").inc()
            job = self.gateway.status(job)
        except VideoGWError as exc:
            log.info("job %s: status read failed (%s); showing the recorded status", job.id, exc)
        if job.status.is_terminal:
            self._last_read.pop(job.id, None)
        return job

    def video(self, job: Job) -> VideoObject:
        return video_object(job, self.ledger.load_request(job.id))

    def video_response(self, job: Job, status: int = 200) -> JSONResponse:
        headers = {"openai-poll-after-ms": str(self.poll_after_ms(job))}
        return JSONResponse(
            self.video(job).model_dump(mode="json"), status_code=status, headers=headers
        )

    # -- submitting -----------------------------------------------------------------------
    async def parse_create(self, request: Request) -> tuple[dict[str, Any], Media | None]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        upload: Media | None = None
        if ctype == "multipart/form-data" or ctype == "application/x-www-form-urlencoded":
            try:
                form = await request.form(max_part_size=MAX_UPLOAD)
            except Exception as exc:  # a malformed body is the client's error
                raise ApiError(400, f"unreadable form body: {exc}") from None
            items: list[tuple[str, Any]] = []
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if name != "input_reference":
                        raise ApiError(400, f"unexpected file field {name!r}", param=name)
                    data = await value.read(MAX_UPLOAD + 1)
                    if len(data) > MAX_UPLOAD:
                        raise ApiError(413, "input_reference is over 50 MiB", param=name)
                    if not data:
                        raise ApiError(400, "input_reference is empty", param=name)
                    upload = Media(data=data, content_type=value.content_type or None)
                    continue
                items.append((name, value))
            try:
                body = {k: _form_value(v) for k, v in _unflatten(items).items()}
            except BodyError as exc:
                raise ApiError(400, str(exc), param=exc.param) from None
            return body, upload
        if ctype in ("application/json", ""):
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "the body is not valid JSON") from None
            if not isinstance(body, dict):
                raise ApiError(400, "the body must be a JSON object")
            return body, None
        raise ApiError(415, f"unsupported content type {ctype!r}: use JSON or multipart/form-data")

    def build_request(
        self,
        body: dict[str, Any],
        upload: Media | None,
        key: ClientKey | None,
        idempotency_key: str | None,
    ) -> GenerationRequest:
        if idempotency_key is not None and key is not None:
            idempotency_key = f"{key.id}:{idempotency_key}"  # one client cannot see another's
        try:
            fields = request_from_body(
                body,
                upload=upload,
                idempotency_key=idempotency_key,
                client_key=key.id if key is not None else None,
            )
            return GenerationRequest.model_validate(fields)
        except BodyError as exc:
            raise ApiError(400, str(exc), param=exc.param) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or None
            raise ApiError(400, f"{where}: {first['msg']}", param=where) from None

    def budget_error(
        self, key: ClientKey | None, message: str, reasons: dict[str, str]
    ) -> ApiError:
        figures: dict[str, Any] = {"reasons": reasons}
        if key is not None:
            # the same day start as the submit's budget check
            midnight = self.gateway.figures.start_of_day()
            spent = self.ledger.spend_usd(midnight, client_key=key.id)
            held = self.ledger.committed_usd(midnight, client_key=key.id)
            figures.update(
                client_key=key.id,
                limit_usd_per_day=str(key.budget_usd_per_day)
                if key.budget_usd_per_day is not None
                else None,
                spent_or_held_today_usd=str(spent + held),
            )
        return ApiError(
            402,
            message,
            type="budget_exceeded",
            code="budget_exceeded",
            extra={"budget": figures},
        )

    def submit(self, req: GenerationRequest, key: ClientKey | None) -> Job:
        try:
            return self.gateway.submit(req)
        except IdempotencyConflictError as exc:
            self.metrics.submits.labels("conflict").inc()
            raise ApiError(
                409,
                "this Idempotency-Key was used with a different request; use a new key for a "
                "new request",
                code="idempotency_conflict",
                param="Idempotency-Key",
                extra={"video_id": exc.job_id},
            ) from None
        except BudgetExceededError as exc:
            self.metrics.submits.labels("over_budget").inc()
            raise self.budget_error(key, str(exc), {}) from None
        except NoCandidateError as exc:
            budget = {n: r for n, r in exc.reasons.items() if r.startswith("over ")}
            if budget:
                self.metrics.submits.labels("over_budget").inc()
                raise self.budget_error(key, f"nothing was sent: {exc}", exc.reasons) from None
            self.metrics.submits.labels("refused").inc()
            raise ApiError(
                400, str(exc), code="no_candidate", extra={"reasons": exc.reasons}
            ) from None
        except InvalidRequestError as exc:
            self.metrics.submits.labels("refused").inc()
            raise ApiError(400, str(exc), param=exc.field) from None
        except (ProviderRejectedError, ContentRefusedError) as exc:
            # the provider refused the request itself (400/422): nothing was created
            self.metrics.submits.labels("refused").inc()
            raise ApiError(
                400, str(exc), code="provider_rejected", param=getattr(exc, "field", None)
            ) from None
        except (ProviderError, TransportError) as exc:
            # every candidate refused or could not be reached: nothing was created
            self.metrics.submits.labels("failed").inc()
            raise ApiError(502, str(exc), type="provider_error", code="provider_error") from None
        except VideoGWError as exc:
            # e.g. an acceptance the ledger could not record: a job may exist
            self.metrics.submits.labels("unknown").inc()
            raise ApiError(
                502,
                f"{type(exc).__name__}: {exc}",
                type="outcome_unknown",
                code="outcome_unknown",
                headers=NO_RETRY,
            ) from None


_bearer = HTTPBearer(auto_error=False, description="A videogw client key")


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ClientKey | None:
    server: Server = request.app.state.server
    return server.caller(request, credentials.credentials if credentials else None)


# the client key a request was made with (None: served without one)
Caller = Annotated[ClientKey | None, Depends(_caller)]


def make_app(gateway: Gateway, settings: ServerSettings | None = None) -> FastAPI:
    """The server for a blocking `Gateway`. ``app.state.server`` holds its parts."""
    settings = settings or ServerSettings()
    server = Server(gateway, settings)

    app = FastAPI(
        title="videogw",
        summary="One job interface over generative-video APIs, OpenAI-style /v1/videos",
        version=_version(),
    )
    app.state.server = server

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        error = ApiError(exc.status_code, str(exc.detail))
        return JSONResponse(error.body, status_code=error.status, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"]) or None
        error = ApiError(400, f"{where}: {first['msg']}", param=where)
        return JSONResponse(error.body, status_code=400, headers=error.headers)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        error = ApiError(500, f"internal error: {type(exc).__name__}", type="server_error")
        # a submit that crashed may have created a job: never invite a blind retry
        return JSONResponse(error.body, status_code=500, headers=NO_RETRY)

    create_body = CreateVideoBody.model_json_schema(ref_template="#/components/schemas/{model}")
    multipart_body = {
        "type": "object",
        "required": ["model"],
        "properties": {
            **{
                k: v
                for k, v in create_body["properties"].items()
                if k in ("model", "prompt", "size", "image_url", "quality", "seed")
            },
            "seconds": {"type": "string"},
            "input_reference": {"type": "string", "format": "binary"},
        },
    }

    @app.post(
        "/v1/videos",
        response_model=VideoObject,
        tags=["videos"],
        summary="Create a video (OpenAI-style)",
        responses={
            **_error_responses(400, 401, 409, 413, 415, 502),
            402: {"model": BudgetErrorResponse},
        },
        openapi_extra={
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^[!-~]{1,200}$"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": create_body},
                    "multipart/form-data": {"schema": multipart_body},
                },
            },
        },
    )
    async def create_video(request: Request, key: Caller) -> JSONResponse:
        body, upload = await server.parse_create(request)
        idem = request.headers.get("idempotency-key")
        req = server.build_request(body, upload, key, idem)
        job: Job = await run_in_threadpool(server.submit, req, key)
        if job.status is JobStatus.unknown and job.provider_job_id is None:
            server.metrics.submits.labels("unknown").inc()
            video = server.video(job)
            raise ApiError(
                502,
                f"the submit to {job.provider} has an unknown outcome: a paid job may exist "
                f"there, so do not retry (video {job.id}; reconcile it with the provider)",
                type="outcome_unknown",
                code="outcome_unknown",
                extra={"video": video.model_dump(mode="json")},
                headers=NO_RETRY,
            )
        server.metrics.submits.labels("accepted" if job.provider_job_id else job.status).inc()
        return server.video_response(job)

    @app.get(
        "/v1/videos/{video_id}",
        response_model=VideoObject,
        tags=["videos"],
        responses=_error_responses(400, 401, 404),
    )
    def retrieve_video(video_id: str, key: Caller) -> JSONResponse:
        return server.video_response(server.refresh(server.job(video_id, key)))

    @app.get(
        "/v1/videos",
        response_model=VideoList,
        tags=["videos"],
        responses=_error_responses(400, 401),
    )
    def list_videos(
        key: Caller,
        after: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        order: Literal["asc", "desc"] = "desc",
    ) -> VideoList:
        jobs = server.ledger.find(newest_first=order == "desc", limit=settings.list_scan)
        jobs = [j for j in jobs if server.visible(j, key)]
        if after is not None:
            ids = [j.id for j in jobs]
            if after not in ids:
                raise ApiError(400, f"no video {after!r} to list after", param="after")
            jobs = jobs[ids.index(after) + 1 :]
        page = jobs[:limit]
        data = [server.video(j) for j in page]
        return VideoList(
            data=data,
            first_id=page[0].id if page else None,
            last_id=page[-1].id if page else None,
            has_more=len(jobs) > limit,
        )

    @app.get(
        "/v1/videos/{video_id}/content",
        tags=["videos"],
        response_class=FileResponse,
        responses={
            200: {"content": {"video/mp4": {}, "application/octet-stream": {}}},
            **_error_responses(400, 401, 404, 409, 502),
        },
    )
    def video_content(
        video_id: str, key: Caller, variant: Literal["video"] = "video"
    ) -> FileResponse:
        job = server.refresh(server.job(video_id, key))
        if job.status is not JobStatus.succeeded or not job.outputs:
            raise ApiError(
                409,
                f"video {job.id} is {job.status.value}: only a completed video has content",
                code="not_completed",
            )
        output = job.outputs[0]
        folder = Path(tempfile.mkdtemp(prefix="videogw-content-"))
        dest = folder / "output"
        try:
            saved = download(output, dest, policy=settings.download)
        except DownloadError as exc:
            _remove(folder)
            raise ApiError(
                502, f"the output could not be fetched: {exc}", type="download_error"
            ) from None
        return FileResponse(
            dest,
            media_type=output.media_type or "video/mp4",
            headers={"x-videogw-sha256": saved.sha256 or ""},
            background=BackgroundTask(_remove, folder),
        )

    @app.delete(
        "/v1/videos/{video_id}",
        response_model=VideoDeleted,
        tags=["videos"],
        responses=_error_responses(401, 404, 409, 502),
    )
    def delete_video(video_id: str, key: Caller) -> VideoDeleted:
        """Cancels the job where its provider can; a finished job stays in the ledger (409)."""
        job = server.job(video_id, key)
        if job.status.is_terminal:
            raise ApiError(
                409,
                f"video {job.id} already finished ({job.status.value}); the ledger keeps it as "
                "the record of what was spent",
                code="already_finished",
            )
        if job.provider_job_id is None:
            raise ApiError(
                409,
                f"video {job.id} has no provider job id (its submit outcome is unknown): "
                "there is nothing to cancel through videogw; reconcile it with "
                f"{job.provider or 'the provider'}",
                code="outcome_unknown",
            )
        try:
            job = gateway.cancel(job)
        except (UnsupportedOperationError, OutcomeUnknownError, JobLeasedError) as exc:
            raise ApiError(
                409, f"cannot cancel video {job.id}: {exc}", code="cannot_cancel"
            ) from None
        except ProviderError as exc:
            raise ApiError(
                409, f"{job.provider} refused to cancel: {exc}", code="cannot_cancel"
            ) from None
        except VideoGWError as exc:
            raise ApiError(502, f"cancel failed: {exc}", type="provider_error") from None
        return VideoDeleted(
            id=job.id, deleted=job.status is JobStatus.cancelled, video=server.video(job)
        )

    # -- native ---------------------------------------------------------------------------
    def native_request(body: CreateVideoBody, key: ClientKey | None) -> GenerationRequest:
        return server.build_request(body.model_dump(exclude_none=True), None, key, None)

    def planned(
        ask: Callable[[GenerationRequest], list[Row]], body: CreateVideoBody, key: ClientKey | None
    ) -> list[Row]:
        """What the gateway's planning says of this request; a request it refuses is 400."""
        try:
            return ask(native_request(body, key))
        except VideoGWError as exc:
            raise ApiError(400, str(exc)) from None

    @app.post("/v1/videogw/estimate", tags=["videogw"], responses=_error_responses(400, 401))
    def estimate(body: CreateVideoBody, key: Caller) -> list[dict[str, Any]]:
        """What the request would cost at each candidate, and why others are not."""
        quotes = planned(gateway.estimate, body, key)
        return [
            {
                "provider": q.provider,
                "model": q.model,
                "provider_model": q.provider_model,
                "candidate": q.candidate,
                "reason": q.reason,
                "estimate": _dump(q.estimate),
            }
            for q in quotes
        ]

    @app.post("/v1/videogw/explain", tags=["videogw"], responses=_error_responses(400, 401))
    def explain(body: CreateVideoBody, key: Caller) -> list[dict[str, Any]]:
        """Every provider: candidates in the order they would be tried, then the others."""
        rows = planned(gateway.explain, body, key)
        return [
            {
                "provider": c.provider,
                "candidate": c.candidate,
                "reason": c.reason,
                "provider_model": c.model,
                "estimate": _dump(c.estimate),
                "stats": _stats(c.stats),
            }
            for c in rows
        ]

    @app.post("/v1/videogw/compare", tags=["videogw"], responses=_error_responses(400, 401))
    def compare(body: CreateVideoBody, key: Caller) -> list[dict[str, Any]]:
        """A row per provider: candidate or why not, estimate and the ledger's figures."""
        rows = planned(gateway.compare, body, key)
        return [
            {
                "provider": r.provider,
                "model": r.model,
                "provider_model": r.provider_model,
                "candidate": r.candidate,
                "reason": r.reason,
                "estimate": _dump(r.estimate),
                "stats": _stats(r.stats),
            }
            for r in rows
        ]

    @app.get("/v1/videogw/jobs/{job_id}", tags=["videogw"], responses=_error_responses(401, 404))
    def job_json(job_id: str, key: Caller) -> dict[str, Any]:
        """The full `Job` record (its provider secrets left out)."""
        job = server.job(job_id, key)
        return job.model_dump(mode="json", exclude={"provider_data"})

    @app.get("/v1/videogw/spend", tags=["videogw"], responses=_error_responses(400, 401))
    def spend(key: Caller, days: Annotated[int, Query(ge=1, le=366)] = 7) -> list[dict[str, Any]]:
        """USD charged per day (UTC), provider and model: the caller's key's jobs."""
        jobs = recent_jobs(server.ledger, settings.list_scan)
        rows = spend_rows(jobs, days=days, client_key=key.id if key is not None else None)
        return [
            {
                "day": r.day,
                "provider": r.provider,
                "model": r.model,
                "spend_usd": str(r.spend_usd),
                "jobs": r.jobs,
            }
            for r in rows
        ]

    # -- operations -----------------------------------------------------------------------
    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(server.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.router.add_route(WEBHOOK_PATH, server.receiver.handle, methods=["POST"])

    @app.get("/ui", include_in_schema=False)
    def dashboard(
        request: Request,
        status: str | None = None,
        provider: str | None = None,
        key_id: Annotated[str | None, Query(alias="key")] = None,
    ) -> Response:
        try:
            server.caller(request, None)
        except ApiError as exc:
            return ui.login_page(str(exc), exc.status)
        jobs = recent_jobs(server.ledger, settings.list_scan)
        page = ui.Dashboard(
            jobs=jobs,
            shown=[
                j
                for j in jobs
                if (not status or j.status.value == status)
                and (not provider or j.provider == provider)
                and (not key_id or j.labels.get("client_key") == key_id)
            ][:200],
            spend=spend_rows(jobs, days=14),
            latency=latency_rows(server.ledger, jobs),
            health=health_rows(gateway),
            keys=server.ledger.list_keys(),
            filters={"status": status or "", "provider": provider or "", "key": key_id or ""},
        )
        return ui.render(page)

    @app.get("/ui/jobs/{job_id}", include_in_schema=False)
    def dashboard_job(request: Request, job_id: str) -> Response:
        try:
            server.caller(request, None)
        except ApiError as exc:
            return ui.login_page(str(exc), exc.status)
        job = server.ledger.get(job_id) if len(job_id) <= 200 else None
        if job is None:
            return JSONResponse({"error": f"no job {job_id!r}"}, status_code=404)
        return JSONResponse(job.model_dump(mode="json", exclude={"provider_data"}))

    @app.post("/ui/login", include_in_schema=False)
    async def ui_login(request: Request) -> Response:
        form = await request.form()
        secret = str(form.get("key") or "")
        key = await run_in_threadpool(find_key, server.ledger, secret)
        if key is None or not key.active:
            return ui.login_page("unknown or revoked client key", 401)
        response = PlainTextResponse("", status_code=303, headers={"location": "/ui"})
        response.set_cookie(UI_COOKIE, secret, httponly=True, samesite="strict", path="/ui")
        return response

    return app


def _remove(folder: Path) -> None:
    for child in folder.iterdir():
        child.unlink(missing_ok=True)
    folder.rmdir()


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json") if value is not None else None


def _stats(stats: Any) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {
        "samples": stats.samples,
        "latency_samples": stats.latency_samples,
        "p50_s": stats.p50_s,
        "p95_s": stats.p95_s,
        "success_rate": stats.success_rate,
        "mean_cost_usd": str(stats.mean_cost_usd) if stats.mean_cost_usd is not None else None,
    }


def _version() -> str:
    from .. import __version__

    return __version__
