"""The cassette machinery, exercised on the toy provider: build, replay (sync and async
through vcrpy), and the emulator answering the same requests with the same shapes.
Source of the cassette: tests/toy.py's docstring."""

from __future__ import annotations

from pathlib import Path

import pytest

from toy import ToyProvider
from videogw import Gateway, GenerationRequest, JobStatus
from videogw.cassettes import (
    assert_request_matches,
    assert_same_shape,
    emulator_answer,
    load,
    replay,
)
from videogw.gateway import AsyncGateway
from videogw.testing import registry_with

CASSETTE = Path(__file__).parent.parent / "cassettes" / "toy" / "submit_and_status.yaml"
REQUEST = GenerationRequest(
    model="dop-lite", prompt="a cat", image="https://example.com/cat.jpg", seed=7
)


def provider() -> ToyProvider:
    return ToyProvider(ToyProvider.Settings(api_key="k"))


def test_adapter_builds_the_documented_request() -> None:
    submit, _ = load(CASSETTE)
    built = provider().build_submit(provider().prepare(REQUEST))
    assert_request_matches(built, submit)


def test_replay_through_vcrpy_sync() -> None:
    with (
        replay(CASSETTE) as cassette,
        Gateway(providers=[provider()], registry=registry_with(ToyProvider)) as gw,
    ):
        job = gw.submit(REQUEST)
        job = gw.status(job)
    assert job.status is JobStatus.succeeded
    assert job.outputs[0].url == "https://cdn.toy.test/job-1.mp4"
    assert cassette.play_count == 2


async def test_replay_through_vcrpy_async() -> None:
    with replay(CASSETTE):
        async with AsyncGateway(providers=[provider()], registry=registry_with(ToyProvider)) as gw:
            job = await gw.submit(REQUEST)
            job = await gw.status(job)
    assert job.status is JobStatus.succeeded


def test_emulator_answers_with_the_documented_shapes() -> None:
    submit, status = load(CASSETTE)
    app = ToyProvider.emulator(timing="fast")
    answer = emulator_answer(app, submit, headers={"authorization": "Bearer k"})
    assert answer.status_code == submit.status
    assert_same_shape(answer.json(), submit.response_json())
    job_id = answer.json()["id"]
    app.jobs[job_id].created -= 60  # let the emulated job finish
    status_uri = status.uri.replace("job-1", job_id)
    done = emulator_answer(
        app,
        type(status)(**{**status.__dict__, "uri": status_uri}),
        headers={"authorization": "Bearer k"},
    )
    assert_same_shape(done.json(), status.response_json())


def test_unrecorded_request_fails_instead_of_reaching_the_network() -> None:
    with (
        replay(CASSETTE),
        Gateway(providers=[provider()], registry=registry_with(ToyProvider)) as gw,
        pytest.raises(Exception, match=r"(?i)cassette|can't|cannot"),
    ):
        gw.submit(REQUEST.model_copy(update={"model": "toy-image", "image": None}))
