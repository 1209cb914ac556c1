"""Issue 16: secrets are never shown. A key with whitespace is a configuration error
before any request; a local protocol error is "not sent"; a key a provider echoes is
redacted from errors, logs, the ledger and CLI output; Pixazo's per-job webhook token
stays out of `submit/status/jobs --json`."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from toy import ToyProvider
from videogw import Gateway, MemoryStore, redact
from videogw.cli import app
from videogw.commands.common import CliState
from videogw.config import Config, parse_config
from videogw.emulator import FakeClock, SyncEmulatorTransport
from videogw.emulator.harness import emulate
from videogw.engine import _transport_error
from videogw.errors import AuthenticationError, ConfigurationError, RequestNotSentError
from videogw.provider import Call, Purpose
from videogw.testing import registry_with

KEY = "sk-live-ECHOED-0123456789abcdef"
IMAGE = "https://example.com/cat.jpg"
TOY = '[providers.toy]\napi_key_env = "TOY_API_KEY"\n'


def toy_invoke(transport: Any, *args: str, store: MemoryStore | None = None) -> Any:
    clock = FakeClock()
    store = store or MemoryStore()

    def factory(config: Config) -> Gateway:
        return Gateway(
            parse_config(TOY),
            registry=registry_with(ToyProvider),
            clock=clock,
            store=store,
            transports={"toy": transport},
        )

    return CliRunner().invoke(app, list(args), obj=CliState(gateway_factory=factory))


def test_a_key_ending_in_cr_is_a_configuration_error_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOY_API_KEY", KEY + "\r")
    app_ = ToyProvider.emulator(clock=FakeClock())
    result = toy_invoke(
        SyncEmulatorTransport(app_),
        "submit", "-m", "toy:dop-lite", "--image", IMAGE, "--json",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "$TOY_API_KEY" in result.stderr
    assert "carriage return" in result.stderr
    assert KEY not in result.stdout + result.stderr
    assert sum(app_.counts.values()) == 0  # nothing was sent


@pytest.mark.parametrize("value", [" " + KEY, KEY + "\n", "a\tb" + KEY])
def test_whitespace_in_a_key_is_refused_when_the_provider_is_built(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TOY_API_KEY", value)
    with (
        Gateway(parse_config(TOY), registry=registry_with(ToyProvider)) as gateway,
        pytest.raises(ConfigurationError, match=r"\$TOY_API_KEY contains"),
    ):
        gateway.provider("toy")


def test_a_local_protocol_error_is_not_sent() -> None:
    provider = ToyProvider()
    call = Call("toy", httpx.Request("POST", "https://toy.example/jobs"), Purpose.submit)
    error = _transport_error(provider, call, httpx.LocalProtocolError("Illegal header value"))
    assert isinstance(error, RequestNotSentError)


class Echo(httpx.BaseTransport):
    """A provider that refuses every key and echoes it back in its error text."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sent = request.headers.get("authorization", "") + request.headers.get("x-api-key", "")
        return httpx.Response(401, json={"error": f"invalid key {sent!r}", "detail": sent})


