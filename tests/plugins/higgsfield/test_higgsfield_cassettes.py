"""Cassettes: the adapter builds exactly the documented Higgsfield requests and parses the
documented answers; the emulator answers the same requests with answers of the same shape.

Sources (each cassette's first line says more): reference/providers.md §1.2 (auth, 401),
§1.4 (submit), §1.5 (every status), §1.6 (cancel 202/400), §1.8 (uploads), §1.9 (estimate),
§1.11 (errors), §1.14-1.15 (Speak on the legacy JobSet surface, motions), §5 (marketplace).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from videogw import Gateway, GenerationRequest, Job, JobStatus, Media, Purpose, Task, errors
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
from videogw_higgsfield import HiggsfieldProvider, HiggsfieldSettings
from videogw_higgsfield.emulator import HiggsfieldEmulator

CASSETTES = Path(__file__).parents[3] / "cassettes" / "higgsfield"
KEY = "key-id:key-secret"
AUTH = {"authorization": f"Key {KEY}"}
LISTING = "higgsfield-api.p.rapidapi.com"
MOTION = {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.7}
DOP = GenerationRequest(
    model="dop-lite",
    prompt="a cat walks toward the camera",
    image="https://example.com/cat.jpg",
    motion=MOTION,
    seed=42,
    enhance_prompt=True,
    idempotency_key="vgw-6f1d2c3b-0000-4000-8000-000000000001",
)


def cassette(name: str) -> list[Interaction]:
    return load(CASSETTES / f"{name}.yaml")


def provider(**settings: Any) -> HiggsfieldProvider:
    return HiggsfieldProvider(HiggsfieldSettings(api_key=settings.pop("api_key", KEY), **settings))


def market() -> HiggsfieldProvider:
    return provider(api_key="rapid-key", mode="marketplace", base_url=f"https://{LISTING}")


def job_at(interaction: Interaction, surface: str = "v2", model: str = "dop-lite") -> Job:
    """A job whose stored status/cancel URL is the documented one."""
    parts = interaction.uri.split("/")
    rid = parts[-1] if surface == "v1" else parts[-2]
    base = interaction.uri.rsplit("/", 1)[0]
    return Job(
        model=model,
        task=Task.image_to_video,
        provider="higgsfield",
        provider_job_id=rid,
        idempotency_key="k",
        status=JobStatus.queued,
        provider_data={
            "surface": surface,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
        },
    )


def gateway(*providers: HiggsfieldProvider, sync: bool = True) -> Any:
    cls = Gateway if sync else AsyncGateway
    return cls(
        providers=list(providers) or [provider()], registry=registry_with(HiggsfieldProvider)
    )


# -- submit and the status it leads to -------------------------------------------------------
def test_submit_is_built_as_documented() -> None:
    submit, _ = cassette("submit_dop")
    p = provider()
    assert_request_matches(p.build_submit(p.prepare(DOP)), submit)


def test_submit_answer_is_parsed() -> None:
    submit, _ = cassette("submit_dop")
    p = provider()
    accepted = p.parse_submit(p.prepare(DOP), to_httpx_response(submit))
    assert accepted.provider_job_id == "0b7c9a8e-1111-4c2d-9e0f-123456789abc"
    assert accepted.status is JobStatus.queued
    assert accepted.provider_request_id == "corr-submit-1"
    # platform.higgsfield.ai is on the allow-list, so the answer's own URLs are kept
    assert accepted.provider_data["status_url"] == _uri(submit, "status_url")


def _uri(interaction: Interaction, key: str) -> str:
    value = interaction.response_json()[key]
    assert isinstance(value, str)
    return value


def test_replay_submit_and_status_sync() -> None:
    with replay(CASSETTES / "submit_dop.yaml") as played, gateway() as gw:
        job = gw.status(gw.submit(DOP))
    assert played.play_count == 2
    assert job.status is JobStatus.succeeded
    assert job.charged is True
    assert job.outputs[0].url == "https://cdn.higgsfield.ai/outputs/0b7c9a8e/out.mp4"
    assert job.outputs[0].media_type == "video/mp4"
    assert job.outputs[0].expires_at is not None
    assert job.outputs[0].expires_at.year == 2026
    assert job.provider_data["surface"] == "v2"


async def test_replay_submit_and_status_async() -> None:
    with replay(CASSETTES / "submit_dop.yaml"):
        async with gateway(sync=False) as gw:
            job = await gw.status(await gw.submit(DOP))
    assert job.status is JobStatus.succeeded


# -- every status -------------------------------------------------------------------------------
STATUSES = {  # last digit of the request id -> (status, charged, outputs, error kind)
    "1": (JobStatus.queued, None, 0, None),
    "2": (JobStatus.running, None, 0, None),
    "3": (JobStatus.succeeded, True, 1, None),
    "4": (JobStatus.succeeded, True, 2, None),
    "5": (JobStatus.failed, False, 0, "generation_failed"),
    "6": (JobStatus.content_filtered, False, 0, "content_filtered"),
    "7": (JobStatus.cancelled, False, 0, "cancelled"),
}


@pytest.mark.parametrize("interaction", cassette("status"), ids=lambda i: i.uri[-8:-7])
def test_each_status_is_read_as_documented(interaction: Interaction) -> None:
    p = provider()
    job = job_at(interaction)
    assert_request_matches(p.build_status(job), interaction)
    update = p.parse_status(job, to_httpx_response(interaction))
    status, charged, outputs, error = STATUSES[interaction.uri[-8]]
    assert update.status is status
    assert update.raw_status == interaction.response_json()["status"]
    assert update.charged is charged
    assert len(update.outputs or ()) == outputs
    assert (update.error.kind if update.error else None) == error
    if interaction.uri[-8] == "5":
        assert update.error is not None
        assert update.error.message == "Generation fail message"


# -- cancel ---------------------------------------------------------------------------------------
def test_cancel_202_and_400() -> None:
    done, started = cassette("cancel")
    p = provider()
    for interaction in (done, started):
        assert_request_matches(p.build_cancel(job_at(interaction)), interaction)
    assert p.classify(to_httpx_response(done), Purpose.cancel) is None
    update = p.parse_cancel(job_at(done), to_httpx_response(done))
    assert update.status is JobStatus.cancelled
    assert update.charged is False
    error = p.classify(to_httpx_response(started), Purpose.cancel)
    assert isinstance(error, errors.NotCancellableError)
    assert "already in progress" in error.message


def test_cancel_400_keeps_the_job_tracked() -> None:
    _, started = cassette("cancel")
    job = job_at(started)
    with (
        replay(CASSETTES / "cancel.yaml"),
        gateway() as gw,
        pytest.raises(errors.NotCancellableError),
    ):
        gw.cancel(job)
    assert job.status is JobStatus.queued  # nothing changed: it is still polled


# -- uploads ------------------------------------------------------------------------------------
UPLOADED = GenerationRequest(
    model="dop-lite",
    prompt="a cat walks toward the camera",
    image=Media(data=b"not-really-a-jpeg", content_type="image/jpeg"),
    idempotency_key="vgw-6f1d2c3b-0000-4000-8000-000000000002",
)


def test_upload_flow_is_built_as_documented() -> None:
    slot, put, submit = cassette("upload")
    p = provider()
    flow = p.submit_flow(p.prepare(UPLOADED))
    call = next(flow)
    assert (call.purpose, call.request.method) == (Purpose.upload, "POST")
    assert_request_matches(call.request, slot)
    call = flow.send(to_httpx_response(slot))
    assert call.purpose is Purpose.upload
    assert_request_matches(call.request, put)
    assert "authorization" not in call.request.headers  # never our key to the storage host
    call = flow.send(to_httpx_response(put))
    assert call.purpose is Purpose.submit
    assert_request_matches(call.request, submit)
    with pytest.raises(StopIteration) as stop:
        flow.send(to_httpx_response(submit))
    assert stop.value.value.provider_job_id == "33333333-0000-4000-8000-000000000001"


def test_replay_upload_then_submit() -> None:
    with replay(CASSETTES / "upload.yaml") as played, gateway() as gw:
        job = gw.submit(UPLOADED)
    assert played.play_count == 3
    assert job.provider_job_id == "33333333-0000-4000-8000-000000000001"


# -- estimate -------------------------------------------------------------------------------------
def test_estimate_endpoint_is_asked_as_documented() -> None:
    (interaction,) = cassette("estimate")
    p = provider(use_estimate_endpoint=True)
    flow = p.estimate_flow(p.prepare(DOP))
    call = next(flow)
    assert call.purpose is Purpose.read
    assert_request_matches(call.request, interaction)
    with pytest.raises(StopIteration) as stop:
        flow.send(to_httpx_response(interaction))
    estimate = stop.value.value
    assert (estimate.amount, estimate.usd) == (Decimal("1.500"), Decimal("0.094"))
    assert estimate.currency == "credits"
    assert estimate.origin == "provider"


def test_replay_estimate_through_the_gateway() -> None:
    with replay(CASSETTES / "estimate.yaml"), gateway(provider(use_estimate_endpoint=True)) as gw:
        (quote,) = gw.estimate(DOP)
    assert quote.estimate is not None
    assert quote.estimate.origin == "provider"


# -- errors ----------------------------------------------------------------------------------------
ERRORS = [
    (errors.AuthenticationError, "Invalid credentials"),
    (errors.InsufficientCreditsError, "Not enough credits"),
    (errors.ProviderRejectedError, "image_url: Input should be a valid URL; seed: Input"),
    (errors.ProviderRejectedError, "Idempotency-Key was already used"),
    (errors.CapacityError, "Concurrency limit reached"),
    (errors.ModelUnavailableError, "Model not found"),
]


@pytest.mark.parametrize(
    ("index", "expected"), list(enumerate(ERRORS)), ids=[str(e[0].__name__) for e in ERRORS]
)
def test_submit_errors_are_classified(index: int, expected: tuple[type, str]) -> None:
    interaction = cassette("errors")[index]
    cls, message = expected
    error = provider().classify(to_httpx_response(interaction), Purpose.submit)
    assert type(error) is cls
    assert error.message.startswith(message)
    assert error.status_code == interaction.status


def test_error_requests_are_the_adapters_own() -> None:
    """The 401/403 submits are plain DoP submits the adapter builds (idempotency key aside)."""
    for interaction, model in zip(
        cassette("errors")[:2], ("dop-lite", "dop-standard"), strict=True
    ):
        p = provider()
        request = GenerationRequest(
            model=model, prompt="a cat", image="https://example.com/cat.jpg"
        )
        built = p.build_submit(p.prepare(request))
        assert_request_matches(built, interaction)


# -- Speak on the legacy surface ------------------------------------------------------------------
SPEAK = GenerationRequest(
    model="speak-v2",
    prompt="a calm presenter",
    image="https://example.com/face.jpg",
    audio="https://example.com/voice.wav",
    quality="mid",
    duration_s=5,
    seed=7,
    idempotency_key="vgw-6f1d2c3b-0000-4000-8000-000000000004",
)


def test_speak_submit_and_job_set() -> None:
    submit, status = cassette("speak")
    p = provider()
    prepared = p.prepare(SPEAK)
    assert_request_matches(p.build_submit(prepared), submit)
    accepted = p.parse_submit(prepared, to_httpx_response(submit))
    assert accepted.provider_job_id == "44444444-0000-4000-8000-000000000001"
    assert accepted.status is JobStatus.queued
    job = job_at(status, surface="v1", model="speak-v2")
    assert_request_matches(p.build_status(job), status)
    update = p.parse_status(job, to_httpx_response(status))
    assert update.status is JobStatus.succeeded
    assert update.charged is True
    assert [o.url for o in update.outputs or ()] == ["https://cdn.higgsfield.ai/outputs/44/raw.mp4"]


def test_replay_speak_through_the_gateway() -> None:
    with replay(CASSETTES / "speak.yaml"), gateway() as gw:
        job = gw.status(gw.submit(SPEAK))
    assert job.provider_data["surface"] == "v1"
    assert job.status is JobStatus.succeeded


# -- motions ---------------------------------------------------------------------------------------
def test_motions_catalog() -> None:
    (interaction,) = cassette("motions")
    p = provider()
    call = next(p.motions_flow())
    assert_request_matches(call.request, interaction)
    with replay(CASSETTES / "motions.yaml"), gateway() as gw:
        motions = gw.catalog("higgsfield", "motions")
    assert [m["name"] for m in motions] == ["Dolly In", "FPV Drone"]


# -- marketplace listing ------------------------------------------------------------------------
def test_marketplace_submit_status_and_proxy_errors() -> None:
    submit, status, unsubscribed, quota = cassette("marketplace")
    p = market()
    request = GenerationRequest(
        model="dop-lite",
        prompt="a cat walks toward the camera",
        image="https://example.com/cat.jpg",
    )
    built = p.build_submit(p.prepare(request))
    assert_request_matches(built, submit)
    assert "authorization" not in built.headers
    accepted = p.parse_submit(p.prepare(request), to_httpx_response(submit))
    # the answer points at platform.higgsfield.ai; the listing's key must not go there
    assert accepted.provider_data["status_url"] == status.uri
    job = job_at(status).model_copy(
        update={"provider_data": {"surface": "v2", **accepted.provider_data}}
    )
    assert_request_matches(p.build_status(job), status)
    assert p.parse_status(job, to_httpx_response(status)).status is JobStatus.succeeded
    denied = p.classify(to_httpx_response(unsubscribed), Purpose.read)
    assert isinstance(denied, errors.AuthenticationError)
    assert denied.message == "You are not subscribed to this API."
    limited = p.classify(to_httpx_response(quota), Purpose.read)
    assert isinstance(limited, errors.RateLimitError)
    assert limited.retry_after == 42


def test_marketplace_reset_as_a_timestamp_and_the_current_proxy_marker() -> None:
    """RapidAPI documents x-ratelimit-reset as seconds or a timestamp: an epoch value is a
    point in time, not a 1.8e9 s cooldown; the marker header has two documented names."""
    from videogw_higgsfield.wire import proxy_retry_after

    (limited,) = cassette("marketplace_reset")
    response = to_httpx_response(limited)
    error = market().classify(response, Purpose.read)
    assert isinstance(error, errors.RateLimitError)  # marked by x-rapidapi-mock-response
    assert error.retry_after is not None
    assert error.retry_after < 86_400 * 366  # before: 1.8e9 s, the life of the process
    assert proxy_retry_after(response, now=1_800_000_000 - 30) == 30
    assert proxy_retry_after(response, now=1_800_000_000 + 30) == 0
    older = httpx.Response(429, headers={"x-rapidapi-proxy-response": "true"}, text="slow down")
    assert isinstance(market().classify(older, Purpose.read), errors.RateLimitError)


def test_replay_marketplace() -> None:
    request = GenerationRequest(
        model="dop-lite",
        prompt="a cat walks toward the camera",
        image="https://example.com/cat.jpg",
    )
    with replay(CASSETTES / "marketplace.yaml"), gateway(market()) as gw:
        job = gw.status(gw.submit(request))
    assert job.status is JobStatus.succeeded


# -- no secrets in cassettes --------------------------------------------------------------------
SECRETISH = re.compile(r"whsec_|Key [\w-]+:[\w-]+|sk-[A-Za-z0-9]{8}|[A-Fa-f0-9]{40}")


@pytest.mark.parametrize("path", sorted(CASSETTES.glob("*.yaml")), ids=lambda p: p.name)
def test_cassette_holds_no_secret_and_names_its_source(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("# Source: reference/providers.md")
    assert not SECRETISH.search(text)
    for interaction in load(path):
        for name in ("authorization", "x-rapidapi-key", "hf-api-key", "hf-secret"):
            assert interaction.request_headers.get(name, "REDACTED") == "REDACTED"


# -- the emulator answers the same requests with the same shapes -------------------------------
def emulator(**kwargs: Any) -> HiggsfieldEmulator:
    return HiggsfieldEmulator(clock=FakeClock(), **kwargs)


def answer(app: HiggsfieldEmulator, interaction: Interaction, **headers: str) -> httpx.Response:
    return emulator_answer(app, interaction, headers=headers or AUTH)


def same(got: httpx.Response, documented: Interaction) -> None:
    assert got.status_code == documented.status, got.text
    if documented.response_body:
        assert_same_shape(got.json(), documented.response_json())
    else:
        assert not got.content


def test_emulator_submit_and_status_shapes() -> None:
    app = emulator()
    submit, completed = cassette("submit_dop")
    same(answer(app, submit), submit)
    phases = {
        "1": "emulate:queue=1000",
        "2": "emulate:queue=0 emulate:run=1000",
        "3": "",
        "4": "",
        "5": "emulate:failed",
        "6": "emulate:nsfw",
        "7": "emulate:queue=1000",
    }
    for interaction in [completed, *cassette("status")]:
        rid = interaction.uri.split("/")[-2]
        digit = rid[-1] if rid.startswith("1111") else "3"
        model = "soul" if digit == "4" else "dop-lite"
        job = app.create_job(phases[digit], {"model": model, "images": 2}, job_id=rid)
        if digit == "7":
            job.cancelled_at = app.now()
        elif "queue=1000" not in phases[digit] and "run=1000" not in phases[digit]:
            job.created -= 1000
        same(answer(app, interaction), interaction)


def test_emulator_cancel_shapes() -> None:
    app = emulator()
    done, started = cassette("cancel")
    app.create_job("emulate:queue=1000", {"model": "dop-lite"}, job_id=done.uri.split("/")[-2])
    app.create_job("emulate:queue=0", {"model": "dop-lite"}, job_id=started.uri.split("/")[-2])
    same(answer(app, done), done)
    same(answer(app, started), started)


def test_emulator_upload_and_estimate_shapes() -> None:
    app = emulator()
    slot, put, submit = cassette("upload")
    given = answer(app, slot)
    same(given, slot)
    token_url = given.json()["upload_url"]  # the emulator's own storage target
    own = Interaction(**{**put.__dict__, "uri": token_url})
    same(emulator_answer(app, own, headers=given.json()["upload_headers"]), put)
    assert app.uploads[token_url.rsplit("/", 1)[1]]["data"] == b"not-really-a-jpeg"
    same(answer(app, submit), submit)
    (estimate,) = cassette("estimate")
    same(answer(app, estimate), estimate)


def test_emulator_error_shapes() -> None:
    unauthorized, broke, invalid, reused, busy, unknown = cassette("errors")
    same(answer(emulator(api_key="the-right:key"), unauthorized), unauthorized)
    same(answer(emulator(credits=1), broke), broke)
    same(answer(emulator(), invalid), invalid)
    app = emulator()
    first = Interaction(**{**reused.__dict__, "request_body": submit_body("a first cat")})
    assert answer(app, first).status_code == 200
    same(answer(app, reused), reused)
    app = emulator(max_concurrent=1)
    app.create_job("emulate:queue=1000", {"model": "dop-lite"})
    same(answer(app, busy), busy)
    same(answer(emulator(), unknown), unknown)


def submit_body(prompt: str) -> bytes:
    return f'{{"prompt":"{prompt}","image_url":"https://example.com/cat.jpg"}}'.encode()


def test_emulator_speak_and_motions_shapes() -> None:
    app = emulator()
    submit, status = cassette("speak")
    given = answer(app, submit)
    same(given, submit)
    job_set = given.json()["id"]
    app.jobs[job_set].created -= 10_000
    same(
        answer(
            app,
            Interaction(
                **{
                    **status.__dict__,
                    "uri": status.uri.replace("44444444-0000-4000-8000-000000000001", job_set),
                }
            ),
        ),
        status,
    )
    (motions,) = cassette("motions")
    same(answer(app, motions), motions)


def test_emulator_marketplace_shapes() -> None:
    submit, status, unsubscribed, quota = cassette("marketplace")
    headers = {"x-rapidapi-key": "rapid-key"}
    app = emulator(marketplace=True, api_key="rapid-key", quota=3)
    given = answer(app, submit, **headers)
    same(given, submit)
    assert given.json()["status_url"].startswith("https://platform.higgsfield.ai/")
    rid = given.json()["request_id"]
    app.jobs[rid].created -= 1000
    same(
        answer(
            app,
            Interaction(
                **{
                    **status.__dict__,
                    "uri": status.uri.replace("55555555-0000-4000-8000-000000000001", rid),
                }
            ),
            **headers,
        ),
        status,
    )
    denied = answer(app, unsubscribed, **{"x-rapidapi-key": "someone-else"})
    same(denied, unsubscribed)
    assert denied.headers["x-rapidapi-proxy-response"] == "true"
    answer(app, status, **headers)  # the third call of the quota
    limited = answer(app, quota, **headers)
    same(limited, quota)
    assert limited.headers["x-ratelimit-requests-remaining"] == "0"
    assert limited.headers["x-ratelimit-reset"] == "42"


# -- documented bodies: DoP without duration, Soul in the platform docs' shape ------------------
DOP_FRAMES = GenerationRequest(
    model="dop-standard",
    prompt="the camera pushes in on a lighthouse",
    image="https://example.com/first.jpg",
    end_image="https://example.com/last.jpg",
    motion={"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.6},
    seed=7,
    enhance_prompt=False,
    options={"second_motion": {"id": "5f0b4c3e-3a8f-4f43-9a38-0b1e0f6d2f0c", "strength": 0.3}},
    idempotency_key="vgw-6f1d2c3b-0000-4000-8000-000000000006",
)
SOUL = GenerationRequest(
    model="soul",
    prompt="a portrait of a cat in golden light",
    aspect_ratio="16:9",
    resolution="720p",
    seed=42,
    options={"batch_size": 2},
    idempotency_key="vgw-6f1d2c3b-0000-4000-8000-000000000005",
)


def test_dop_is_sent_only_its_documented_fields_and_a_duration_is_refused() -> None:
    """The docs' DoP schema has no duration and the API ignores unknown fields, so a 5 s
    request would silently bill the default length: refused (naming the field) instead."""
    (submit,) = cassette("submit_dop_frames")
    p = provider()
    assert_request_matches(p.build_submit(p.prepare(DOP_FRAMES)), submit)
    with pytest.raises(errors.UnsupportedRequestError) as caught:
        p.prepare(DOP_FRAMES.model_copy(update={"duration_s": 5}))
    assert caught.value.field == "duration_s"
    assert "ignore" in str(caught.value)
    app = emulator()
    same(answer(app, submit), submit)
    (job,) = app.jobs.values()
    assert job.data["ignored"] == []  # nothing the API would have dropped


def test_soul_is_sent_in_the_platform_docs_shape() -> None:
    """720p, batch_size and seed, as the platform docs' examples send them."""
    submit, completed = cassette("submit_soul")
    p = provider()
    assert_request_matches(p.build_submit(p.prepare(SOUL)), submit)
    update = p.parse_status(job_at(completed, model="soul"), to_httpx_response(completed))
    assert update.outputs is not None
    assert len(update.outputs) == 2
    app = emulator()
    same(answer(app, submit), submit)
    (job,) = app.jobs.values()
    assert job.data["ignored"] == []
    assert job.data["images"] == 2
    with replay(CASSETTES / "submit_soul.yaml") as played, gateway() as gw:
        done = gw.status(gw.submit(SOUL))
    assert played.play_count == 2
    assert [o.media_type for o in done.outputs] == ["image/png"] * 2


