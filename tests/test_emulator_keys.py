"""Emulators check a configured expected key (``videogw emulate --api-key``), so the 401 path
can be tried: the right key works, any other is refused as the provider refuses it."""

from __future__ import annotations

import pytest

from toy import ToyProvider
from videogw.commands.serve import expected_keys
from videogw.emulator import FakeClock
from videogw.emulator.harness import emulate
from videogw.errors import AuthenticationError
from videogw.testing import registry_with

REQUEST = {"model": "dop-lite", "prompt": "a cat", "image": "https://example.com/cat.jpg"}


def test_api_key_option_one_for_all_or_one_per_provider() -> None:
    assert expected_keys(["k"], ["a", "b"]) == {"a": "k", "b": "k"}
    assert expected_keys(["a=x", "k"], ["a", "b"]) == {"a": "x", "b": "k"}
    assert expected_keys(["abc=="], ["a"]) == {"a": "abc=="}  # "=" inside a key is kept
    assert expected_keys([], ["a"]) == {}


def test_the_expected_key_works_and_another_gets_401() -> None:
    registry = registry_with(ToyProvider)
    with emulate(["toy"], registry=registry, clock=FakeClock(), api_key={"toy": "right"}) as emu:
        assert emu.settings["toy"]["api_key"] == "right"
        with emu.gateway() as gw:
            assert gw.submit(REQUEST).provider_job_id
        emu.settings["toy"]["api_key"] = "wrong"
        with emu.gateway() as gw, pytest.raises(AuthenticationError) as caught:
            gw.submit(REQUEST)
    assert caught.value.status_code == 401
