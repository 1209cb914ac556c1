"""Fuzzing every provider's edges with hypothesis: whatever a user passes and whatever a
provider answers, videogw raises nothing but its own typed errors (`VideoGWError`).

- Requests: random `GenerationRequest` inputs (valid and junk values for every field,
  provider options included) through `Gateway.submit` against the in-process emulators.
- Answers: random status codes, headers and bodies (random JSON, random bytes, and the
  emulators' own answers mutated: keys dropped, values replaced, bodies truncated) fed to
  `classify` and then, as the engine does when `classify` lets an answer through,
  `parse_submit` / `parse_status` / `parse_cancel`.
- Webhooks: random headers, query strings and bodies (for Higgsfield also correctly signed
  random bodies, for Pixazo deliveries with the right token) fed to `parse_webhook`.
- Hostile answers (issue 16): real answers nested thousands of levels deep, strings with
  control characters (job ids included, which then go into status and cancel URLs), and
  huge values (integers of thousands of digits, 1e400, 100 KB strings).
- The command line: random arguments for every request option, job ids and limits,
  through the real CLI (typer's runner) on toy emulators; each ends in a documented exit
  code and one error line, never a traceback.

Provider variants: Higgsfield (platform, and marketplace mode), Segmind (queue, and sync
mode), Pixazo, and the hfrelay gateways. Examples per target are bounded (200) and
derandomized for CI; ``VIDEOGW_FUZZ=deep`` explores 5,000 random examples per target.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import string
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from videogw import Config, Gateway, GenerationRequest, Job, JobStatus, MemoryStore
from videogw.emulator import FakeClock, SyncEmulatorTransport
from videogw.emulator.harness import emulate
from videogw.errors import VideoGWError
from videogw.provider import Prepared, Provider, Purpose
from videogw.testing import registry_with
from videogw_hfrelay import HfRelayProvider
from videogw_higgsfield import HiggsfieldProvider
from videogw_pixazo import PixazoProvider
from videogw_pixazo.provider import TOKEN_PARAM
from videogw_segmind import SegmindProvider

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "deep",
    max_examples=5000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("deep" if os.environ.get("VIDEOGW_FUZZ") == "deep" else "ci")

CLASSES = (HiggsfieldProvider, SegmindProvider, PixazoProvider, HfRelayProvider)
MOTION = {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.5}
CAT = "https://example.com/cat.jpg"
VOICE = "https://example.com/voice.wav"
# provider class, emulator arguments, settings on top of the emulator's, a request it serves
VARIANTS: dict[str, tuple[type[Provider], dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "higgsfield": (HiggsfieldProvider, {}, {}, {"model": "dop-lite", "motion": MOTION}),
    "higgsfield-speak": (
        HiggsfieldProvider,
        {},
        {},
        {"model": "speak-v2", "audio": VOICE, "duration_s": 5},
    ),
    "hf-market": (
        HiggsfieldProvider,
        {"marketplace": True},
        {"mode": "marketplace", "base_url": "https://higgsfield-api.p.rapidapi.com"},
        {"model": "dop-lite"},
    ),
    "segmind": (SegmindProvider, {}, {}, {"model": "dop-lite", "motion": MOTION}),
    "segmind-sync": (SegmindProvider, {}, {"mode": "sync"}, {"model": "dop-lite"}),
    "pixazo": (
        PixazoProvider,
        {},
        {},
        {"model": "dop-lite", "motion": MOTION, "webhook_url": "https://hooks.example.com/p"},
    ),
    "hfrelay": (HfRelayProvider, {}, {}, {"model": "dop-lite", "motion": {"id": MOTION["id"]}}),
}
OUTCOMES = ("", " emulate:failed", " emulate:nsfw", " emulate:error", " emulate:queue=500")


def base_request(variant: str, **changes: Any) -> dict[str, Any]:
    return {"prompt": "a cat turns its head", "image": CAT, **VARIANTS[variant][3], **changes}


# -- the providers, their emulators, and real answers to mutate ---------------------------


class Recording(SyncEmulatorTransport):
    def __init__(self, app: Any, seen: list[tuple[int, dict[str, str], bytes]]) -> None:
        super().__init__(app)
        self.seen = seen

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.seen.append((response.status_code, dict(response.headers), response.content))
        return response


class World:
    """For each variant: a provider, a prepared request, real jobs in every state, and
    the answers its emulator gave along the way."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.registry = registry_with(*CLASSES)
        self.outputs = tempfile.TemporaryDirectory()  # Segmind's sync mode saves videos
        self.providers: dict[str, Provider] = {}
        self.prepared: dict[str, Prepared] = {}
        self.jobs: dict[str, list[Job]] = {}
        self.answers: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        for variant, (cls, emulator_args, extra, _) in VARIANTS.items():
            base_url = cls.default_base_url or f"https://{cls.name}.emulator.test"
            settings_ = {**cls.emulator_settings(base_url), **extra}
            if cls is SegmindProvider:
                settings_["output_dir"] = self.outputs.name
            provider = cls(cls.Settings.model_validate(settings_), instance=cls.name)
            self.providers[variant] = provider
            self.prepared[variant] = provider.prepare(
                GenerationRequest.model_validate(base_request(variant))
            )
            app = cls.emulator(clock=self.clock, **emulator_args)
            self.answers[variant], self.jobs[variant] = self._run(variant, settings_, app)

    def _run(
        self, variant: str, settings_: dict[str, Any], app: Any
    ) -> tuple[list[tuple[int, dict[str, str], bytes]], list[Job]]:
        cls = VARIANTS[variant][0]
        seen: list[tuple[int, dict[str, str], bytes]] = []
        jobs: list[Job] = []
        with Gateway(
            Config.model_validate({"providers": {cls.name: settings_}}),
            transports={cls.name: Recording(app, seen)},
            registry=self.registry,
            clock=self.clock,
            store=MemoryStore(),
        ) as gateway:
            for outcome in OUTCOMES:
                prompt = f"a cat turns its head{outcome}"
                pinned = f"{cls.name}:{_model(variant)}"
                gateway.reset_provider()
                job = gateway.submit(base_request(variant, prompt=prompt, model=pinned))
                jobs.append(job)
                for wait in (1.0, 10_000.0 if "queue" not in outcome else 1.0):
                    if not job.status.is_terminal and job.provider_job_id:
                        self.clock.advance(wait)
                        job = gateway.status(job)
                        jobs.append(job)
        return seen, jobs


