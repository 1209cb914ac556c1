"""hfrelay refuses what it cannot send before any HTTP call, with the field and what is
expected; and its configuration (host, relay, speech path) and estimates."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from videogw import Config, Gateway, GenerationRequest
from videogw.emulator.harness import Emulated, emulate
from videogw.errors import ConfigurationError, InvalidRequestError, UnsupportedRequestError
from videogw.testing import registry_with
from videogw_hfrelay import HfRelayProvider

IMAGE = "https://example.com/a.jpg"
DOP: dict[str, Any] = {
    "model": "dop-lite",
    "prompt": "a cat",
    "image": IMAGE,
    "motion": {"id": "m1"},
}
SPEECH_OPTIONS = {"avatar_preset_id": "a1", "width": 720, "height": 1280}
SPEECH: dict[str, Any] = {
    "model": "speak-v2",
    "prompt": "a presenter talks",
    "image": IMAGE,
    "audio": "https://example.com/v.mp3",
    "options": SPEECH_OPTIONS,
}
ADS: dict[str, Any] = {
    "model": "hf-ads",
    "image": IMAGE,
    "options": {"product_placement_sample_id": "s1"},
}


def provider(**settings: Any) -> HfRelayProvider:
    values = {"base_url": "https://relay.test", "api_key": "k", **settings}
    return HfRelayProvider(HfRelayProvider.Settings.model_validate(values))


def body(request: dict[str, Any], **settings: Any) -> Any:
    hf = provider(**settings)
    return json.loads(hf.build_submit(hf.prepare(GenerationRequest.model_validate(request))).read())


@pytest.fixture
def emulated() -> Iterator[Emulated]:
    with emulate(["hfrelay"], registry=registry_with(HfRelayProvider)) as found:
        yield found


def sent(emulated: Emulated) -> int:
    return sum(emulated.emulators["hfrelay"].counts.values())


# -- the four rejections of the issue, through the gateway -----------------------------
def test_missing_base_url_names_the_setting(emulated: Emulated) -> None:
    config = Config.model_validate({"providers": {"hfrelay": {"api_key": "k"}}})
    with (
        emulated.gateway(config=config) as gw,
        pytest.raises(ConfigurationError, match=r"base_url in \[providers\.hfrelay\]"),
    ):
        gw.submit({**DOP, "model": "hfrelay:dop-lite"})
    assert sent(emulated) == 0


def test_missing_base_url_is_raised_by_prepare_and_catalog() -> None:
    hf = HfRelayProvider(HfRelayProvider.Settings(api_key="k"))
    with pytest.raises(ConfigurationError, match="no default host"):
        hf.prepare(GenerationRequest.model_validate(DOP))
    with pytest.raises(ConfigurationError, match="base_url"):
        next(hf.catalog_flow("motions"))


def test_missing_motion_is_refused(emulated: Emulated) -> None:
    request = {key: value for key, value in DOP.items() if key != "motion"}
    with emulated.gateway() as gw, pytest.raises(UnsupportedRequestError) as caught:
        gw.submit({**request, "model": "hfrelay:dop-lite"})
    assert caught.value.field == "motion"
    assert "motion preset id is required" in str(caught.value)
    assert sent(emulated) == 0


def test_three_images_are_refused(emulated: Emulated) -> None:
    request = {
        **DOP,
        "end_image": "https://example.com/b.jpg",
        "options": {"images": ["https://example.com/c.jpg"]},
    }
    with emulated.gateway() as gw, pytest.raises(InvalidRequestError) as caught:
        gw.submit(request)
    assert caught.value.field == "options.images"
    message = str(caught.value)
    assert "at most 2 images (the start frame, then the end frame)" in message
    assert "gives 3: image, end_image, options.images[0]" in message
    assert sent(emulated) == 0


def test_speech_without_audio_or_tts_is_refused(emulated: Emulated) -> None:
    request = {key: value for key, value in SPEECH.items() if key != "audio"}
    with emulated.gateway() as gw, pytest.raises(InvalidRequestError) as caught:
        gw.submit(request)
    assert caught.value.field == "audio"
    assert "audio" in str(caught.value)
    assert "options.speech_text and options.voice_id" in str(caught.value)
    assert sent(emulated) == 0


# -- more refusals, at prepare() ------------------------------------------------------
REFUSED = {
    "speech image limit": (
        {**SPEECH, "options": {**SPEECH_OPTIONS, "images": [IMAGE]}},
        "options.images",
        "at most 1 image (the avatar photo)",
    ),
    "audio and tts": (
        {**SPEECH, "options": {**SPEECH_OPTIONS, "voice_id": "v"}},
        "options.voice_id",
        "not both",
    ),
    "tts without text": (
        {
            **{k: v for k, v in SPEECH.items() if k != "audio"},
            "options": {**SPEECH_OPTIONS, "voice_id": "v"},
        },
        "options.speech_text",
        "needs both",
    ),
    "speech without avatar": (
        {**SPEECH, "options": {"width": 720, "height": 1280}},
        "options.avatar_preset_id",
        "avatar-presets",
    ),
    "speech without size": (
        {**SPEECH, "options": {"avatar_preset_id": "a1"}},
        "options.width",
        "video size",
    ),
    "speech with local audio": (
        {**SPEECH, "audio": b"RIFF"},
        "audio",
        "only public https URLs",
    ),
    "ads without template": (
        {**ADS, "options": {}},
        "options.product_placement_sample_id",
        "ad template id",
    ),
    "ads with prompt": ({**ADS, "prompt": "shiny"}, "prompt", "takes no prompt"),
    "ads with local image": (
        {**ADS, "image": b"PNG", "options": {"product_placement_sample_id": "s1"}},
        "image",
        "only public https URLs",
    ),
    "aspect ratio": ({**DOP, "aspect_ratio": "16:9"}, "aspect_ratio", "options.width"),
    "duration": ({**DOP, "duration_s": 5}, "duration_s", "not settable"),
    "audio on dop": ({**DOP, "audio": "https://example.com/v.mp3"}, "audio", "no sound"),
    "prompt required": ({**DOP, "prompt": " "}, "prompt", "requires a prompt"),
    "explicit strength": (
        {**DOP, "motion": {"id": "m1", "strength": 0.9}},
        "motion.strength",
        "motion id only",
    ),
    "option for another endpoint": (
        {**DOP, "options": {"avatar_preset_id": "a1"}},
        "options.avatar_preset_id",
        "applies to /higgsfield/speech only",
    ),
    "width without height": ({**DOP, "options": {"width": 640}}, "options.height", "both"),
    "bad ads size": (
        {**ADS, "options": {"product_placement_sample_id": "s1", "size": "big"}},
        "options.size",
        "pattern",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_before_sending(case: str) -> None:
    request, field, words = REFUSED[case]
    with pytest.raises(InvalidRequestError) as caught:
        provider().prepare(GenerationRequest.model_validate(request))
    assert caught.value.field == field
    assert words in str(caught.value)


def test_default_strength_is_accepted() -> None:
    assert body({**DOP, "motion": {"id": "m1", "strength": 0.5}})["motion_id"] == "m1"


# -- request building -----------------------------------------------------------------
def test_local_file_is_inlined_as_base64(tmp_path: Path) -> None:
    frame = tmp_path / "end.png"
    frame.write_bytes(b"\x89PNG-end")
    sent_body = body({**DOP, "end_image": str(frame)})
    assert sent_body["image"] == [IMAGE, base64.b64encode(b"\x89PNG-end").decode()]
    as_uri = body({**DOP, "image": b"\xff\xd8jpeg", "options": {}}, inline_data_uri=True)
    assert as_uri["image"][0].startswith("data:application/octet-stream;base64,")


def test_options_images_fill_the_end_frame() -> None:
    sent_body = body({**DOP, "options": {"images": ["https://example.com/end.jpg"]}})
    assert sent_body["image"] == [IMAGE, "https://example.com/end.jpg"]


def test_speech_path_is_configurable() -> None:
    hf = provider(speech_path="/higgsfield/speak/")
    built = hf.build_submit(hf.prepare(GenerationRequest.model_validate(SPEECH)))
    assert str(built.url) == "https://relay.test/higgsfield/speak"
    with pytest.raises(ValueError, match="path"):
        HfRelayProvider.Settings(speech_path="higgsfield speak")


def test_known_relay_supplies_the_host_and_base_url_wins() -> None:
    assert provider(base_url=None, relay="OpenAI-HK").base_url == "https://api.openai-hk.com"
    assert provider(relay="openai-hk").base_url == "https://relay.test"
    with pytest.raises(ConfigurationError, match="relay 'yutoai' publishes no host"):
        _ = provider(base_url=None, relay="yutoai").base_url


def test_gptproto_model_names_carry_its_prefix() -> None:
    sent_body = body(DOP, base_url=None, relay="gptproto")
    assert sent_body["model"] == "higgsfield-lite"


def test_job_records_the_relay_and_endpoint() -> None:
    prepared = provider(relay="yutoai").prepare(GenerationRequest.model_validate(ADS))
    assert prepared.provider_data == {"endpoint": "/higgsfield/ads", "relay": "yutoai"}


def test_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFRELAY_API_KEY", "from-env")
    hf = HfRelayProvider(HfRelayProvider.Settings(base_url="https://relay.test"))
    built = hf.build_submit(hf.prepare(GenerationRequest.model_validate(DOP)))
    assert built.headers["authorization"] == "Bearer from-env"


# -- estimates ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("request_", "factor"),
    [
        (DOP, "1"),
        ({**DOP, "model": "dop-standard"}, "2"),
        ({**DOP, "model": "dop-turbo"}, "1.4"),
        (SPEECH, "10"),
        (ADS, "2.6"),
    ],
)
def test_estimate_in_relative_units(request_: dict[str, Any], factor: str) -> None:
    hf = provider()
    estimate = hf.estimate(hf.prepare(GenerationRequest.model_validate(request_)))
    assert (estimate.amount, estimate.currency) == (Decimal(factor), "units")
    assert "relative units only" in estimate.basis
    assert "yutoai" in estimate.source


def test_estimate_in_usd_from_base_price() -> None:
    hf = provider(base_price_usd="0.10")
    estimate = hf.estimate(hf.prepare(GenerationRequest.model_validate(SPEECH)))
    assert (estimate.amount, estimate.currency, estimate.origin) == (
        Decimal("1.00"),
        "USD",
        "config",
    )
    assert "0.10 x 10" in estimate.basis


def test_estimate_from_a_configured_price() -> None:
    hf = provider(base_price_usd="0.10", prices={"dop-turbo": "0.2"})
    estimate = hf.estimate(
        hf.prepare(GenerationRequest.model_validate({**DOP, "model": "dop-turbo"}))
    )
    assert (estimate.amount, estimate.currency) == (Decimal("0.2"), "USD")


def test_gateway_estimate_never_sends(emulated: Emulated) -> None:
    with emulated.gateway() as gw:
        (quote,) = gw.estimate(DOP)
    assert quote.estimate is not None
    assert quote.estimate.currency == "units"
    assert sent(emulated) == 0


def test_no_transport_is_touched_on_refusal() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected HTTP call: {request.method} {request.url}")

    config = Config.model_validate({"providers": {"hfrelay": {"api_key": "k"}}})
    with (
        Gateway(
            config,
            registry=registry_with(HfRelayProvider),
            transports={"hfrelay": httpx.MockTransport(refuse)},
        ) as gw,
        pytest.raises(ConfigurationError),
    ):
        gw.catalog("hfrelay", "motions")


def test_openai_hk_offers_only_image_to_video() -> None:
    """OpenAI-HK's docs: "仅支持 图生视频" (image-to-video only). Offering speak-v2 or ads
    there routed jobs to a relay that fails them at submit; the router now skips it."""
    ohk = HfRelayProvider(HfRelayProvider.Settings(relay="openai-hk", api_key="k"), instance="ohk")
    yuto = HfRelayProvider(
        HfRelayProvider.Settings(relay="yutoai", base_url="https://relay.test", api_key="k"),
        instance="yuto",
    )
    assert set(ohk.capabilities.models) == {"dop-lite", "dop-standard", "dop-turbo"}
    assert set(yuto.capabilities.models) == set(HfRelayProvider.CAPABILITIES.models)
    for refused in (SPEECH, ADS):
        with pytest.raises(UnsupportedRequestError) as caught:
            ohk.prepare(GenerationRequest.model_validate(refused))
        assert caught.value.field == "model"
    built = ohk.build_submit(ohk.prepare(GenerationRequest.model_validate(DOP)))
    assert str(built.url) == "https://api.openai-hk.com/higgsfield/generate"
    with Gateway(providers=[ohk, yuto], registry=registry_with(HfRelayProvider)) as gw:
        rows = {row.provider: row for row in gw.explain(GenerationRequest.model_validate(SPEECH))}
    assert not rows["ohk"].candidate
    assert "does not serve 'speak-v2'" in (rows["ohk"].reason or "")
    assert rows["yuto"].candidate
