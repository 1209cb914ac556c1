"""Neutral motion names (``--motion dolly-in``): each provider sends its own id for the
preset, found in its catalogue endpoint (Higgsfield ``/v1/motions``, the relays'
``/higgsfield/tpl/motions``) or in its configuration; one with neither says why and the
router skips it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from videogw import Gateway, GenerationRequest
from videogw.emulator import FakeClock
from videogw.emulator.harness import Emulated, emulate
from videogw.errors import ConfigurationError, UnsupportedRequestError
from videogw.motions import CATALOGUE, neutral_name
from videogw.testing import registry_with

higgsfield = pytest.importorskip("videogw_higgsfield")
segmind = pytest.importorskip("videogw_segmind")
pixazo = pytest.importorskip("videogw_pixazo")
hfrelay = pytest.importorskip("videogw_hfrelay")

NAMES = ["higgsfield", "hfrelay", "pixazo", "segmind"]
REQUEST: dict[str, Any] = {
    "model": "dop-lite",
    "prompt": "the camera pushes in on a lighthouse",
    "image": "https://example.com/lighthouse.jpg",
    "motion": {"id": "dolly-in", "strength": 0.5},
}
HF_MOTIONS = pytest.importorskip("videogw_higgsfield.emulator").MOTIONS
RELAY_MOTIONS = pytest.importorskip("videogw_hfrelay.emulator").CATALOGS["motions"]
HF_DOLLY_IN = next(m["id"] for m in HF_MOTIONS if m["name"] == "Dolly In")


@pytest.fixture
def emulated() -> Iterator[Emulated]:
    registry = registry_with(
        higgsfield.HiggsfieldProvider,
        segmind.SegmindProvider,
        pixazo.PixazoProvider,
        hfrelay.HfRelayProvider,
    )
    with emulate(NAMES, registry=registry, clock=FakeClock()) as found:
        yield found


def gateway(emulated: Emulated, **pixazo_settings: Any) -> Gateway:
    providers = {**emulated.settings}
    providers["pixazo"] = {**providers["pixazo"], **pixazo_settings}
    config = emulated.config(routes={"dop-lite": {"candidates": NAMES}})
    config = config.model_copy(
        update={"providers": type(config).model_validate({"providers": providers}).providers}
    )
    return emulated.gateway(config=config)


def test_names_are_neutral_slugs() -> None:
    assert neutral_name("dolly-in") == neutral_name("Dolly In") == "dolly-in"
    assert neutral_name("d2389a9a-91c2-4276-bc9c-c9e35e8fb85a") is None
    assert CATALOGUE["dolly-in"] == "Dolly In"


def test_dolly_in_is_sent_as_each_providers_own_id(emulated: Emulated) -> None:
    with gateway(emulated) as gw:
        rows = {row.provider: row for row in gw.explain(REQUEST)}
        assert rows["higgsfield"].candidate
        assert rows["hfrelay"].candidate
        for name in ("pixazo", "segmind"):  # no motions catalogue, no configured id
            assert not rows[name].candidate
            assert "no motions catalogue to find 'dolly-in'" in (rows[name].reason or "")
            assert f'[providers.{name}] motions = {{"dolly-in"' in (rows[name].reason or "")
        native = gw.submit({**REQUEST, "model": "higgsfield:dop-lite"})
        relay = gw.submit({**REQUEST, "model": "hfrelay:dop-lite"})
        gw.submit({**REQUEST, "model": "higgsfield:dop-lite", "idempotency_key": "k-2"})
    sent = emulated.emulators["higgsfield"].jobs[native.provider_job_id].data["motions"]
    assert sent == [{"id": HF_DOLLY_IN, "strength": 0.5}]
    relay_ids = {m["name"]: m["id"] for m in hfrelay.emulator.CATALOGS["motions"]}
    assert relay_ids["Dolly In"] != HF_DOLLY_IN  # another id for the same preset
    assert (
        emulated.emulators["hfrelay"].jobs[relay.provider_job_id].data["motion_id"]
        == (relay_ids["Dolly In"])
    )
    assert emulated.emulators["higgsfield"].count("motions") == 1  # read once per process


def test_a_configured_id_makes_a_provider_without_a_catalogue_a_candidate(
    emulated: Emulated,
) -> None:
    with gateway(emulated, motions={"dolly-in": HF_DOLLY_IN}) as gw:
        assert {r.provider: r.candidate for r in gw.explain(REQUEST)}["pixazo"]
        job = gw.submit({**REQUEST, "model": "pixazo:dop-lite"})
    body = emulated.emulators["pixazo"].jobs[job.provider_job_id].data["request"]
    assert body["motions_id"] == HF_DOLLY_IN


def test_a_name_the_catalogue_lacks_and_a_wrong_config_key_say_so() -> None:
    with pytest.raises(ValueError, match="not a neutral motion name: dolly_inn"):
        pixazo.PixazoProvider.Settings(api_key="k", motions={"dolly_inn": "x"})
    provider = pixazo.PixazoProvider(pixazo.PixazoProvider.Settings(api_key="k"))
    with pytest.raises(UnsupportedRequestError) as caught:
        provider.prepare(GenerationRequest.model_validate(REQUEST))
    assert caught.value.field == "motion"
    assert not isinstance(caught.value, ConfigurationError)