def _model(variant: str) -> str:
    return str(VARIANTS[variant][3]["model"])


@cache
def world() -> World:
    return World()


# -- strategies ----------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)
WORDS = st.sampled_from(
    [
        "queued", "in_progress", "completed", "failed", "nsfw", "canceled", "QUEUED",
        "PROCESSING", "COMPLETED", "FAILED", "ERROR", "", "https://x.test/v.mp4",
        "http://x.test/v.mp4", "2026-05-22T13:17:32.110Z", "2026-05-22 13:19:23", "0.135",
        "1e400", "NaN", "-1",
    ]
)  # fmt: skip
VALUES = JSON | WORDS | st.just({"url": "https://x.test/v.mp4"}) | st.just([{"url": 1}])


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """A real answer with parts dropped, replaced or added."""
    choice = draw(st.integers(0, 9))
    if choice == 0 or depth > 4:
        return draw(VALUES)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            fate = draw(st.integers(0, 5))
            if fate == 0:
                continue  # dropped
            out[key] = draw(mutated(item, depth + 1)) if fate == 1 else item
        if draw(st.integers(0, 4)) == 0:
            out[draw(st.text(max_size=10) | st.sampled_from(sorted(value) or ["x"]))] = draw(VALUES)
        return out
    if isinstance(value, list):
        items = [draw(mutated(item, depth + 1)) if draw(st.booleans()) else item for item in value]
        if draw(st.integers(0, 4)) == 0:
            items.append(draw(VALUES))
        return items
    return value if choice < 6 else draw(VALUES)