# -- any model by its path: higgsfield:<model path>, arguments passed through -------------------
SEEDREAM = GenerationRequest(
    model="higgsfield:bytedance/seedream/v4/text-to-image",
    prompt="A serene lake at sunset with mountains",
    aspect_ratio="16:9",
    options={"higgsfield": {"arguments": {"resolution": "2K", "camera_fixed": False}}},
    idempotency_key="vgw-6f1d2c3b-0000-4000-8000-000000000007",
)
TOO_BIG = GenerationRequest(
    model="higgsfield:bytedance/seedream/v4/text-to-image",
    prompt="A serene lake at sunset with mountains",
    options={"higgsfield": {"arguments": {"resolution": "8K"}}},
    idempotency_key="vgw-6f1d2c3b-0000-4000-8000-000000000008",
)


def test_a_model_path_is_submitted_with_its_arguments_as_documented() -> None:
    submit, _, _, rejected = cassette("passthrough_seedream")
    p = provider()
    prepared = p.prepare(SEEDREAM)
    assert prepared.model == "bytedance/seedream/v4/text-to-image"
    assert prepared.spec.task is Task.text_to_image
    assert_request_matches(p.build_submit(prepared), submit)
    assert_request_matches(p.build_submit(p.prepare(TOO_BIG)), rejected)
    with replay(CASSETTES / "passthrough_seedream.yaml") as played, gateway() as gw:
        job = gw.status(gw.submit(SEEDREAM))
        (quoted,) = gw.estimate(SEEDREAM)
    quote = quoted.estimate
    assert quote is not None
    assert played.play_count == 3
    assert job.model == "bytedance/seedream/v4/text-to-image"
    assert job.status is JobStatus.succeeded
    assert [o.url for o in job.outputs] == ["https://cdn.higgsfield.ai/outputs/7e3a4b5c/0.png"]
    assert (quote.amount, quote.currency, quote.usd) == (
        Decimal("1.000"),
        "credits",
        Decimal("0.062"),
    )
    assert quote.origin == "provider"


