"""The official SDK (``higgsfield-client`` 0.2.0, a dev dependency) against the emulator on a
real loopback port: it submits a DoP job, polls it to ``completed``, cancels a queued job,
and the emulator's signed webhook reaches a loopback receiver and verifies.

The SDK takes its base URL only as a constructor argument (``SyncClient(base_url=...)``) and
its credentials from ``HF_KEY`` (or ``HF_API_KEY`` + ``HF_API_SECRET``); it follows the
``status_url``/``cancel_url`` of the submit answer, which the emulator builds from its own
address. This is the only place wall time is spent (about two seconds: the SDK polls every
0.5 s and the emulated job takes one).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import higgsfield_client  # a dev dependency: a missing SDK must fail, not skip
import pytest

from videogw import JobStatus
from videogw.emulator import LoopbackServer, Timing
from videogw_higgsfield import HiggsfieldProvider, HiggsfieldSettings
from videogw_higgsfield.emulator import HiggsfieldEmulator


class Receiver:
    """A loopback webhook endpoint that keeps what it gets."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.received.append((headers, body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def emulator() -> Iterator[tuple[HiggsfieldEmulator, str]]:
    app = HiggsfieldEmulator(timing=Timing(queue_s=0.3, run_s=0.7))
    with LoopbackServer(app) as server:
        yield app, server.base_url


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    with LoopbackServer(app) as server:
        yield app, f"{server.base_url}/hooks/higgsfield"


@pytest.fixture
def client(emulator: tuple[HiggsfieldEmulator, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HF_KEY", "sdk-key-id:sdk-key-secret")
    return higgsfield_client.SyncClient(base_url=emulator[1], timeout=10)


ARGUMENTS = {
    "prompt": "a cat walks",
    "image_url": "https://example.com/cat.jpg",
    "motions": [{"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.6}],
}


def test_sdk_submits_polls_to_completed_and_gets_the_video(
    client: Any, emulator: tuple[HiggsfieldEmulator, str]
) -> None:
    app, base_url = emulator
    controller = client.submit("higgsfield-ai/dop/lite", ARGUMENTS)
    assert controller.status_url == f"{base_url}/requests/{controller.request_id}/status"
    seen = [type(status).__name__ for status in controller.poll_request_status(delay=0.2)]
    assert seen[-1] == "Completed"
    result = controller.get()
    assert result["status"] == "completed"
    assert result["video"]["url"].startswith(base_url)
    assert app.count("submit") == 1
    assert list(app.jobs) == [controller.request_id]


def test_sdk_cancels_a_queued_job(client: Any, emulator: tuple[HiggsfieldEmulator, str]) -> None:
    app, _ = emulator
    controller = client.submit(
        "higgsfield-ai/dop/turbo", {**ARGUMENTS, "prompt": "emulate:queue=60"}
    )
    assert isinstance(controller.status(), higgsfield_client.Queued)
    controller.cancel()
    assert isinstance(controller.status(), higgsfield_client.Cancelled)
    assert app.count("cancel") == 1


def test_sdk_sees_the_emulators_401(emulator: tuple[HiggsfieldEmulator, str]) -> None:
    app, base_url = emulator
    app.api_key = "the-right:key"
    wrong = higgsfield_client.SyncClient(base_url=base_url, api_key="wrong:key")
    with pytest.raises(higgsfield_client.HiggsfieldClientError, match="Invalid credentials"):
        wrong.submit("higgsfield-ai/dop/lite", ARGUMENTS)


def test_signed_webhook_reaches_a_loopback_receiver(
    client: Any, receiver: tuple[Receiver, str]
) -> None:
    inbox, url = receiver
    controller = client.submit("higgsfield-ai/dop/lite", ARGUMENTS, webhook_url=url)
    deadline = time.monotonic() + 5
    while not inbox.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert inbox.received, "no webhook arrived"
    headers, body = inbox.received[0]
    provider = HiggsfieldProvider(
        HiggsfieldSettings(**HiggsfieldProvider.emulator_settings("http://unused"))
    )
    update = provider.parse_webhook(headers, body)
    assert update.provider_job_id == controller.request_id
    assert update.status is JobStatus.succeeded
    assert update.dedupe_key == headers["webhook-id"]


def test_sdk_readme_model_path_runs_on_the_emulator_as_videogw_sends_it(
    client: Any, emulator: tuple[HiggsfieldEmulator, str]
) -> None:
    """The SDK README's own example (seedream v4 text-to-image) and the same model called
    through videogw as ``higgsfield:<model path>`` reach the emulator with the same body."""
    from videogw import Gateway, GenerationRequest
    from videogw.testing import registry_with

    app, base_url = emulator
    arguments = {
        "prompt": "A serene lake at sunset with mountains",
        "resolution": "2K",
        "aspect_ratio": "16:9",
        "camera_fixed": False,
    }
    controller = client.submit("bytedance/seedream/v4/text-to-image", arguments)
    for _ in controller.poll_request_status(delay=0.2):
        pass
    assert controller.get()["images"][0]["url"].startswith(base_url)
    settings = HiggsfieldSettings(**HiggsfieldProvider.emulator_settings(base_url))
    with Gateway(
        providers=[HiggsfieldProvider(settings)], registry=registry_with(HiggsfieldProvider)
    ) as gw:
        job = gw.submit(
            GenerationRequest(
                model="higgsfield:bytedance/seedream/v4/text-to-image",
                prompt=arguments["prompt"],
                aspect_ratio="16:9",
                options={"higgsfield": {"arguments": {"resolution": "2K", "camera_fixed": False}}},
            )
        )
        done = gw.wait(job, timeout=10)
    assert done.status is JobStatus.succeeded
    assert done.outputs[0].media_type == "image/png"
    assert app.count("submit") == 2