HEADER_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " -:;,./=_+", max_size=40)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(
            ["application/json", "text/plain", "text/html", "video/mp4", "application/xml", ""]
        )
        | HEADER_TEXT,
        "retry-after": HEADER_TEXT | st.integers(-5, 10**12).map(str),
        "x-rate-limit-reset-at-utc": HEADER_TEXT
        | st.sampled_from(["2026-05-22T13:17:32Z", "1e30"]),
        "x-ratelimit-reset": HEADER_TEXT,
        "x-cost": HEADER_TEXT | st.sampled_from(["0.135", "-1", "nan", "1e999"]),
        "x-remaining-credits": HEADER_TEXT | st.sampled_from(["99.5", "inf"]),
        "x-request-id": HEADER_TEXT,
        "x-rapidapi-proxy-response": st.sampled_from(["true", "false"]),
    },
)
STATUS_CODES = st.sampled_from(
    [200, 201, 202, 204, 400, 401, 402, 403, 404, 405, 406, 409, 422, 423, 429, 500, 502, 503]
) | st.integers(100, 599)


@st.composite
def answers(draw: st.DrawFn, variant: str) -> tuple[int, dict[str, str], bytes]:
    """A status code, headers and body: a real answer mutated, or anything at all."""
    real = world().answers[variant]
    status, headers, body = draw(st.sampled_from(real))
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        body = json.dumps(draw(mutated(data))).encode()
    elif kind == 6:
        body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
    elif kind == 7:
        body = draw(st.binary(max_size=200))
    elif kind == 8:
        body = json.dumps(draw(JSON)).encode()
    elif kind == 9:
        body = draw(hostile(body))
    if draw(st.booleans()):
        status = draw(STATUS_CODES)
    if draw(st.booleans()):
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        headers.update(draw(HEADERS))
    headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    return status, headers, body


CONTROL = st.text(alphabet=st.characters(max_codepoint=0x9F, categories=("Cc",)), min_size=1)
HUGE = st.sampled_from(
    [
        "1" * 5000,
        "-" + "9" * 4400,
        "1e400",
        "-1e400",
        "1" + "0" * 400 + ".5",
        '"' + "x" * 100_000 + '"',
    ]
)


@st.composite
def hostile(draw: st.DrawFn, body: bytes) -> bytes:
    """A real answer made hostile: nested deep, control characters, huge values."""
    try:
        data = json.loads(body)
    except ValueError:
        data = {}
    how = draw(st.integers(0, 3))
    if how == 0:  # the whole answer (or a value in it) buried thousands of levels deep
        depth = draw(st.sampled_from([65, 200, 999, 1500, 5000, 100_000]))
        inner = json.dumps(data)
        if isinstance(data, dict) and data and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(data)))
            inner = json.dumps({**data, key: None}).replace(
                "null", "[" * depth + "1" + "]" * depth, 1
            )
            return inner.encode()
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return (opener * depth + inner + closer * depth).encode()
    if how == 1 and isinstance(data, dict) and data:  # control characters in any string
        key = draw(st.sampled_from(sorted(data)))
        text = draw(st.text(max_size=8)) + draw(CONTROL) + draw(st.text(max_size=8))
        return json.dumps({**data, key: text}).encode()
    if isinstance(data, dict) and data:  # a huge value in place of any one
        key = draw(st.sampled_from(sorted(data)))
        return json.dumps({**data, key: None}).replace("null", draw(HUGE), 1).encode()
    return draw(HUGE).encode()


def response(status: int, headers: dict[str, str], body: bytes, method: str) -> httpx.Response:
    request = httpx.Request(method, "https://provider.example.com/x")
    return httpx.Response(status, headers=headers, content=body, request=request)


def signature(secret: str, msg_id: str, stamp: float, body: bytes) -> str:
    """A Standard Webhooks signature over any bytes (UTF-8 or not)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{int(stamp)}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def typed_only(what: Callable[[], Any]) -> Any:
    """Run `what`; anything raised must be one of videogw's typed errors."""
    try:
        return what()
    except VideoGWError:
        return None