def test_an_echoed_key_is_redacted_everywhere(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TOY_API_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    store = MemoryStore()
    result = toy_invoke(Echo(), "submit", "-m", "toy:dop-lite", "--image", IMAGE, store=store)
    assert result.exit_code in (2, 3)
    assert "[REDACTED]" in result.stderr or "invalid key" in result.stderr
    assert KEY not in result.stdout + result.stderr
    for job in store.find():
        assert KEY not in job.model_dump_json()
    listed = toy_invoke(Echo(), "jobs", "--json", store=store)
    assert KEY not in listed.stdout
    for record in caplog.records:
        assert KEY not in record.getMessage()
    with (
        Gateway(
            parse_config(TOY), registry=registry_with(ToyProvider), transports={"toy": Echo()}
        ) as gateway,
        pytest.raises(AuthenticationError) as caught,
    ):
        gateway.submit(model="toy:dop-lite", image=IMAGE)
    assert KEY not in str(caught.value) + repr(caught.value)


def test_redact_module() -> None:
    redact.register("short", "abc:" + "x" * 12, None, "")
    assert redact.redact("id abc:xxxxxxxxxxxx and xxxxxxxxxxxx") == "id [REDACTED] and [REDACTED]"
    assert redact.redact("short stays") == "short stays"  # too short to be a secret
    # per-job tokens are masked where they travel, not registered one by one
    from videogw_pixazo.provider import TOKEN_PARAM

    url = f"https://hooks.test/webhooks/pixazo/j1?{TOKEN_PARAM}=per-job-token-123&x=1"
    assert redact.redact(f"bad callback {url}") == (
        f"bad callback https://hooks.test/webhooks/pixazo/j1?{TOKEN_PARAM}=[REDACTED]&x=1"
    )
    signed = "https://cdn.example/v.mp4?Signature=abc123456789&Expires=1"
    assert redact.redact(signed) == signed  # a provider's signed output URL stays usable
    data = {"provider_data": {"webhook_token": "t", "seed": 1}, "m": "xxxxxxxxxxxx"}
    assert redact.redact_data(data) == {
        "provider_data": {"webhook_token": "[REDACTED]", "seed": 1},
        "m": "[REDACTED]",
    }


def test_pixazo_webhook_token_is_not_in_json_output() -> None:
    from videogw_pixazo import PixazoProvider

    clock = FakeClock()
    emulated = emulate(["pixazo"], registry=registry_with(PixazoProvider), clock=clock)
    store = MemoryStore()

    def factory(config: Config) -> Gateway:
        settings = emulated.config(public_url="https://hooks.example.com")
        gateway: Gateway = emulated.gateway(sync=True, config=settings, store=store, clock=clock)
        return gateway

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, list(args), obj=CliState(gateway_factory=factory))
        assert result.exit_code == 0, result.output
        return result.stdout

    request = ["-m", "pixazo:dop-lite", "-p", "a cat", "--image", IMAGE, "--motion", "m-1"]
    submitted = run("submit", *request, "--json")
    (job,) = store.find()
    token = job.provider_data["webhook_token"]
    assert token  # the ledger keeps it: deliveries are checked against it
    shown = [submitted, run("status", job.id, "--json"), run("jobs", "--json")]
    for text in shown:
        assert token not in text
        json.loads(text)
    assert json.loads(submitted)["provider_data"]["webhook_token"] == "[REDACTED]"


def test_higgsfield_default_secret_variables_are_known(monkeypatch: pytest.MonkeyPatch) -> None:
    from videogw_higgsfield import HiggsfieldProvider

    monkeypatch.setenv("HF_API_KEY", "key-id-123456")
    monkeypatch.setenv("HF_API_SECRET", "hf-secret-abcdef0123\r")
    config = parse_config("[providers.higgsfield]\n")
    with (
        Gateway(config, registry=registry_with(HiggsfieldProvider)) as gateway,
        pytest.raises(ConfigurationError, match=r"\$HF_API_SECRET contains a carriage return"),
    ):
        gateway.provider("higgsfield")


def test_redact_job_for_the_ledger_writer() -> None:
    from videogw import Job, Task
    from videogw.models import Attempt, AttemptOutcome, JobError

    secret = "sk-ledger-0123456789abcdef"
    redact.register(secret)
    job = Job(
        model="m",
        task=Task.image_to_video,
        idempotency_key="k",
        error=JobError(kind="auth", message=f"bad key {secret}"),
        attempts=(
            Attempt(
                provider="toy",
                provider_model="toy-lite",
                idempotency_key="k",
                outcome=AttemptOutcome.rejected,
                started_at=datetime.now(UTC),
                reason=f"AuthenticationError: key {secret} refused",
            ),
        ),
        provider_data={"webhook_token": "kept-for-deliveries"},
    )
    clean = redact.redact_job(job)
    assert secret not in clean.model_dump_json()
    assert clean.provider_data == job.provider_data  # checked against later deliveries
    assert redact.redact_job(clean) == clean


def test_gateway_download_of_a_job_without_outputs_is_a_typed_error() -> None:
    from videogw.errors import UnsupportedOperationError

    clock = FakeClock()
    emulated = emulate(["toy"], registry=registry_with(ToyProvider), clock=clock)
    with emulated.gateway(sync=True, clock=clock) as gateway:
        job = gateway.submit(model="dop-lite", prompt="a cat", image=IMAGE)
        with pytest.raises(UnsupportedOperationError, match="no outputs"):
            gateway.download(job)
