"""The Higgsfield adapter's own rules, against its emulator in-process (fake clock, no wall
time): credentials, host allow-list, model field mapping and refusals, uploads, estimates,
idempotent replay, concurrency limit, Speak on the legacy surface, and the listing mode."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from videogw import AttemptOutcome, GenerationRequest, Job, JobStatus, Media, Task, errors
from videogw.emulator import FakeClock, SyncEmulatorTransport
from videogw.emulator.faults import FaultProfile
from videogw.emulator.harness import Emulated, emulate
from videogw.testing import registry_with
from videogw_higgsfield import HiggsfieldProvider, HiggsfieldSettings
from videogw_higgsfield.wire import parse_time

IMAGE = "https://example.com/cat.jpg"
REGISTRY = registry_with(HiggsfieldProvider)


def provider(**settings: Any) -> HiggsfieldProvider:
    settings.setdefault("api_key", "key-id:key-secret")
    return HiggsfieldProvider(HiggsfieldSettings(**settings))


def body_of(request: GenerationRequest | dict[str, Any], **settings: Any) -> dict[str, Any]:
    p = provider(**settings)
    built = p.build_submit(p.prepare(GenerationRequest.model_validate(request)))
    return dict(json.loads(built.read()))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulated(clock: FakeClock) -> Emulated:
    return emulate(["higgsfield"], registry=REGISTRY, clock=clock)


@pytest.fixture
def gw(emulated: Emulated, clock: FakeClock) -> Any:
    with emulated.gateway(clock=clock) as gateway:
        yield gateway


# -- credentials ----------------------------------------------------------------------------
@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HF_KEY", "HF_API_KEY", "HF_API_SECRET", "RAPIDAPI_KEY", "HF_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_credentials_from_hf_key(no_env: pytest.MonkeyPatch) -> None:
    no_env.setenv("HF_KEY", "abc:def")
    assert HiggsfieldProvider().api_key() == "abc:def"


def test_credentials_from_key_and_secret(no_env: pytest.MonkeyPatch) -> None:
    no_env.setenv("HF_API_KEY", "abc")
    no_env.setenv("HF_API_SECRET", "def")
    p = HiggsfieldProvider()
    assert p.api_key() == "abc:def"
    assert p.build_status(_job("r1")).headers["authorization"] == "Key abc:def"


def test_key_id_without_secret_is_a_configuration_error(no_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.ConfigurationError, match="HF_API_SECRET") as caught:
        provider(api_key="only-the-id").api_key()
    assert "only-the-id" not in str(caught.value)


def test_missing_credentials_name_the_variables(no_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.MissingCredentialsError, match="HF_KEY"):
        HiggsfieldProvider().api_key()
    with pytest.raises(errors.MissingCredentialsError, match="RAPIDAPI_KEY"):
        HiggsfieldProvider(HiggsfieldSettings(mode="marketplace")).api_key()


def test_secrets_stay_out_of_reprs() -> None:
    settings = HiggsfieldSettings(api_key="abc:s3cr3t", webhook_secret="whsec_c2VjcmV0")
    assert "s3cr3t" not in repr(settings)
    assert "whsec_" not in repr(settings)


def test_marketplace_sends_rapidapi_headers_only() -> None:
    p = provider(mode="marketplace", api_key="rapid-key")
    headers = p.build_status(_job("r1")).headers
    assert headers["x-rapidapi-key"] == "rapid-key"
    assert headers["x-rapidapi-host"] == "higgsfield-api.p.rapidapi.com"
    assert "authorization" not in headers


# -- hosts --------------------------------------------------------------------------------------
def _job(rid: str, **data: Any) -> Job:
    return Job(
        model="dop-lite",
        task=Task.image_to_video,
        provider="higgsfield",
        provider_job_id=rid,
        idempotency_key="k",
        provider_data={"surface": "v2", **data},
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "https://platform.higgsfield.ai/requests/r1/status",
            "https://platform.higgsfield.ai/requests/r1/status",
        ),
        (
            "https://api.higgsfield.ai/requests/r1/status",
            "https://api.higgsfield.ai/requests/r1/status",
        ),
        ("https://evil.example/requests/r1/status", "https://api.higgsfield.ai/requests/r1/status"),
        (
            "http://platform.higgsfield.ai/requests/r1/status",
            "https://api.higgsfield.ai/requests/r1/status",
        ),
        (
            "https://platform.higgsfield.ai.evil.example/x",
            "https://api.higgsfield.ai/requests/r1/status",
        ),
        (None, "https://api.higgsfield.ai/requests/r1/status"),
    ],
)
def test_status_url_host_allow_list(given: str | None, expected: str) -> None:
    assert str(provider().build_status(_job("r1", status_url=given)).url) == expected


def test_configured_base_host_is_trusted_and_marketplace_always_rebuilds() -> None:
    p = provider(base_url="https://hf-proxy.internal:8443")
    url = "https://hf-proxy.internal:8443/requests/r1/status"
    assert str(p.build_status(_job("r1", status_url=url)).url) == url
    m = provider(mode="marketplace", base_url="https://listing.p.rapidapi.com", api_key="k")
    job = _job(
        "r1",
        status_url="https://platform.higgsfield.ai/requests/r1/status",
        cancel_url="https://platform.higgsfield.ai/requests/r1/cancel",
    )
    assert str(m.build_status(job).url) == "https://listing.p.rapidapi.com/requests/r1/status"
    assert str(m.build_cancel(job).url) == "https://listing.p.rapidapi.com/requests/r1/cancel"


def test_request_id_cannot_walk_the_path() -> None:
    assert str(provider().build_status(_job("../../v1/motions")).url).endswith(
        "/requests/..%2F..%2Fv1%2Fmotions/status"
    )


# -- model mapping --------------------------------------------------------------------------------
def test_dop_body_end_frame_and_two_motions() -> None:
    body = body_of(
        {
            "model": "dop-turbo",
            "prompt": "p",
            "image": IMAGE,
            "end_image": "https://e.com/end.jpg",
            "motion": {"id": "m1", "strength": 0.5},
            "options": {"second_motion": {"id": "m2", "strength": 0.25}},
        }
    )
    assert body == {
        "prompt": "p",
        "image_url": IMAGE,
        "end_image_url": "https://e.com/end.jpg",
        "motions": [{"id": "m1", "strength": 0.5}, {"id": "m2", "strength": 0.25}],
    }


def test_kling_seedance_soul_bodies() -> None:
    assert body_of(
        {
            "model": "kling-2.1-master",
            "prompt": "p",
            "image": IMAGE,
            "duration_s": 10,
            "options": {"cfg_scale": 0.3, "negative_prompt": "blur"},
        }
    ) == {
        "prompt": "p",
        "image_url": IMAGE,
        "duration": 10,
        "cfg_scale": 0.3,
        "negative_prompt": "blur",
    }
    assert body_of(
        {
            "model": "seedance-1-lite",
            "prompt": "p",
            "image": IMAGE,
            "duration_s": 12,
            "resolution": "720p",
            "aspect_ratio": "9:16",
            "options": {"camera_fixed": True},
        }
    ) == {
        "prompt": "p",
        "image_url": IMAGE,
        "duration": 12,
        "resolution": "720",
        "aspect_ratio": "9:16",
        "camera_fixed": True,
    }
    assert body_of(
        {
            "model": "soul",
            "prompt": "p",
            "resolution": "720P",
            "aspect_ratio": "3:2",
            "seed": 7,
            "options": {"num_images": 3, "style_id": "s1"},  # the old option name still works
        }
    ) == {
        "prompt": "p",
        "batch_size": 3,
        "resolution": "720p",
        "aspect_ratio": "3:2",
        "seed": 7,
        "style_id": "s1",
    }


def test_webhook_query_and_expiry_header() -> None:
    p = provider(expires_after_s=7200)
    request = GenerationRequest(
        model="dop-lite", prompt="p", image=IMAGE, webhook_url="https://hooks.example/hf?job=1"
    )
    built = p.build_submit(p.prepare(request))
    assert built.url.params["hf_webhook"] == "https://hooks.example/hf?job=1"
    assert built.headers["hf-expires-after"] == "7200"
    assert built.headers["idempotency-key"] == request.idempotency_key
    per_job = request.model_copy(update={"options": {"hf_expires_after": 3600}})
    assert p.build_submit(p.prepare(per_job)).headers["hf-expires-after"] == "3600"


INVALID = [
    ({"model": "kling-2.1-pro", "duration_s": 7}, "duration_s", "5, 10"),
    ({"model": "seedance-1-pro", "duration_s": 13}, "duration_s", "2, 3"),
    ({"model": "seedance-1-pro", "resolution": "4K"}, "resolution", "480, 720, 1080"),
    ({"model": "seedance-1-pro", "aspect_ratio": "5:4"}, "aspect_ratio", "21:9"),
    ({"model": "soul", "image": None, "resolution": "4K"}, "resolution", "720p, 1080p"),
    ({"model": "soul"}, "image", "dop-lite"),
    ({"model": "soul", "image": None, "duration_s": 5}, "duration_s", "no duration_s"),
    ({"model": "dop-lite", "duration_s": 5}, "duration_s", "ignore it"),
    ({"model": "dop-lite", "aspect_ratio": "16:9"}, "aspect_ratio", "seedance-1-pro"),
    ({"model": "kling-2.1-pro", "seed": 5}, "seed", "dop-lite"),
    ({"model": "dop-lite", "options": {"style_id": "s"}}, "options.style_id", "soul"),
    ({"model": "kling-2.1-pro", "motion": {"id": "m"}}, "motion", "dop-lite"),
    ({"model": "kling-2.1-pro", "end_image": "https://e.com/e.jpg"}, "end_image", "end frame"),
    ({"model": "dop-lite", "options": {"cfg_scale": 0.5}}, "options.cfg_scale", "kling-2.1-pro"),
    ({"model": "dop-lite", "options": {"batch_size": 2}}, "options.batch_size", "soul"),
    ({"model": "soul", "image": None, "options": {"batch_size": 5}}, "options.batch_size", "4"),
    (
        {"model": "dop-lite", "options": {"second_motion": {"id": "m"}}},
        "options.second_motion",
        "motion first",
    ),
    (
        {"model": "dop-lite", "options": {"hf_expires_after": 60}},
        "options.hf_expires_after",
        "3600",
    ),
    ({"model": "dop-lite", "prompt": "  "}, "prompt", "needs a prompt"),
    ({"model": "speak-v2"}, "audio", "audio"),
    (
        {"model": "speak-v2", "audio": "https://e.com/a.wav", "quality": "low"},
        "quality",
        "mid, high",
    ),
    (
        {"model": "speak-v2", "audio": Media(data=b"ID3", content_type="audio/mpeg")},
        "audio",
        "audio/wav",
    ),
    (
        {"model": "dop-lite", "image": Media(data=b"BM", content_type="image/bmp")},
        "image",
        "image/png",
    ),
    (
        {
            "model": "speak-v2",
            "audio": "https://e.com/a.wav",
            "options": {"hf_expires_after": 3600},
        },
        "options.hf_expires_after",
        "dop-lite",
    ),
]


@pytest.mark.parametrize(
    ("change", "field", "allowed"), INVALID, ids=[f"{c['model']}:{f}" for c, f, _ in INVALID]
)
def test_invalid_combinations_are_refused_before_sending(
    gw: Any, emulated: Emulated, change: dict[str, Any], field: str, allowed: str
) -> None:
    request = {"model": "dop-lite", "prompt": "a cat", "image": IMAGE, **change}
    request["model"] = f"higgsfield:{request['model']}"  # pinned: the refusal itself is raised
    with pytest.raises(errors.InvalidRequestError) as caught:
        gw.submit(request)
    assert caught.value.field == field
    assert allowed in str(caught.value)
    assert sum(emulated.emulators["higgsfield"].counts.values()) == 0


def test_marketplace_refuses_uploads_webhooks_and_speak() -> None:
    m = provider(mode="marketplace", api_key="k")
    base = {"model": "dop-lite", "prompt": "p", "image": IMAGE}
    for change, field in [
        ({"image": b"\xff\xd8"}, "image"),
        ({"webhook_url": "https://hooks.example/x"}, "webhook_url"),
        ({"model": "speak-v2"}, "model"),
    ]:
        with pytest.raises(errors.UnsupportedRequestError) as caught:
            m.prepare(GenerationRequest.model_validate({**base, **change}))
        assert caught.value.field == field


# -- jobs on the emulator ----------------------------------------------------------------------
def test_uploads_go_to_storage_then_the_public_url_is_submitted(
    gw: Any, emulated: Emulated
) -> None:
    app = emulated.emulators["higgsfield"]
    job = gw.run(
        {
            "model": "dop-lite",
            "prompt": "a cat",
            "image": Media(data=b"\x89PNG", content_type="image/png"),
        }
    )
    assert job.status is JobStatus.succeeded
    (slot,) = app.uploads.values()
    assert slot["data"] == b"\x89PNG"
    assert slot["content_type"] == "image/png"
    assert app.count("upload_url") == 1
    assert app.count("upload") == 1


def test_soul_images_and_nsfw(gw: Any) -> None:
    job = gw.run({"model": "soul", "prompt": "a cat", "options": {"num_images": 3}})
    assert job.status is JobStatus.succeeded
    assert [o.media_type for o in job.outputs] == ["image/png"] * 3
    assert all(o.expires_at is not None for o in job.outputs)
    filtered = gw.run({"model": "dop-lite", "prompt": "a cat emulate:nsfw", "image": IMAGE})
    assert filtered.status is JobStatus.content_filtered
    assert filtered.charged is False
    assert filtered.error is not None
    assert filtered.error.kind == "content_filtered"


def test_speak_runs_on_the_job_set_surface_and_cannot_be_cancelled(
    gw: Any, emulated: Emulated
) -> None:
    request = {
        "model": "speak-v2",
        "prompt": "hello",
        "image": IMAGE,
        "audio": Media(data=b"RIFF", content_type="audio/wav"),
    }
    job = gw.run(request)
    assert job.provider_data["surface"] == "v1"
    assert job.status is JobStatus.succeeded
    assert job.outputs[0].url.endswith(".mp4")
    queued = gw.submit({**request, "prompt": "hello emulate:queue=1000"})
    with pytest.raises(errors.UnsupportedOperationError, match="keeps tracking"):
        gw.cancel(queued)
    assert emulated.emulators["higgsfield"].count("cancel") == 0


def test_cancel_after_start_is_not_cancellable_and_tracking_goes_on(
    gw: Any, clock: FakeClock
) -> None:
    job = gw.submit(
        {"model": "dop-lite", "prompt": "a cat emulate:queue=0 emulate:run=100", "image": IMAGE}
    )
    clock.advance(1)
    with pytest.raises(errors.NotCancellableError):
        gw.cancel(job)
    assert gw.status(job).status is JobStatus.running


def test_concurrency_limit_is_a_capacity_error(gw: Any, emulated: Emulated) -> None:
    app = emulated.emulators["higgsfield"]
    app.max_concurrent = 1
    gw.submit({"model": "dop-lite", "prompt": "a cat emulate:queue=1000", "image": IMAGE})
    with pytest.raises(errors.CapacityError, match="Concurrency") as caught:
        gw.submit({"model": "dop-lite", "prompt": "another", "image": IMAGE})
    assert caught.value.failover.value == "next_cooldown"
    assert len(app.jobs) == 1


class RecordingTransport(SyncEmulatorTransport):
    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.keys.append(request.headers.get("idempotency-key"))
        return super().handle_request(request)


def test_dropped_submit_is_replayed_with_the_same_key_and_buys_once(
    emulated: Emulated, clock: FakeClock
) -> None:
    from videogw import Gateway

    app = emulated.emulators["higgsfield"]
    app.faults = FaultProfile.parse("submit:drop_after_accept*1")
    transport = RecordingTransport(app)
    with Gateway(
        emulated.config(), transports={"higgsfield": transport}, registry=REGISTRY, clock=clock
    ) as gw:
        job = gw.submit({"model": "dop-lite", "prompt": "a cat", "image": IMAGE})
    assert app.count("submit") == 2, "the body reached the emulator twice"
    assert transport.keys == [job.idempotency_key, job.idempotency_key]
    assert list(app.jobs) == [job.provider_job_id], "one job, not two"


def test_same_key_other_body_is_refused_before_sending(gw: Any, emulated: Emulated) -> None:
    # the ledger knows the key: the same request is the same job, another is refused by
    # videogw before anything reaches the provider (whose own check would refuse it too)
    first = gw.submit(
        {"model": "dop-lite", "prompt": "a cat", "image": IMAGE, "idempotency_key": "k-1"}
    )
    again = gw.submit(
        {"model": "dop-lite", "prompt": "a cat", "image": IMAGE, "idempotency_key": "k-1"}
    )
    assert again.provider_job_id == first.provider_job_id
    with pytest.raises(errors.IdempotencyConflictError, match="different request"):
        gw.submit(
            {"model": "dop-lite", "prompt": "a dog", "image": IMAGE, "idempotency_key": "k-1"}
        )
    assert len(emulated.emulators["higgsfield"].jobs) == 1


def test_out_of_credits_disables_the_provider(gw: Any, emulated: Emulated) -> None:
    emulated.emulators["higgsfield"].credits = 1
    with pytest.raises(errors.InsufficientCreditsError) as caught:
        gw.submit({"model": "dop-standard", "prompt": "a cat", "image": IMAGE})
    assert caught.value.failover.value == "next_disable"


# -- estimates and the catalog ------------------------------------------------------------------
def test_table_estimate_and_overrides() -> None:
    p = provider()
    turbo = p.estimate(p.prepare(GenerationRequest(model="dop-turbo", prompt="p", image=IMAGE)))
    assert (turbo.amount, turbo.currency, turbo.usd) == (
        Decimal("6.5"),
        "credits",
        Decimal("0.40625"),
    )
    assert "derived" in turbo.basis
    assert turbo.origin == "table"
    soul = p.estimate(
        p.prepare(GenerationRequest(model="soul", prompt="p", options={"num_images": 4}))
    )
    assert soul.amount == Decimal("1.00")
    speak = p.estimate(
        p.prepare(
            GenerationRequest(
                model="speak-v2", prompt="p", image=IMAGE, audio="https://e.com/a.wav"
            )
        )
    )
    assert (speak.low, speak.high) == (Decimal(20), Decimal(50))
    cheap = provider(prices={"dop-turbo": Decimal(5)}, usd_per_credit=Decimal("0.05"))
    over = cheap.estimate(
        cheap.prepare(GenerationRequest(model="dop-turbo", prompt="p", image=IMAGE))
    )
    assert (over.amount, over.usd, over.origin) == (Decimal(5), Decimal("0.25"), "config")
    with pytest.raises(errors.UnsupportedOperationError, match="use_estimate_endpoint"):
        p.estimate(p.prepare(GenerationRequest(model="kling-2.1-pro", prompt="p", image=IMAGE)))


def test_estimate_endpoint_through_the_gateway(emulated: Emulated, clock: FakeClock) -> None:
    emulated.settings["higgsfield"]["use_estimate_endpoint"] = True
    with emulated.gateway(clock=clock) as gw:
        (quote,) = gw.estimate({"model": "kling-2.1-pro", "prompt": "p", "image": IMAGE})
        assert quote.estimate is not None
        assert quote.estimate.origin == "provider"
        assert quote.estimate.amount == Decimal("10.000")
        (local,) = gw.estimate({"model": "dop-lite", "prompt": "p", "image": b"\xff\xd8\xff"})
        assert local.estimate is not None
        assert local.estimate.origin == "table"
    assert emulated.emulators["higgsfield"].count("estimate") == 1


def test_marketplace_estimate_is_one_call_of_quota() -> None:
    m = provider(mode="marketplace", api_key="k")
    estimate = m.estimate(m.prepare(GenerationRequest(model="dop-lite", prompt="p", image=IMAGE)))
    assert (estimate.amount, estimate.currency) == (Decimal(1), "units")


def test_motions_catalog(gw: Any) -> None:
    motions = gw.catalog("higgsfield", "motions")
    assert {"id", "name", "description", "preview_url"} <= set(motions[0])
    with pytest.raises(errors.UnsupportedOperationError):
        gw.catalog("higgsfield", "voices")


# -- marketplace quota through the gateway -------------------------------------------------------
def test_marketplace_quota_429_carries_the_reset() -> None:
    from videogw import Gateway
    from videogw_higgsfield.emulator import HiggsfieldEmulator

    app = HiggsfieldEmulator(marketplace=True, quota=1, clock=FakeClock())
    p = provider(mode="marketplace", api_key="rapid-key")
    with Gateway(
        providers=[p],
        registry=REGISTRY,
        transports={"higgsfield": SyncEmulatorTransport(app)},
        clock=FakeClock(),
    ) as gw:
        gw.submit({"model": "dop-lite", "prompt": "a cat", "image": IMAGE})
        with pytest.raises(errors.RateLimitError) as caught:
            gw.submit({"model": "dop-lite", "prompt": "a dog", "image": IMAGE})
    assert caught.value.retry_after == 42
    assert len(app.jobs) == 1


# -- lenient parsing -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-06-01T12:00:00Z", datetime(2026, 6, 1, 12, tzinfo=UTC)),
        ("2026-06-01T14:00:00+02:00", datetime(2026, 6, 1, 12, tzinfo=UTC)),
        ("2026-06-01 12:00:00", datetime(2026, 6, 1, 12, tzinfo=UTC)),
        (1780315200, datetime(2026, 6, 1, 12, tzinfo=UTC)),
        (1780315200000, datetime(2026, 6, 1, 12, tzinfo=UTC)),
        ("1780315200", datetime(2026, 6, 1, 12, tzinfo=UTC)),
        ("next week", None),
        (True, None),
        (None, None),
        (1e300, None),
    ],
)
def test_expires_at_is_parsed_leniently(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "status",
                    "request_id",
                    "video",
                    "images",
                    "url",
                    "error",
                    "expires_at",
                    "jobs",
                    "results",
                    "raw",
                    "id",
                    "credits",
                ]
            )
            | st.text(max_size=5),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(payload=JSON, surface=st.sampled_from(["v1", "v2"]))
def test_parsers_raise_only_typed_errors(payload: Any, surface: str) -> None:
    p = provider()
    job = _job("r1").model_copy(update={"provider_data": {"surface": surface}})
    response = httpx.Response(
        200, content=json.dumps(payload), request=httpx.Request("GET", "https://x")
    )
    for parse in (
        lambda: p.parse_status(job, response),
        lambda: p.parse_motions(response),
        lambda: p.update_from(payload),
    ):
        with contextlib.suppress(errors.VideoGWError):
            parse()


# -- the listing as a second instance, from a config file ------------------------------------
def test_marketplace_instance_from_config_runs_a_job(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from videogw import Gateway, load_config
    from videogw_higgsfield.emulator import HiggsfieldEmulator

    config = tmp_path / "videogw.toml"
    config.write_text(
        '[providers.hf-market]\nplugin = "higgsfield"\nmode = "marketplace"\n'
        'base_url = "https://higgsfield-api.p.rapidapi.com"\napi_key_env = "MY_RAPID_KEY"\n'
    )
    monkeypatch.setenv("MY_RAPID_KEY", "rapid-key")
    app = HiggsfieldEmulator(marketplace=True, api_key="rapid-key", clock=(clock := FakeClock()))
    with Gateway(
        load_config(config),
        registry=REGISTRY,
        transports={"hf-market": SyncEmulatorTransport(app)},
        clock=clock,
    ) as gw:
        market = gw.provider("hf-market")
        assert isinstance(market, HiggsfieldProvider)
        assert market.instance == "hf-market"
        assert "speak-v2" not in market.capabilities.models
        assert market.capabilities.idempotency is False
        job = gw.run({"model": "hf-market:dop-lite", "prompt": "a cat", "image": IMAGE})
    assert job.provider == "hf-market"
    assert job.status is JobStatus.succeeded
    # the listing's answer pointed at platform.higgsfield.ai; the poll stayed on the listing
    assert job.provider_data["status_url"].startswith("https://higgsfield-api.p.rapidapi.com/")
    assert app.count("proxy") == 0


def test_marketplace_emulator_serves_outputs_outside_the_proxy() -> None:
    from videogw_higgsfield.emulator import HiggsfieldEmulator

    app = HiggsfieldEmulator(marketplace=True, clock=FakeClock())
    with httpx.Client(transport=SyncEmulatorTransport(app)) as client:
        output = client.get("https://cdn.example/_files/abc.mp4")
        proxied = client.get("https://higgsfield-api.p.rapidapi.com/v1/motions")
    assert output.status_code == 200
    assert proxied.status_code == 400
    assert proxied.headers["x-rapidapi-proxy-response"] == "true"


def test_a_dropped_speak_submit_is_not_replayed(emulated: Emulated, clock: Any) -> None:
    """The legacy v1 surface is not documented to honour Idempotency-Key: a drop there must
    stay an unknown outcome, never a second (possibly paid) POST."""
    from videogw import Gateway, JobStatus

    app = emulated.emulators["higgsfield"]
    app.faults = FaultProfile.parse("submit:drop_after_accept*1")
    with Gateway(
        emulated.config(), transports=emulated.transports(sync=True), registry=REGISTRY, clock=clock
    ) as gw:
        job = gw.submit(
            {
                "model": "speak-v2",
                "prompt": "hello",
                "image": IMAGE,
                "audio": "https://example.com/voice.wav",
            }
        )
    assert app.count("submit") == 1
    assert job.status is JobStatus.unknown


def test_a_garbled_upload_slot_answer_is_not_sent_not_unknown(
    gw: Any, emulated: Emulated, tmp_path: Any
) -> None:
    # the engine, not the plugin, decides: nothing was submitted before the submit call
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    emulated.emulators["higgsfield"].faults = FaultProfile.parse("upload_url:malformed*10")
    with pytest.raises(errors.RequestNotSentError, match="before the submit was sent") as caught:
        gw.submit({"model": "dop-lite", "prompt": "a cat", "image": str(image)})
    job = caught.value.job
    assert job is not None
    assert (job.status, job.charged) == (JobStatus.failed, False)
    assert [a.outcome for a in job.attempts] == [AttemptOutcome.not_sent]
    assert gw.unknown_submits() == []
    assert emulated.emulators["higgsfield"].jobs == {}