# -- answers: classify, then parse ------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_submit_answers_raise_only_typed_errors(variant: str) -> None:
    provider, prepared = world().providers[variant], world().prepared[variant]
    reached: Counter[str] = Counter()

    @FUZZ
    @given(answers(variant))
    def check(answer: tuple[int, dict[str, str], bytes]) -> None:
        sent = response(*answer, "POST")
        error = typed_only(lambda: provider.classify(sent, Purpose.submit))
        if error is None and sent.status_code < 400:
            accepted = typed_only(lambda: provider.parse_submit(prepared, sent))
            reached["accepted" if accepted is not None else "refused"] += 1
        elif error is not None:
            assert isinstance(error, VideoGWError)
            reached["classified"] += 1

    check()
    assert all(reached[k] for k in ("accepted", "refused", "classified")), reached


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_status_answers_raise_only_typed_errors(variant: str) -> None:
    provider, jobs = world().providers[variant], world().jobs[variant]
    reached: Counter[str] = Counter()

    @FUZZ
    @given(answers(variant), st.sampled_from(jobs))
    def check(answer: tuple[int, dict[str, str], bytes], job: Job) -> None:
        sent = response(*answer, "GET")
        error = typed_only(lambda: provider.classify(sent, Purpose.read))
        if error is None:
            update = typed_only(lambda: provider.parse_status(job, sent))
            if update is not None:
                assert isinstance(update.status, JobStatus)
                reached[update.status.value] += 1

    check()
    if variant != "segmind-sync":  # sync mode never reads a status: it is done at submit
        assert len(reached) >= 2, reached  # answers got through to more than one status


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_cancel_and_upload_answers_raise_only_typed_errors(variant: str) -> None:
    provider, jobs = world().providers[variant], world().jobs[variant]

    @FUZZ
    @given(answers(variant), st.sampled_from(jobs), st.sampled_from(["POST", "PUT"]))
    def check(answer: tuple[int, dict[str, str], bytes], job: Job, method: str) -> None:
        sent = response(*answer, method)
        typed_only(lambda: provider.classify(sent, Purpose.upload))
        if typed_only(lambda: provider.classify(sent, Purpose.cancel)) is None:
            typed_only(lambda: provider.parse_cancel(job, sent))

    check()


# -- webhooks --------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_webhook_deliveries_raise_only_typed_errors(variant: str) -> None:
    provider, jobs = world().providers[variant], world().jobs[variant]
    secrets = getattr(provider, "webhook_secrets", lambda: [])()
    reached: Counter[str] = Counter()

    @FUZZ
    @given(
        answers(variant),
        st.sampled_from(jobs),
        st.dictionaries(st.sampled_from([TOKEN_PARAM, "x", "job"]), HEADER_TEXT, max_size=2),
        st.integers(0, 3),
    )
    def check(
        answer: tuple[int, dict[str, str], bytes], job: Job, query: dict[str, str], how: int
    ) -> None:
        _, headers, body = answer
        token = job.provider_data.get("webhook_token")
        if how == 1 and isinstance(token, str):
            query = {**query, TOKEN_PARAM: token}  # a delivery that passes Pixazo's check
        if how >= 2 and secrets:  # a delivery Higgsfield's signature check accepts
            msg_id = f"msg_{len(body)}_{time.monotonic_ns()}"
            stamp = time.time() if how == 2 else time.time() - 10_000
            headers = {
                **headers,
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(stamp)),
                "webhook-signature": signature(secrets[0], msg_id, stamp, body),
            }
        update = typed_only(lambda: provider.parse_webhook(headers, body, job=job, query=query))
        reached["accepted" if update is not None else "rejected"] += 1
        typed_only(lambda: provider.parse_webhook(headers, body, job=None, query=query))

    check()
    if variant in ("higgsfield", "pixazo"):  # deliveries got past verification to the body
        assert reached["accepted"], reached


# -- requests: whatever a user passes ---------------------------------------------------------

