"""The Pixazo emulator's own rules: seed 003's parameter table, auth, errors, the wallet,
and the status progression on the job clock."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from videogw.emulator import Emulator, FakeClock, SyncEmulatorTransport
from videogw_pixazo import PixazoProvider

SUBMIT = "https://gateway.pixazo.ai/ai-model-api/v1/image-to-video"
KEY = {"Ocp-Apim-Subscription-Key": "k"}


def body(**changes: Any) -> dict[str, Any]:
    data = {
        "model": "dop-lite",
        "prompt": "a lake",
        "seed": 123456,
        "motions_id": "m-1",
        "motions_strength": 0.7,
        "input_images": ["https://example.com/lake.jpg"],
        "enhance_prompt": True,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def client(app: Emulator) -> httpx.Client:
    return httpx.Client(transport=SyncEmulatorTransport(app))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": "dop-ultra"}, "model must be one of"),
        ({"seed": 0}, "seed"),
        ({"seed": 1_000_001}, "seed"),
        ({"seed": None}, "seed is required"),
        ({"motions_id": None}, "motions_id is required"),
        ({"motions_strength": 1.5}, "motions_strength"),
        ({"input_images": ["https://a/1.jpg", "https://a/2.jpg"]}, "exactly 1"),
        ({"input_images_end": []}, "input_images_end"),
        ({"enhance_prompt": None}, "enhance_prompt"),
        ({"check_nsfw": "yes"}, "check_nsfw"),
        ({"motion_id": "m-1"}, "Unknown parameter: motion_id"),
    ],
)
def test_the_documented_parameter_rules(changes: dict[str, Any], message: str) -> None:
    app = PixazoProvider.emulator()
    with client(app) as c:
        answer = c.post(SUBMIT, json=body(**changes), headers=KEY)
    assert answer.status_code == 400
    assert answer.json()["error"] == "Bad Request"
    assert message in answer.json()["message"]
    assert not app.jobs


def test_wrong_key_and_unknown_request() -> None:
    app = PixazoProvider.emulator(api_key="right")
    with client(app) as c:
        wrong = c.post(SUBMIT, json=body(), headers={"Ocp-Apim-Subscription-Key": "nope"})
        missing = c.get("https://gateway.pixazo.ai/v2/requests/status/ai-model-api_x")
        unknown = c.get(
            "https://gateway.pixazo.ai/v2/requests/status/ai-model-api_x",
            headers={"Ocp-Apim-Subscription-Key": "right"},
        )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "Unauthorized")
    assert "invalid subscription key" in wrong.json()["message"]
    assert "missing subscription key" in missing.json()["message"]
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Not Found")


def test_the_wallet_pays_per_clip_then_answers_402() -> None:
    app = PixazoProvider.emulator(balance=0.7)
    with client(app) as c:
        first = c.post(SUBMIT, json=body(model="dop-preview"), headers=KEY)  # 0.573
        second = c.post(SUBMIT, json=body(model="dop-lite"), headers=KEY)  # 0.135 > 0.127
    assert first.status_code == 202
    assert second.status_code == 402
    assert second.json() == {
        "error": "Insufficient Balance",
        "message": "Your wallet does not have enough balance.",
    }


def test_status_progression_and_timestamps() -> None:
    clock = FakeClock()
    app = PixazoProvider.emulator(clock=clock)
    with client(app) as c:
        accepted = c.post(SUBMIT, json=body(), headers=KEY).json()
        seen = []
        for _ in range(4):
            seen.append(c.get(accepted["polling_url"], headers=KEY).json())
            clock.advance(1.0)
        media = c.get(seen[-1]["output"]["media_url"][0])
    assert [s["status"] for s in seen] == ["QUEUED", "PROCESSING", "PROCESSING", "COMPLETED"]
    assert seen[0]["completed_at"] is None
    assert seen[0]["output"] is None
    done = seen[-1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", done["created_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", done["updated_at"])
    assert done["output"]["media_type"] == "application/octet-stream"
    assert done["output"]["media_url"][0].endswith(f"/v1/{accepted['request_id']}/output.mp4")
    assert media.status_code == 200


def test_realistic_timing_follows_the_seeds_latency() -> None:
    app = PixazoProvider.emulator(timing="realistic")
    assert app.timing.queue_s + app.timing.run_s == pytest.approx(110)
    spec = PixazoProvider.CAPABILITIES.models["dop-lite"]
    assert spec.typical_seconds == pytest.approx(110)
