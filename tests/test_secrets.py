"""API keys never leak: not in reprs, strings, exceptions, logs, Jobs, the store or
cassettes."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from toy import ToyProvider
from videogw import Gateway
from videogw.cassettes import REDACTED, SECRET_HEADERS, load
from videogw.config import parse_config
from videogw.emulator import FakeClock, SyncEmulatorTransport
from videogw.errors import AuthenticationError, ConfigurationError
from videogw.testing import registry_with

FAKE_KEY = "sk-live-FAKE-9f8e7d6c5b4a39281706"
CASSETTES = Path(__file__).parent.parent / "cassettes"
KEY_SHAPES = [
    re.compile(r"SG_[0-9a-f]{16}"),
    re.compile(r"sk-[A-Za-z0-9-]{16,}"),
    re.compile(r"whsec_[A-Za-z0-9+/=]{16,}"),
    re.compile(r"(?i)\b(?:Key|Bearer)\s+(?!REDACTED)[A-Za-z0-9._:-]{8,}"),
]


def test_a_key_from_the_environment_never_leaks(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TOY_API_KEY", FAKE_KEY)
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    app = ToyProvider.emulator(clock=clock)
    config = parse_config(
        '[providers.toy]\napi_key_env = "TOY_API_KEY"\n[ledger]\nbackend = "memory"\n'
    )
    registry = registry_with(ToyProvider)
    seen: list[str] = []
    with Gateway(
        config, registry=registry, clock=clock, transports={"toy": SyncEmulatorTransport(app)}
    ) as gateway:
        job = gateway.run(model="dop-lite", prompt="p", image="https://example.com/a.jpg")
        provider = gateway.provider("toy")
        seen += [
            repr(provider),
            repr(provider.settings),
            str(provider.settings),
            repr(config),
            str(config),
            job.model_dump_json(),
            repr(job),
        ]
        seen += [j.model_dump_json() for j in gateway.store.find()]
        app.api_key = "another-key"
        with pytest.raises(AuthenticationError) as caught:
            gateway.submit(model="dop-lite", prompt="p", image="https://example.com/a.jpg")
        seen += [str(caught.value), repr(caught.value), repr(caught.value.job)]
    seen += [record.getMessage() for record in caplog.records]
    seen += [str(record.args) for record in caplog.records]
    assert job.status.value == "succeeded"
    for text in seen:
        assert FAKE_KEY not in text
        assert FAKE_KEY[-12:] not in text


def test_secrets_are_refused_in_the_config_file() -> None:
    config = parse_config(f'[providers.toy]\napi_key = "{FAKE_KEY}"\n', source="videogw.toml")
    with (
        Gateway(config, registry=registry_with(ToyProvider)) as gateway,
        pytest.raises(
            ConfigurationError, match=r"videogw.toml, line 2.*api_key must not be written"
        ) as caught,
    ):
        gateway.provider("toy")
    assert FAKE_KEY not in str(caught.value)


def test_cassettes_hold_no_secrets() -> None:
    files = sorted(CASSETTES.rglob("*.yaml"))
    assert files, "no cassettes found"
    for path in files:
        text = path.read_text(encoding="utf-8")
        for shape in KEY_SHAPES:
            match = shape.search(text)
            assert match is None, f"{path}: looks like a secret: {match.group(0)[:12]}..."
        for interaction in load(path):
            for name in SECRET_HEADERS:
                value = interaction.request_headers.get(name)
                assert value in (None, REDACTED), f"{path}: header {name} is not {REDACTED}"


def test_per_job_secrets_in_provider_data_stay_out_of_reprs() -> None:
    from videogw import Job, Task

    job = Job(
        model="m",
        task=Task.image_to_video,
        idempotency_key="k",
        provider_data={"webhook_token": "tok-SECRET-123"},
    )
    assert "tok-SECRET-123" not in repr(job)
    assert "tok-SECRET-123" not in str(job)
    assert "tok-SECRET-123" in job.model_dump_json()  # kept where it is needed: the ledger