MODELS = st.sampled_from(
    ["dop-lite", "dop-turbo", "dop-standard", "speak-v2", "soul", "kling-2.1-pro", "hf-ads",
     "seedance-1-lite", "higgsfield:dop-lite", "segmind:speak-v2", "pixazo:dop-lite",
     "hfrelay:hf-ads", "pixazo:speak-v2", "nobody:dop-lite", "dop-preview", "lite", ":", ""]
)  # fmt: skip
MEDIA = (
    st.sampled_from([CAT, VOICE, "http://example.com/cat.jpg", "https://", "/no/such/file.png"])
    | st.binary(min_size=0, max_size=40).map(lambda b: b"\x89PNG" + b)
    | st.fixed_dictionaries({"url": st.just(CAT)}, optional={"content_type": st.text(max_size=20)})
    | SCALARS
)
OPTION_KEYS = sorted({key for cls in CLASSES for key in cls.Options.model_fields} | {"nope"})
OPTIONS = st.dictionaries(
    st.sampled_from(OPTION_KEYS),
    SCALARS
    | st.sampled_from(["terminal", "sync", "1024x1024", "/tmp/out.mp4", "voice-1"])
    | st.lists(MEDIA, max_size=3)
    | st.fixed_dictionaries({"id": st.text(max_size=10)}, optional={"strength": SCALARS}),
    max_size=3,
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "task": st.sampled_from(
        ["image_to_video", "speech_to_video", "text_to_image", "ad_video", "text_to_video"]
    )
    | SCALARS,
    "prompt": st.text(max_size=60) | st.just("a cat emulate:failed") | SCALARS,
    "image": MEDIA,
    "end_image": MEDIA,
    "audio": MEDIA,
    "duration_s": st.sampled_from([5, 10, 15]) | SCALARS,
    "quality": st.sampled_from(["mid", "high", "720p"]) | SCALARS,
    "seed": st.integers(-10, 2_000_000) | SCALARS,
    "motion": st.fixed_dictionaries(
        {"id": st.sampled_from([MOTION["id"], ""]) | st.text(max_size=10)},
        optional={"strength": st.floats(-1, 2) | SCALARS},
    )
    | SCALARS,
    "aspect_ratio": st.sampled_from(["16:9", "1:1", "9:16", "99:1", "16x9"]) | SCALARS,
    "resolution": st.sampled_from(["720", "1080", "2K", "4K"]) | SCALARS,
    "enhance_prompt": SCALARS,
    "options": OPTIONS | SCALARS,
    "webhook_url": st.sampled_from(["https://hooks.example.com/x", "http://x.test"]) | SCALARS,
    "idempotency_key": st.text(max_size=20) | SCALARS,
    "labels": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2) | SCALARS,
}
VALID_MODELS = [
    "dop-lite",
    "dop-turbo",
    "dop-standard",
    "higgsfield:dop-lite",
    "segmind:dop-lite",
    "pixazo:dop-lite",
    "hfrelay:dop-turbo",
    "higgsfield:speak-v2",
    "segmind:speak-v2",
]
VALID = st.fixed_dictionaries(
    {
        "model": st.sampled_from(VALID_MODELS),
        "prompt": st.sampled_from(["a cat", "a cat emulate:failed", "猫が振り向く"]),
        "image": st.just(CAT),
        "motion": st.just({"id": MOTION["id"]}),
    },
    optional={
        "seed": st.integers(1, 1_000_000),
        "duration_s": st.sampled_from([5, 10]),
        "enhance_prompt": st.booleans(),
        "audio": st.just(VOICE),
        "webhook_url": st.just("https://hooks.example.com/x"),
        "idempotency_key": st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=20),
    },
)
ONE_FIELD = st.sampled_from(sorted(FIELDS)).flatmap(
    lambda name: FIELDS[name].map(lambda value: (name, value))
)
REQUESTS = (
    VALID  # mostly fine: reaches the providers' submit paths
    | st.tuples(VALID, st.lists(ONE_FIELD, min_size=1, max_size=2)).map(
        lambda pair: {**pair[0], **dict(pair[1])}  # fine but for a field or two
    )
    | st.fixed_dictionaries({"model": MODELS | st.text(max_size=20)}, optional=FIELDS)
)