def test_a_model_path_needs_the_pin_and_an_unknown_option_still_names_itself() -> None:
    p = provider()
    with pytest.raises(errors.UnsupportedRequestError):  # unpinned: no provider guesses
        p.prepare(SEEDREAM.model_copy(update={"model": "bytedance/seedream/v4/text-to-image"}))
    with pytest.raises(errors.UnsupportedRequestError) as caught:
        p.prepare(DOP.model_copy(update={"options": {"arguments": {"x": 1}}}))
    assert caught.value.field == "options.arguments"
    for bad in ("higgsfield:requests/x/status", "higgsfield:../etc/passwd", "higgsfield:a//b"):
        with pytest.raises(errors.UnsupportedRequestError):
            p.prepare(SEEDREAM.model_copy(update={"model": bad}))


def test_the_providers_422_reaches_the_user_naming_the_field() -> None:
    *_, rejected = cassette("passthrough_seedream")
    with (
        replay(CASSETTES / "passthrough_seedream.yaml"),
        gateway() as gw,
        pytest.raises(errors.ProviderRejectedError) as caught,
    ):
        gw.submit(TOO_BIG)
    assert caught.value.status_code == 422
    assert caught.value.field == "resolution"
    assert "resolution: Input should be '1K', '2K' or '4K'" in str(caught.value)
    # the emulator gives the same answer to the same request
    app = emulator()
    same(answer(app, rejected), rejected)
    assert answer(app, rejected).json()["detail"][0]["loc"] == ["body", "resolution"]


