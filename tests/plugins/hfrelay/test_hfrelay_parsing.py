"""hfrelay reads what the docs leave open defensively: undocumented job statuses, result
objects without the expected URL, other answer wrappings, and one-api-style errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from videogw import GenerationRequest, Job, JobStatus, Task
from videogw.errors import (
    AuthenticationError,
    InsufficientCreditsError,
    JobNotFoundError,
    MalformedResponseError,
    ProviderRejectedError,
)
from videogw.provider import Purpose
from videogw_hfrelay import HfRelayProvider

HF = HfRelayProvider(HfRelayProvider.Settings(base_url="https://relay.test", api_key="k"))
JOB = Job(model="dop-lite", task=Task.image_to_video, idempotency_key="k1", provider_job_id="t1")
RAW = {"type": "video", "url": "https://cdn.test/v.mp4"}


def answer(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=data, request=httpx.Request("POST", "https://relay.test"))


def feed(*jobs: dict[str, Any]) -> Any:
    return HF.parse_status(JOB, answer({"id": "t1", "jobs": list(jobs)}))


@pytest.mark.parametrize(
    ("raw", "status", "kind"),
    [
        ("queued", JobStatus.queued, None),
        ("in_progress", JobStatus.running, None),
        ("failed", JobStatus.failed, "generation_failed"),
        ("nsfw", JobStatus.content_filtered, "content_filtered"),
        ("canceled", JobStatus.cancelled, None),
        ("rendering_v2", JobStatus.unknown, None),
    ],
)
def test_job_statuses(raw: str, status: JobStatus, kind: str | None) -> None:
    update = feed({"id": "j1", "status": raw, "result": None})
    assert (update.status, update.raw_status) == (status, raw)
    assert (update.error.kind if update.error else None) == kind
    assert update.charged is None
    assert update.outputs is None


def test_the_build_status_call() -> None:
    built = HF.build_status(JOB)
    assert (built.method, str(built.url)) == ("POST", "https://relay.test/higgsfield/feed/t1")
    assert built.read() == b'{"task_id":"t1"}'


@pytest.mark.parametrize(
    ("result", "url"),
    [
        ({"raw": RAW, "min": {"type": "video", "url": "https://cdn.test/min.mp4"}}, RAW["url"]),
        ({"min": RAW}, RAW["url"]),
        ({"url": RAW["url"]}, RAW["url"]),
        ({"video": {"url": RAW["url"]}}, RAW["url"]),
        ({"video_url": RAW["url"]}, RAW["url"]),
        (RAW["url"], RAW["url"]),
    ],
)
def test_output_url_is_found(result: Any, url: str) -> None:
    update = feed({"id": "j1", "status": "completed", "result": result})
    assert update.status is JobStatus.succeeded
    assert update.outputs is not None
    assert update.outputs[0].url == url
    assert update.outputs[0].media_type == "video/mp4"
    assert update.charged is True
    assert update.provider_data["feed"]["jobs"][0]["result"] == result


def test_upstream_results_key_is_read_too() -> None:
    update = feed({"id": "j1", "status": "completed", "results": {"raw": RAW}})
    assert update.outputs is not None
    assert update.outputs[0].url == RAW["url"]


def test_completed_without_a_url_is_not_success() -> None:
    update = feed({"id": "j1", "status": "completed", "result": {}})
    assert update.status is JobStatus.unknown
    assert update.raw_status == "completed"


def test_job_set_with_several_jobs() -> None:
    done = {"id": "j1", "status": "completed", "result": {"raw": RAW}}
    assert feed(done, {"id": "j2", "status": "in_progress"}).status is JobStatus.running
    assert feed(done, {"id": "j2", "status": "queued"}).status is JobStatus.running
    assert feed(done, {"id": "j2", "status": "nsfw"}).status is JobStatus.content_filtered
    both = feed(done, {**done, "id": "j2"})
    assert both.status is JobStatus.succeeded
    assert both.outputs is not None
    assert len(both.outputs) == 2
    assert both.raw_status == "completed,completed"


def test_empty_job_set_is_queued_and_other_shapes_are_unknown() -> None:
    assert feed().status is JobStatus.queued
    flat = HF.parse_status(JOB, answer({"id": "t1", "status": "in_progress"}))
    assert flat.status is JobStatus.running
    assert HF.parse_status(JOB, answer({"id": "t1"})).status is JobStatus.unknown
    with pytest.raises(MalformedResponseError):
        HF.parse_status(JOB, answer(["not", "an", "object"]))


def test_trimmed_payload_drops_the_echoed_params() -> None:
    data = {"id": "t1", "type": "image2video", "params": {"prompt": "p"}, "jobs": []}
    kept = HF.parse_status(JOB, answer(data)).provider_data["feed"]
    assert kept == {"id": "t1", "type": "image2video", "jobs": []}


# -- submit answers and errors ----------------------------------------------------------
PREPARED = HF.prepare(
    GenerationRequest(
        model="dop-lite", prompt="p", image="https://example.com/a.jpg", motion={"id": "m"}
    )
)


def test_submit_answer_without_id() -> None:
    with pytest.raises(MalformedResponseError, match="no task id"):
        HF.parse_submit(PREPARED, answer({"ok": True}))
    with pytest.raises(ProviderRejectedError, match="motion not found"):
        HF.parse_submit(PREPARED, answer({"error": {"message": "motion not found"}}))


@pytest.mark.parametrize(
    ("status", "data", "purpose", "expected"),
    [
        (401, {"error": {"message": "invalid token"}}, Purpose.submit, AuthenticationError),
        (
            403,
            {"error": {"message": "user quota is not enough", "code": "insufficient_user_quota"}},
            Purpose.submit,
            InsufficientCreditsError,
        ),
        (403, {"error": {"message": "用户额度不足"}}, Purpose.submit, InsufficientCreditsError),
        (403, {"error": {"message": "forbidden"}}, Purpose.submit, AuthenticationError),
        (404, {"error": {"message": "task not found"}}, Purpose.read, JobNotFoundError),
        (400, {"error": {"message": "image is required"}}, Purpose.submit, ProviderRejectedError),
    ],
)
def test_errors_are_classified(
    status: int, data: Any, purpose: Purpose, expected: type[Exception]
) -> None:
    found = HF.classify(answer(data, status), purpose)
    assert type(found) is expected
    assert str(data["error"]["message"]) in str(found)


def test_catalog_answers_wrapped_or_bare() -> None:
    items = [{"id": "m1", "name": "Dolly In"}, "junk"]
    for data in (items, {"data": items}):
        flow = HF.catalog_flow("motions", size=5, search="dolly")
        call = next(flow)
        assert (
            str(call.request.url) == "https://relay.test/higgsfield/tpl/motions?size=5&search=dolly"
        )
        assert call.purpose is Purpose.read
        with pytest.raises(StopIteration) as done:
            flow.send(answer(data))
        assert done.value.value == [{"id": "m1", "name": "Dolly In"}]
    flow = HF.catalog_flow("voices")
    assert str(next(flow).request.url) == "https://relay.test/higgsfield/tpl/voices"
    with pytest.raises(MalformedResponseError):
        flow.send(answer({"unexpected": 1}))
