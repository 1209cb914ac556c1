"""hfrelay against its cassettes: the adapter builds each documented request and parses
each documented answer (replayed through vcrpy, sync and async), and the emulator answers
the same requests with the same shapes. Every cassette names its source in its first
lines; the relay host of generate, feed and motions is OpenAI-HK's (``relay = "openai-hk"``);
speech and ads, which OpenAI-HK does not serve, are on a YutoAI account's host (YutoAI's
docs show relative paths only, so the host is a placeholder).

Re-record against a live relay (real keys, real money): set HFRELAY_API_KEY, point
``relay``/``base_url`` at the relay and replace the answers; keep Authorization REDACTED.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from videogw import Gateway, GenerationRequest, JobStatus
from videogw.cassettes import (
    Interaction,
    assert_request_matches,
    assert_same_shape,
    emulator_answer,
    load,
    replay,
    to_httpx_response,
)
from videogw.emulator import FakeClock
from videogw.gateway import AsyncGateway
from videogw.testing import registry_with
from videogw_hfrelay import HfRelayProvider

CASSETTES = Path(__file__).parents[3] / "cassettes" / "hfrelay"
TASK_ID = "aca6c73e-aa4c-47bb-aa62-a100a0f7dd22"
AUTH = {"authorization": "Bearer k"}

GENERATE = GenerationRequest(
    model="dop-standard",
    prompt="正在吃饭",
    image="https://media.pixverse.ai/asset/media/fusion4_1.jpg",
    end_image="https://media.pixverse.ai/asset/media/fusion4_2.png",
    motion={"id": "cd5bfd11-5a1a-46e0-9294-b22b0b733b1e"},
    seed=374487,
    enhance_prompt=True,
    options={"width": 736, "height": 1312},
)
SPEECH_OPTIONS = {
    "avatar_preset_id": "0b6e4c1a-2f43-5d8e-9a71-3c5b8e2d4f60",
    "width": 720,
    "height": 1280,
}
SPEECH: dict[str, Any] = {"model": "speak-v2", "options": SPEECH_OPTIONS}
REQUESTS = {
    "generate.yaml": GENERATE,
    "speech_audio.yaml": GenerationRequest.model_validate(
        SPEECH
        | {
            "prompt": "A presenter explains the weekly numbers with calm gestures",
            "image": "https://example.com/presenter.jpg",
            "audio": "https://example.com/voiceover.mp3",
        }
    ),
    "speech_tts.yaml": GenerationRequest.model_validate(
        SPEECH
        | {
            "prompt": "A friendly support agent greets the customer",
            "image": "https://example.com/agent.jpg",
            "options": SPEECH_OPTIONS
            | {
                "voice_id": "7d1f0c52-8e4b-5a3d-b6c9-2e0a4f1d9b37",
                "speech_text": "Hello! Thanks for calling, how can I help you today?",
                "sound_id": "3a9e5b70-1c2d-5f84-a6e3-9d0b7c4e2f15",
            },
        }
    ),
    "ads.yaml": GenerationRequest(
        model="hf-ads",
        image="https://example.com/sneaker.png",
        options={
            "product_placement_sample_id": "5f0c7a2e-9b14-4d36-8e5a-1c7b3d9f2a48",
            "size": "1024x1024",
        },
    ),
}
# cassette -> (neutral status, seconds after submit on the "fast" emulator timing)
FEEDS = {
    "feed_queued.yaml": (JobStatus.queued, 0.0),
    "feed_in_progress.yaml": (JobStatus.running, 1.0),
    "feed_completed.yaml": (JobStatus.succeeded, 10.0),
}


YUTOAI = "https://yutoai.relay.test"  # placeholder: YutoAI publishes no host


def provider(cassette: str = "generate.yaml") -> HfRelayProvider:
    if cassette.startswith(("speech", "ads")):
        settings = HfRelayProvider.Settings(relay="yutoai", base_url=YUTOAI, api_key="k")
    else:
        settings = HfRelayProvider.Settings(relay="openai-hk", api_key="k")
    return HfRelayProvider(settings)


def gateway(cassette: str = "generate.yaml") -> Gateway:
    return Gateway(providers=[provider(cassette)], registry=registry_with(HfRelayProvider))


def only(name: str) -> Interaction:
    (interaction,) = load(CASSETTES / name)
    return interaction


def test_every_cassette_names_its_source() -> None:
    for path in CASSETTES.glob("*.yaml"):
        assert path.read_text(encoding="utf-8").startswith("# Source: "), path.name


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_adapter_builds_the_documented_submit(name: str) -> None:
    hf = provider(name)
    assert_request_matches(hf.build_submit(hf.prepare(REQUESTS[name])), only(name))
    accepted = hf.parse_submit(hf.prepare(REQUESTS[name]), to_httpx_response(only(name)))
    assert accepted.provider_job_id == TASK_ID


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_submit_replays_through_vcrpy(name: str) -> None:
    with replay(CASSETTES / name) as cassette, gateway(name) as gw:
        job = gw.submit(REQUESTS[name])
    assert job.provider_job_id == TASK_ID
    assert job.status is JobStatus.queued
    assert cassette.play_count == 1


@pytest.mark.parametrize("name", sorted(FEEDS))
def test_feed_replays_through_vcrpy(name: str) -> None:
    with replay(CASSETTES / "generate.yaml"), gateway() as gw:
        job = gw.submit(GENERATE)
    with replay(CASSETTES / name), gateway() as gw:
        job = gw.status(job)
    expected, _ = FEEDS[name]
    assert job.status is expected
    assert job.raw_status == only(name).response_json()["jobs"][0]["status"]
    assert job.provider_data["feed"]["project_id"] == "41ff94b3-91b5-424a-a455-0ecef47c9b77"
    if expected is JobStatus.succeeded:
        assert [o.url for o in job.outputs] == [
            "https://d2ol7oe51mr4n9.cloudfront.net/anon_user_id/"
            "9b2d7c1e-4f0a-4c55-8a7e-3c1d2b6f0e91.mp4"
        ]
        assert job.charged is True
    else:
        assert job.outputs == ()


async def test_generate_and_completed_feed_replay_async() -> None:
    registry = registry_with(HfRelayProvider)
    with replay(CASSETTES / "generate.yaml"):
        async with AsyncGateway(providers=[provider()], registry=registry) as gw:
            job = await gw.submit(GENERATE)
    with replay(CASSETTES / "feed_completed.yaml"):
        async with AsyncGateway(providers=[provider()], registry=registry) as gw:
            job = await gw.status(job)
    assert job.status is JobStatus.succeeded
    assert job.outputs[0].media_type == "video/mp4"


def test_motion_catalog_replays_through_vcrpy() -> None:
    with replay(CASSETTES / "tpl_motions.yaml"), gateway() as gw:
        motions = gw.catalog("hfrelay", "motions")
    assert motions == only("tpl_motions.yaml").response_json()


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_emulator_accepts_the_documented_submit(name: str) -> None:
    documented = only(name)
    answer = emulator_answer(HfRelayProvider.emulator(), documented, headers=AUTH)
    assert answer.status_code == documented.status, answer.text
    assert_same_shape(answer.json(), documented.response_json())


@pytest.mark.parametrize("name", sorted(FEEDS))
def test_emulator_feed_has_the_documented_shape(name: str) -> None:
    clock = FakeClock()
    app = HfRelayProvider.emulator(clock=clock)
    task_id = emulator_answer(app, only("generate.yaml"), headers=AUTH).json()["id"]
    _, elapsed = FEEDS[name]
    clock.advance(elapsed)
    documented = only(name)
    asked = dataclasses.replace(
        documented,
        uri=documented.uri.replace(TASK_ID, task_id),
        request_body=documented.request_body.replace(TASK_ID.encode(), task_id.encode()),
    )
    answer = emulator_answer(app, asked, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert_same_shape(answer.json(), documented.response_json())
    wanted = documented.response_json()["jobs"][0]["status"]
    assert answer.json()["jobs"][0]["status"] == wanted


def test_emulator_motion_list_has_the_documented_shape() -> None:
    documented = only("tpl_motions.yaml")
    answer = emulator_answer(HfRelayProvider.emulator(), documented, headers=AUTH)
    assert answer.status_code == 200
    assert_same_shape(answer.json(), documented.response_json())
    assert answer.json()[0] == documented.response_json()[0]