@pytest.fixture(scope="module")
def gateway() -> Any:
    clock = FakeClock()
    emulated = emulate([c.name for c in CLASSES], registry=registry_with(*CLASSES), clock=clock)
    gw = emulated.gateway(sync=True, clock=clock)
    yield gw
    gw.close()


def test_random_requests_raise_only_typed_errors(gateway: Any) -> None:
    reached: Counter[str] = Counter()

    @FUZZ
    @given(REQUESTS)
    def check(fields: dict[str, Any]) -> None:
        job = typed_only(lambda: gateway.submit(fields))
        if job is not None:
            assert isinstance(job, Job)
            assert job.status in JobStatus
            reached[str(job.provider)] += 1
        else:
            reached["refused"] += 1

    check()
    assert reached["refused"], reached
    assert len(reached) >= 3, reached  # submits got through to several providers


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_prepared_requests_build_and_price_without_surprises(variant: str) -> None:
    """What `prepare` accepts, the provider can also price and build a submit for."""
    provider = world().providers[variant]

    @FUZZ
    @given(REQUESTS)
    def check(fields: dict[str, Any]) -> None:
        fields = {**fields, "model": _model(variant)}
        request = (
            typed_only(lambda: GenerationRequest.model_validate(fields)) if _valid(fields) else None
        )
        if request is None:
            return
        prepared = typed_only(lambda: provider.prepare(request))
        if prepared is None:
            return
        typed_only(lambda: provider.estimate(prepared))
        flow = provider.submit_flow(prepared)
        call = typed_only(lambda: next(flow))
        if call is not None:
            assert isinstance(call.request, httpx.Request)

    check()


def _valid(fields: dict[str, Any]) -> bool:
    try:
        GenerationRequest.model_validate(fields)
    except ValueError:  # pydantic's ValidationError: refused before any provider sees it
        return False
    return True


@pytest.mark.parametrize("reset", ["1E30", "1E20", "nan", "inf", "-1e20"])
def test_an_absurd_segmind_rate_limit_reset_is_ignored(reset: str) -> None:
    # found by the fuzzer: datetime.fromtimestamp raised OverflowError/OSError/ValueError
    provider = world().providers["segmind"]
    answer = response(429, {"x-rate-limit-reset-at-utc": reset}, b'{"error": "slow"}', "GET")
    error = provider.classify(answer, Purpose.read)
    assert error is not None
    assert error.retryable
    assert error.retry_after is None


# -- hostile provider job ids ------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_provider_job_ids_with_control_characters_build_safe_requests(variant: str) -> None:
    """An id the provider chose goes into the status and cancel URLs: quoted, never an
    `httpx.InvalidURL` (Segmind interpolated it unquoted)."""
    provider, jobs = world().providers[variant], world().jobs[variant]
    accepted = [job for job in jobs if job.provider_job_id]

    @FUZZ
    @given(
        st.sampled_from(accepted),
        st.text(max_size=10) | st.just(""),
        CONTROL | st.sampled_from(["/../", "?x=1#", " ", "%00", "\u2028", "é" * 70]),
        st.dictionaries(
            st.sampled_from(["status_url", "cancel_url"]),
            st.sampled_from(["https://platform.higgsfield.ai/requests/x\x01/status", "https://"]),
            max_size=2,
        ),
    )
    def check(job: Job, head: str, tail: str, urls: dict[str, str]) -> None:
        strange = job.model_copy(
            update={
                "provider_job_id": f"{head}{tail}{head}" or tail,
                "provider_data": {**job.provider_data, **urls},
            }
        )
        builds = [provider.build_status]
        if provider.capabilities.cancel:
            builds.append(provider.build_cancel)
        for build in builds:
            request = typed_only(lambda build=build: build(strange))
            if request is not None:
                assert isinstance(request, httpx.Request)
                assert request.url.host

    check()


# -- the command line ----------------------------------------------------------------------------

