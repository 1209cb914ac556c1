"""Reading Pixazo's answers: status words (reference/providers.md (a)), outputs and their
media types, both timestamp formats, the polling URL's host check, and HTTP errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from videogw import GenerationRequest, Job, JobStatus, Purpose, Task
from videogw.errors import (
    AuthenticationError,
    InsufficientCreditsError,
    JobNotFoundError,
    MalformedResponseError,
    ModelUnavailableError,
    ProviderError,
    ProviderRejectedError,
    RateLimitError,
    ServerError,
)
from videogw_pixazo import PixazoProvider
from videogw_pixazo.provider import parse_timestamp

RID = "ai-model-api_0195f7f4-7c1d-7a51-9d0e-2f1c3b4a5d6e"


def provider(**settings: Any) -> PixazoProvider:
    return PixazoProvider(PixazoProvider.Settings(api_key="k", **settings))


def job(**provider_data: Any) -> Job:
    return Job(
        model="dop-lite",
        task=Task.image_to_video,
        provider="pixazo",
        provider_model="dop-lite",
        provider_job_id=RID,
        provider_data=provider_data,
        idempotency_key="k",
    )


def answer(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, json=data, request=httpx.Request("GET", "https://gateway.pixazo.ai/x")
    )


def payload(status: str, **extra: Any) -> dict[str, Any]:
    return {"request_id": RID, "status": status, "model_id": "ai-model-api", "error": None,
            "output": None, **extra}  # fmt: skip


# -- status words ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "status", "charged"),
    [
        ("QUEUED", JobStatus.queued, None),
        ("PROCESSING", JobStatus.running, None),
        ("FAILED", JobStatus.failed, None),
        ("ERROR", JobStatus.failed, False),
        ("SOMETHING_NEW", JobStatus.unknown, None),
    ],
)
def test_status_words(raw: str, status: JobStatus, charged: bool | None) -> None:
    update = provider().parse_status(job(), answer(payload(raw)))
    assert (update.status, update.raw_status, update.charged) == (status, raw, charged)
    assert update.outputs is None


def test_completed_without_media_is_malformed() -> None:
    with pytest.raises(MalformedResponseError):
        provider().parse_status(job(), answer(payload("COMPLETED", output={"media_url": []})))


def test_status_answer_that_is_not_json_is_malformed() -> None:
    response = httpx.Response(200, text="<html>", request=httpx.Request("GET", "https://x"))
    with pytest.raises(MalformedResponseError):
        provider().parse_status(job(), response)


@pytest.mark.parametrize(
    ("url", "given", "expected"),
    [
        ("https://cdn.example/v1/x/output.mp4", "application/octet-stream", "video/mp4"),
        ("https://cdn.example/v1/x/output.MP4?sig=1", "application/octet-stream", "video/mp4"),
        ("https://cdn.example/v1/x/output.webm", None, "video/webm"),
        ("https://cdn.example/v1/x/output.ext", "application/octet-stream",
         "application/octet-stream"),
        ("https://cdn.example/v1/x/output.bin", "video/mp4", "video/mp4"),
    ],
)  # fmt: skip
def test_media_type_from_the_extension(url: str, given: str | None, expected: str) -> None:
    output = {"media_url": [url], "media_type": given}
    update = provider().parse_status(job(), answer(payload("COMPLETED", output=output)))
    assert update.outputs is not None
    assert update.outputs[0].media_type == expected


# -- timestamps ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-22T13:17:32.110Z", datetime(2026, 5, 22, 13, 17, 32, 110000, tzinfo=UTC)),
        ("2026-05-22 13:19:23", datetime(2026, 5, 22, 13, 19, 23, tzinfo=UTC)),
        ("2026-03-31T10:00:15.000Z", datetime(2026, 3, 31, 10, 0, 15, tzinfo=UTC)),
        ("2026-03-31T12:00:15+02:00",
         datetime(2026, 3, 31, 12, 0, 15, tzinfo=timezone(timedelta(hours=2)))),
        ("...", None),
        ("", None),
        (None, None),
        (1747790390, None),
    ],
)  # fmt: skip
def test_parse_timestamp(text: object, expected: datetime | None) -> None:
    when = parse_timestamp(text)
    assert when == expected
    assert when is None or when.tzinfo is not None


def test_mixed_timestamps_in_one_payload_land_in_provider_data() -> None:
    data = payload(
        "PROCESSING",
        created_at="2026-05-22T13:17:32.110Z",
        updated_at="2026-05-22 13:19:23",
        completed_at=None,
    )
    update = provider().parse_status(job(), answer(data))
    assert dict(update.provider_data) == {
        "created_at": "2026-05-22T13:17:32.110000+00:00",
        "updated_at": "2026-05-22T13:19:23+00:00",
    }


# -- polling URL ---------------------------------------------------------------------------
OFFICIAL = f"https://gateway.pixazo.ai/v2/requests/status/{RID}"


@pytest.mark.parametrize(
    ("base", "polling_url", "expected"),
    [
        (None, OFFICIAL, OFFICIAL),
        (None, None, OFFICIAL),
        ("https://proxy.example/px", OFFICIAL, OFFICIAL),
        ("https://proxy.example/px", "https://proxy.example/px/v2/requests/status/abc",
         "https://proxy.example/px/v2/requests/status/abc"),
        (None, f"https://evil.example/v2/requests/status/{RID}", OFFICIAL),
        (None, f"http://gateway.pixazo.ai/v2/requests/status/{RID}", OFFICIAL),
        (None, f"https://gateway.pixazo.ai:8443/v2/requests/status/{RID}", OFFICIAL),
        ("https://proxy.example", f"https://evil.example/v2/requests/status/{RID}",
         f"https://proxy.example/v2/requests/status/{RID}"),
        ("http://127.0.0.1:8000", f"http://127.0.0.1:8000/v2/requests/status/{RID}",
         f"http://127.0.0.1:8000/v2/requests/status/{RID}"),
        (None, "not a url at all", OFFICIAL),
    ],
)  # fmt: skip
def test_polling_url_is_followed_only_to_a_chosen_host(
    base: str | None, polling_url: str | None, expected: str
) -> None:
    p = provider(base_url=base)
    built = p.build_status(job(**({"polling_url": polling_url} if polling_url else {})))
    assert str(built.url) == expected
    assert built.headers["ocp-apim-subscription-key"] == "k"


def test_rebuilt_status_url_quotes_the_id() -> None:
    odd = job().model_copy(update={"provider_job_id": "a/b c"})
    assert str(provider().build_status(odd).url).endswith("/v2/requests/status/a%2Fb%20c")


# -- submit answers and errors -------------------------------------------------------------
def test_submit_answer_without_request_id_is_malformed() -> None:
    p = provider()
    prepared = p.prepare(
        GenerationRequest(
            model="dop-lite", prompt="x", image="https://e.com/a.jpg", motion={"id": "m"}
        )
    )
    with pytest.raises(MalformedResponseError):
        p.parse_submit(prepared, answer({"status": "QUEUED"}, 202))


def error(status: int, title: str, message: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps({"error": title, "message": message}).encode(),
        headers={"content-type": "application/json"},
        request=httpx.Request("POST", "https://gateway.pixazo.ai/ai-model-api/v1/image-to-video"),
    )


@pytest.mark.parametrize(
    ("status", "title", "purpose", "cls"),
    [
        (400, "Model not found", Purpose.submit, ModelUnavailableError),
        (400, "Bad Request", Purpose.submit, ProviderRejectedError),
        (401, "Unauthorized", Purpose.submit, AuthenticationError),
        (402, "Insufficient Balance", Purpose.submit, InsufficientCreditsError),
        (403, "Forbidden", Purpose.submit, AuthenticationError),
        (404, "Not Found", Purpose.submit, ModelUnavailableError),
        (404, "Not Found", Purpose.read, JobNotFoundError),
        (429, "Too Many Requests", Purpose.submit, RateLimitError),
        (500, "Internal Server Error", Purpose.submit, ServerError),
        (500, "Internal Server Error", Purpose.read, ServerError),
    ],
)
def test_error_classes(status: int, title: str, purpose: Purpose, cls: type) -> None:
    found = provider().classify(error(status, title, "details here"), purpose)
    assert type(found) is cls
    assert isinstance(found, ProviderError)
    assert found.status_code == status
    assert found.code == title
    assert found.message == f"{title}: details here"
    assert found.provider == "pixazo"


def test_error_message_without_a_body() -> None:
    response = httpx.Response(503, request=httpx.Request("GET", "https://gateway.pixazo.ai/x"))
    found = provider().classify(response, Purpose.read)
    assert found is not None
    assert found.code is None
    assert found.message


def test_rate_limit_keeps_retry_after() -> None:
    response = error(429, "Too Many Requests", "slow down")
    response.headers["retry-after"] = "3"
    found = provider().classify(response, Purpose.read)
    assert isinstance(found, RateLimitError)
    assert found.retry_after == 3.0
