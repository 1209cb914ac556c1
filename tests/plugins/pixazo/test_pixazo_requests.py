"""Mapping a neutral request to Pixazo's submit, and the requests Pixazo cannot take:
each is refused before anything is sent, naming the field (seed 003's parameter table,
reference/providers.md §3.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from videogw import Gateway, GenerationRequest
from videogw.emulator.harness import emulate
from videogw.errors import (
    InvalidRequestError,
    MissingCredentialsError,
    NoCandidateError,
    UnsupportedRequestError,
)
from videogw.testing import registry_with
from videogw_pixazo import PixazoProvider

MOTION = {"id": "[MOTION_ID]", "strength": 0.7}
BASE: dict[str, Any] = {
    "model": "dop-lite",
    "prompt": "a lake",
    "image": "https://example.com/lake.jpg",
    "motion": MOTION,
}


def provider(**settings: Any) -> PixazoProvider:
    return PixazoProvider(PixazoProvider.Settings(api_key="k", **settings))


def request(**changes: Any) -> GenerationRequest:
    data = {**BASE, **changes}
    return GenerationRequest.model_validate({k: v for k, v in data.items() if v is not None})


def body(p: PixazoProvider, r: GenerationRequest) -> dict[str, Any]:
    sent: dict[str, Any] = json.loads(p.build_submit(p.prepare(r)).read())
    return sent


# -- motion ------------------------------------------------------------------------------
def test_no_motion_and_no_default_is_not_a_candidate() -> None:
    with pytest.raises(UnsupportedRequestError) as caught:
        provider().prepare(request(motion=None))
    assert caught.value.field == "motion"
    assert "default_motion_id" in str(caught.value)
    assert "[providers.pixazo]" in str(caught.value)


def test_router_explains_why_pixazo_was_skipped() -> None:
    with (
        Gateway(providers=[provider()], registry=registry_with(PixazoProvider)) as gw,
        pytest.raises(NoCandidateError) as caught,
    ):
        gw.submit(request(motion=None))
    assert "default_motion_id" in caught.value.reasons["pixazo"]


def test_configured_default_motion_is_used() -> None:
    sent = body(provider(default_motion_id="m-1"), request(motion=None))
    assert (sent["motions_id"], sent["motions_strength"]) == ("m-1", 0.5)
    sent = body(
        provider(default_motion_id="m-1", default_motion_strength=0.25), request(motion=None)
    )
    assert sent["motions_strength"] == 0.25
    assert body(provider(default_motion_id="m-1"), request())["motions_id"] == "[MOTION_ID]"


# -- seed --------------------------------------------------------------------------------
def test_a_missing_seed_is_minted_recorded_and_sent() -> None:
    p = provider()
    prepared = p.prepare(request())
    seed = prepared.provider_data["seed"]
    assert isinstance(seed, int)
    assert 1 <= seed <= 1_000_000
    assert json.loads(p.build_submit(prepared).read())["seed"] == seed


def test_a_given_seed_is_sent_as_is() -> None:
    p = provider()
    prepared = p.prepare(request(seed=42))
    assert prepared.provider_data["seed"] == 42
    assert body(p, request(seed=42))["seed"] == 42


def test_the_minted_seed_lands_on_the_job() -> None:
    registry = registry_with(PixazoProvider)
    emulated = emulate(["pixazo"], registry=registry)
    with emulated.gateway(sync=True) as gw:
        job = gw.submit(request())
    sent = emulated.emulators["pixazo"].jobs[job.provider_job_id].data["request"]
    assert job.provider_data["seed"] == sent["seed"]


# -- inputs ------------------------------------------------------------------------------
def test_local_image_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "lake.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    with pytest.raises(UnsupportedRequestError) as caught:
        provider().prepare(request(image=str(image)))
    assert caught.value.field == "image"


def test_pinned_request_with_a_local_file_says_why(tmp_path: Path) -> None:
    image = tmp_path / "lake.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    with (
        Gateway(providers=[provider()], registry=registry_with(PixazoProvider)) as gw,
        pytest.raises(UnsupportedRequestError) as caught,
    ):
        gw.submit(request(model="pixazo:dop-lite", image=image.read_bytes()))
    assert str(caught.value) == (
        "pixazo: image: this provider accepts only public https URLs, not local files or bytes"
    )


def test_local_end_frame_is_refused(tmp_path: Path) -> None:
    end = tmp_path / "end.png"
    end.write_bytes(b"\x89PNG")
    with pytest.raises(UnsupportedRequestError) as caught:
        provider().prepare(request(end_image=str(end)))
    assert caught.value.field == "end_image"


def test_end_frame_is_sent_as_input_images_end() -> None:
    sent = body(provider(), request(end_image="https://example.com/end.jpg"))
    assert sent["input_images"] == ["https://example.com/lake.jpg"]
    assert sent["input_images_end"] == ["https://example.com/end.jpg"]


@pytest.mark.parametrize("seconds", [3, 10])
def test_only_five_second_clips(seconds: int) -> None:
    with pytest.raises(UnsupportedRequestError) as caught:
        provider().prepare(request(duration_s=seconds))
    assert caught.value.field == "duration_s"
    assert provider().prepare(request(duration_s=5)).duration == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [("aspect_ratio", "9:16"), ("resolution", "720p"), ("quality", "high")],
)
def test_settings_pixazo_has_no_parameter_for_are_refused(field: str, value: str) -> None:
    with pytest.raises(UnsupportedRequestError) as caught:
        provider().prepare(request(**{field: value}))
    assert caught.value.field == field


# -- model names and flags ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "sent"),
    [
        ("dop-lite", "dop-lite"),
        ("dop-turbo", "dop-turbo"),
        ("dop-standard", "dop-preview"),
        ("pixazo:dop-preview", "dop-preview"),
    ],
)
def test_model_names(model: str, sent: str) -> None:
    assert body(provider(), request(model=model))["model"] == sent


def test_enhance_prompt_defaults_to_true_and_check_nsfw_is_optional() -> None:
    sent = body(provider(), request())
    assert sent["enhance_prompt"] is True
    assert "check_nsfw" not in sent
    sent = body(provider(), request(enhance_prompt=False, options={"check_nsfw": False}))
    assert sent["enhance_prompt"] is False
    assert sent["check_nsfw"] is False


def test_headers_and_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXAZO_API_KEY", "from-env")
    p = PixazoProvider()
    built = p.build_submit(p.prepare(request()))
    assert built.headers["ocp-apim-subscription-key"] == "from-env"
    assert built.headers["cache-control"] == "no-cache"
    assert built.headers["content-type"] == "application/json"
    assert "x-webhook-url" not in built.headers
    monkeypatch.delenv("PIXAZO_API_KEY")
    with pytest.raises(MissingCredentialsError, match="PIXAZO_API_KEY"):
        PixazoProvider().prepare(request())


def test_unknown_option_names_the_option() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        provider().prepare(request(options={"webhook_mode": "sometimes"}))
    assert caught.value.field == "options.webhook_mode"