ARG_TEXT = st.text(max_size=20) | CONTROL | st.sampled_from(["", "-", "--", "=", "1e400", "NaN"])
ARG_INT = (
    st.sampled_from([str(10**30), str(2**63), str(-(2**63) - 1), "0", "-1"])
    | st.integers(-(2**70), 2**70).map(str)
    | st.sampled_from(["10**30", "0x10", "1.5", "∞"])
)
DEPTHS = st.sampled_from([1, 3, 70, 999, 1500, 5000])
JSON_TEXT = (
    DEPTHS.map(lambda n: "[" * n + "]" * n)
    | DEPTHS.map(lambda n: '{"a":' * n + "1" + "}" * n)
    | HUGE
    | ARG_TEXT
)
CLI_OPTIONS: dict[str, st.SearchStrategy[str]] = {
    "--prompt": ARG_TEXT,
    "--image": st.sampled_from([CAT, "http://x.test/a.jpg", "/no/such.png", "https://"]) | ARG_TEXT,
    "--duration": ARG_INT,
    "--seed": ARG_INT,
    "--motion": st.sampled_from(["m-1", "m-1:0.5", "m-1:7", "m-1:nan", ":", "a:b:c"]) | ARG_TEXT,
    "--quality": ARG_TEXT,
    "--aspect-ratio": ARG_TEXT,
    "--resolution": ARG_TEXT,
    "--option": st.tuples(ARG_TEXT, JSON_TEXT).map(lambda kv: f"{kv[0]}={kv[1]}") | ARG_TEXT,
    "--idempotency-key": ARG_TEXT,
}
REQUEST_COMMANDS = ["estimate", "explain", "compare", "submit"]
JOB_COMMANDS = ["status", "wait", "cancel", "download"]
EXIT_CODES = {0, 1, 2, 3, 4}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    kind = draw(st.integers(0, 2))
    if kind == 0:
        args = [draw(st.sampled_from(REQUEST_COMMANDS))]
        args += [
            "--model",
            draw(st.sampled_from(["dop-lite", "toy:dop-lite", "dop-lit", ""]) | ARG_TEXT),
        ]
        for name in draw(st.lists(st.sampled_from(sorted(CLI_OPTIONS)), max_size=4)):
            args += [name, draw(CLI_OPTIONS[name])]
        return args
    if kind == 1:
        return [draw(st.sampled_from(JOB_COMMANDS)), draw(ARG_TEXT | st.just("0" * 40))]
    args = ["jobs"]
    if draw(st.booleans()):
        args += ["-n", draw(ARG_INT)]
    if draw(st.booleans()):
        args += ["--status", draw(st.sampled_from(["failed", "bogus"]) | ARG_TEXT)]
    if draw(st.booleans()):
        args += ["--provider", draw(ARG_TEXT)]
    return args


def test_random_command_lines_end_in_a_documented_exit_code() -> None:
    from typer.testing import CliRunner

    from toy import SecondToyProvider, ToyProvider
    from videogw.cli import app
    from videogw.commands.common import CliState

    clock = FakeClock()
    emulated = emulate(
        ["toy", "toy2"], registry=registry_with(ToyProvider, SecondToyProvider), clock=clock
    )
    from videogw.ledger import SQLiteLedger

    folder = tempfile.TemporaryDirectory()
    store = SQLiteLedger(os.path.join(folder.name, "ledger.sqlite3"))  # -n reaches SQLite

    def factory(config: Config) -> Gateway:
        gateway: Gateway = emulated.gateway(sync=True, store=store, clock=clock)
        return gateway

    codes: Counter[int] = Counter()

    @settings(FUZZ, max_examples=min(FUZZ.max_examples, 60))  # each builds the whole CLI
    @given(command_lines())
    def check(args: list[str]) -> None:
        result = CliRunner().invoke(app, ["--", *args][1:], obj=CliState(gateway_factory=factory))
        codes[result.exit_code] += 1
        assert result.exit_code in EXIT_CODES, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args,
            repr(result.exception),
        )
        assert "Traceback" not in result.stderr, args
        assert "unexpected" not in result.stderr, (args, result.stderr)

    try:
        check()
    finally:
        store.close()
        folder.cleanup()
    assert codes[2], codes  # refusals were reached ...
    assert codes[0], codes  # ... and so were successes