def test_emulator_serves_the_documented_model_path() -> None:
    submit, completed, estimate, _ = cassette("passthrough_seedream")
    app = emulator()
    same(answer(app, submit), submit)
    same(answer(app, estimate), estimate)
    app.clock.advance(3600)  # type: ignore[attr-defined]
    (rid,) = app.jobs
    status = Interaction(
        **{**completed.__dict__, "uri": f"https://api.higgsfield.ai/requests/{rid}/status"}
    )
    same(answer(app, status), completed)


# -- DELETE /requests/{id}: drop a finished request's stored data ------------------------------
def test_delete_request_data_as_documented() -> None:
    (deleted,) = cassette("delete")
    job = job_at(cassette("submit_dop")[1])
    flow = provider().delete_flow(job)
    call = next(flow)
    assert_request_matches(call.request, deleted)
    with replay(CASSETTES / "delete.yaml") as played, gateway() as gw:
        gw.delete_data(job)
        gw.delete_data(job)  # idempotent: the same answer again
    assert played.play_count == 2
    speak = job.model_copy(update={"provider_data": {"surface": "v1"}})
    with pytest.raises(errors.UnsupportedOperationError):
        next(provider().delete_flow(speak))


def test_emulator_deletes_finished_requests_only() -> None:
    (deleted,) = cassette("delete")
    app = emulator()
    submit, _ = cassette("submit_dop")
    rid = answer(app, submit).json()["request_id"]
    mine = Interaction(**{**deleted.__dict__, "uri": f"https://api.higgsfield.ai/requests/{rid}"})
    assert answer(app, mine).status_code == 400  # still queued
    app.clock.advance(3600)  # type: ignore[attr-defined]
    same(answer(app, mine), deleted)
    same(answer(app, mine), deleted)
    status = Interaction(**{**mine.__dict__, "method": "GET", "uri": f"{mine.uri}/status"})
    body = answer(app, status).json()
    assert body["status"] == "completed"
    assert "video" not in body  # the outputs are gone; the status still answers


# -- emulator credentials: a configured key, and the legacy headers -----------------------------
def test_emulator_checks_the_expected_key_and_accepts_the_legacy_headers() -> None:
    """docs /authentication: ``Authorization: Key id:secret``; the legacy ``hf-api-key`` +
    ``hf-secret`` headers are still accepted; bad credentials -> 401 Invalid credentials."""
    unauthorized = cassette("errors")[0]
    app = emulator(api_key="the-right:key")
    submit, _ = cassette("submit_dop")
    same(answer(app, submit, authorization="Key the-right:key"), submit)
    legacy = {"hf-api-key": "the-right", "hf-secret": "key"}
    same(emulator_answer(app, submit, headers=legacy), submit)
    for wrong in ({"hf-api-key": "the-right", "hf-secret": "nope"}, {"hf-api-key": "x"}):
        same(emulator_answer(app, unauthorized, headers=wrong), unauthorized)
    same(answer(app, unauthorized, authorization="Key wrong:key"), unauthorized)


def test_models_catalog_lists_paths_callable_by_path() -> None:
    """``GET /models`` (slug, operation_type, output_type, base_credits): each slug can be
    called as ``higgsfield:<slug>``; the emulator lists what it serves."""
    app = emulator()
    from videogw.emulator import SyncEmulatorTransport

    with Gateway(
        providers=[provider()],
        registry=registry_with(HiggsfieldProvider),
        transports={"higgsfield": SyncEmulatorTransport(app)},
    ) as gw:
        models = gw.catalog("higgsfield", "models")
        slugs = {m["slug"] for m in models}
        assert {"higgsfield-ai/dop/lite", "bytedance/seedream/v4/text-to-image"} <= slugs
        assert {"operation_type", "output_type", "base_credits"} <= set(models[0])
        job = gw.submit(
            model="higgsfield:higgsfield-ai/soul/reference",
            prompt="a cat",
            options={"higgsfield": {"arguments": {"image_reference_url": "https://e.com/r.jpg"}}},
        )
    assert job.provider_job_id in app.jobs
