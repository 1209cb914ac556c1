"""The provider contract: sans-I/O, like httpx's auth flows.

A provider *builds* `httpx.Request`s and *parses* `httpx.Response`s; it never sends
anything. Multi-step operations (upload then submit, status then result) are written once
as generators ("flows") that yield a `Call` and receive its `httpx.Response`; the engine
drives them for sync and async alike. A provider answers:

- `prepare(request)`: validate and map a neutral request (raises before any I/O);
- `submit_flow` / `build_submit` / `parse_submit`;
- `status_flow` / `build_status` / `parse_status`;
- `cancel_flow` / `build_cancel` / `parse_cancel` (or `capabilities.cancel = False`);
- `estimate`, `classify` (HTTP answer -> typed error), `parse_webhook`, `emulator`.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from . import errors, motions, wire
from .errors import (
    InvalidRequestError,
    MalformedResponseError,
    MissingCredentialsError,
    ProviderError,
    UnsupportedOperationError,
    UnsupportedRequestError,
)
from .models import (
    Capabilities,
    CostEstimate,
    GenerationRequest,
    Job,
    JobError,
    JobStatus,
    ModelSpec,
    Output,
    Task,
)
from .motions import CATALOGUE, neutral_name

if TYPE_CHECKING:
    from .emulator.app import Emulator

__all__ = [
    "Accepted",
    "Call",
    "Flow",
    "Prepared",
    "Provider",
    "ProviderOptions",
    "ProviderSettings",
    "Purpose",
    "StatusUpdate",
    "json_loads",
]

T = TypeVar("T")

MAX_JSON_DEPTH = 64  # no provider answer nests deeper than a handful of levels
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


class JSONDepthError(ValueError):
    """JSON nested deeper than a provider answer ever is."""


def json_loads(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` for untrusted text: a `ValueError` (never `RecursionError`) for
    anything not JSON, nested deeper than `max_depth`, or with an integer too long to
    convert. Plugins parse provider answers and webhook bodies with it."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") > max_depth:  # only then can it be too deep
        depth = 0
        for match in _JSON_BRACKET.finditer(_JSON_STRING.sub(b"", raw)):
            depth += 1 if match.group() in (b"[", b"{") else -1
            if depth > max_depth:
                raise JSONDepthError(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except RecursionError:
        raise JSONDepthError("JSON nested too deeply") from None


class Purpose(StrEnum):
    """Why a request is sent; the engine's retry rules depend on it."""

    submit = "submit"  # creates a paid job: never retried blindly
    read = "read"  # status, result, catalog, estimate: safe to retry
    cancel = "cancel"  # safe to retry
    upload = "upload"  # input upload: creates nothing billable, safe to retry


@dataclass(frozen=True, slots=True)
class Call:
    provider: str
    request: httpx.Request
    purpose: Purpose
    # Whether a submit may be replayed with the same idempotency key. None: as the
    # provider's capabilities say. A provider sets False for an endpoint that does not
    # honour the key (e.g. a legacy surface), so a drop there stays an unknown outcome.
    replayable: bool | None = None

    def may_replay(self, provider_idempotent: bool) -> bool:
        return provider_idempotent if self.replayable is None else self.replayable


Flow = Generator[Call, httpx.Response, T]


class ProviderOptions(BaseModel):
    """Provider-specific request extras (`GenerationRequest.options`). Unknown keys fail."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderSettings(BaseModel):
    """Per-provider configuration (one ``[providers.NAME]`` table). Plugins subclass it.

    Secrets are `SecretStr` and are read from environment variables named here, never
    from the config file.
    """

    model_config = ConfigDict(extra="forbid")

    plugin: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    max_concurrency: int = Field(default=16, ge=1)
    # jobs live at this provider at once over every process sharing the ledger (Higgsfield
    # limits concurrent jobs per account); a submit beyond it goes to the next candidate
    max_in_flight: int | None = Field(default=None, ge=1)
    prices: dict[str, Decimal] = Field(default_factory=dict)
    #: neutral motion name -> this provider's preset id (``{"dolly-in" = "<id>"}``)
    motions: dict[str, str] = Field(default_factory=dict)
    expected_job_s: float | None = Field(default=None, gt=0)  # overrides typical job times
    # skip this provider when the balance it last reported is below this (where it reports one)
    low_credit_threshold: Decimal | None = Field(default=None, ge=0)

    @field_validator("motions")
    @classmethod
    def _neutral_motions(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(k for k in value if neutral_name(k) != k)
        if unknown:
            raise ValueError(
                f"not a neutral motion name: {', '.join(unknown)} "
                f"(the names are: {', '.join(CATALOGUE)})"
            )
        return value


@dataclass(frozen=True)
class Prepared:
    """A request validated for one provider: the neutral model resolved to the provider's."""

    request: GenerationRequest
    provider: str
    model: str
    spec: ModelSpec
    options: ProviderOptions
    provider_data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def duration(self) -> int | None:
        return self.request.duration_s or self.spec.default_duration


@dataclass(frozen=True)
class StatusUpdate:
    """What one status read (or webhook) says about a job. `None` fields mean "unchanged"."""

    status: JobStatus
    raw_status: str | None = None
    outputs: tuple[Output, ...] | None = None
    error: JobError | None = None
    actual_cost: Decimal | None = None
    cost_currency: str | None = None
    charged: bool | None = None
    remaining_credits: Decimal | None = None
    progress: float | None = None
    provider_data: Mapping[str, Any] = field(default_factory=dict, repr=False)
    provider_job_id: str | None = None  # webhooks: which job this is about
    dedupe_key: str | None = None  # webhooks: the same key means the same delivery


@dataclass(frozen=True)
class Accepted:
    """The provider took the job and gave it an id."""

    provider_job_id: str
    status: JobStatus = JobStatus.queued
    raw_status: str | None = None
    provider_data: Mapping[str, Any] = field(default_factory=dict, repr=False)
    provider_request_id: str | None = None
    update: StatusUpdate | None = None  # when the submit answer already says more (sync mode)


# The default reading of HTTP status codes; `classify` refines it per provider.
DEFAULT_ERRORS: Mapping[int, type[ProviderError]] = {
    400: errors.ProviderRejectedError,
    401: errors.AuthenticationError,
    402: errors.InsufficientCreditsError,
    403: errors.AuthenticationError,
    404: errors.ModelUnavailableError,
    409: errors.CapacityError,
    410: errors.ModelUnavailableError,
    422: errors.ProviderRejectedError,
    423: errors.CapacityError,
    429: errors.RateLimitError,
    500: errors.ServerError,
    502: errors.CapacityError,
    503: errors.CapacityError,
    504: errors.CapacityError,
}


class Provider:
    """Base class of every provider. Subclasses set the class attributes and override the
    `build_*`/`parse_*` pairs; everything else has a working default."""

    name: ClassVar[str]
    display_name: ClassVar[str] = ""
    default_base_url: ClassVar[str | None] = None
    api_key_envs: ClassVar[tuple[str, ...]] = ()
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id",)
    STATUS_MAP: ClassVar[Mapping[str, JobStatus]] = {}
    Settings: ClassVar[type[ProviderSettings]] = ProviderSettings
    Options: ClassVar[type[ProviderOptions]] = ProviderOptions
    CAPABILITIES: ClassVar[Capabilities]
    catalog_kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: ProviderSettings | None = None, *, instance: str | None = None):
        self.settings = settings if settings is not None else self.Settings()
        self.instance = instance or self.name
        self._motion_ids: dict[str, str] = {}  # neutral motion name -> id, from the catalogue

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.instance!r} base_url={self.base_url!r}>"

    # -- configuration ---------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        return self.CAPABILITIES

    @property
    def base_url(self) -> str:
        url = self.settings.base_url or self.default_base_url
        if not url:
            raise errors.ConfigurationError(
                f"{self.instance}: base_url is required (set base_url in "
                f"[providers.{self.instance}] of the config file)"
            )
        return url.rstrip("/")

    def api_key(self) -> str:
        """The API key, from settings or the named environment variables."""
        if self.settings.api_key is not None:
            return self.settings.api_key.get_secret_value()
        names = (self.settings.api_key_env,) if self.settings.api_key_env else self.api_key_envs
        for name in names:
            value = os.environ.get(name)
            if value:
                return value
        raise MissingCredentialsError(self.instance, tuple(names))

    def secrets(self) -> list[tuple[str, str]]:
        """Every secret this provider may send or verify with, and where it came from
        (``$VAR`` or the settings field): registered for redaction when the provider is
        built, and refused there if it holds whitespace. Plugins with secrets outside
        their settings' ``SecretStr`` / ``*_env`` fields add them."""
        found: list[tuple[str, str]] = []
        envs = list(self.api_key_envs)
        for name in type(self.settings).model_fields:
            value = getattr(self.settings, name, None)
            if isinstance(value, SecretStr):
                found.append((f"{self.instance} {name}", value.get_secret_value()))
            elif name.endswith("_env") and isinstance(value, str):
                envs.append(value)
        for var in dict.fromkeys(envs):
            value = os.environ.get(var)
            if value:
                found.append((f"${var}", value))
        return found

    def check_ready(self) -> None:
        """Raise `ConfigurationError` now if this provider could not send a request."""
        _ = self.base_url
        self.api_key()
        self.check_prices()

    def price_keys(self) -> list[str]:
        """What a ``prices`` override may be keyed by: the neutral models served here."""
        return list(self.capabilities.models)

    def check_prices(self) -> None:
        """A ``prices`` key this provider would never look up is a configuration error
        naming the valid ones (it used to be ignored in silence)."""
        valid = self.price_keys()
        unknown = sorted(set(self.settings.prices) - set(valid))
        if unknown:
            raise errors.ConfigurationError(
                f"{self.instance}: prices keyed {', '.join(map(repr, unknown))} would never "
                f"be used; the keys are: {', '.join(valid)}"
            )

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def http_url(self, path: str) -> httpx.URL:
        """`url(path)` as an `httpx.URL`, parsed once per distinct URL: httpx re-parses a
        string URL for every request (a tenth of a submit's own CPU for a fixed path)."""
        return parsed_url(self.url(path))

    def call(
        self, request: httpx.Request, purpose: Purpose, *, replayable: bool | None = None
    ) -> Call:
        return Call(self.instance, request, purpose, replayable)

    # -- preparing a request -----------------------------------------------------------
    def resolve_model(self, request: GenerationRequest) -> tuple[str, ModelSpec]:
        """Map the request's model (neutral id, or this provider's own id) to a spec."""
        name = request.model_name
        models = self.capabilities.models
        if name in models:
            return name, models[name]
        for neutral, spec in models.items():
            if spec.provider_model == name:
                return neutral, spec
        raise UnsupportedRequestError(
            f"{self.instance} does not serve {name!r} (it serves {', '.join(sorted(models))})",
            field="model",
            provider=self.instance,
        )

    def prepare(self, request: GenerationRequest) -> Prepared:
        """Validate `request` for this provider; raise `InvalidRequestError` naming the field."""
        model, spec = self.resolve_model(request)
        self.check_ready()
        self._check_common(request, spec)
        options = self.options_for(request)
        prepared = Prepared(self._motion_by_name(request), self.instance, model, spec, options)
        return self.validate(prepared)

    # -- neutral motion names (videogw.motions) ---------------------------------------
    def _motion_by_name(self, request: GenerationRequest) -> GenerationRequest:
        return motions.by_name(self, request)

    def motion_flow(self, prepared: Prepared) -> Flow[Prepared]:
        """Resolve a neutral motion name through this provider's motions catalogue (read
        once per process); `submit_flow` calls it before anything is created."""
        return (yield from motions.resolve_flow(self, prepared))

    def motion_catalog_flow(self, name: str) -> Flow[list[dict[str, Any]]]:
        """The catalogue items in which to look for the preset `name` (neutral)."""
        return (yield from self.catalog_flow("motions"))

    def options_for(self, request: GenerationRequest) -> ProviderOptions:
        """This provider's `Options` from ``request.options``.

        Options are namespaced by provider: ``{"higgsfield": {...}, "pixazo": {...}}`` (the
        instance name, else the plugin name). Flat keys still work. A dict under a key that
        is not one of this provider's options is another provider's namespace, and ignored.
        An option this provider does not know is an `UnsupportedRequestError`, so the router
        skips this provider (with the reason) instead of refusing the request everywhere;
        a known option with a bad value stays an `InvalidRequestError`."""
        fields = option_names(self.Options)
        mine: dict[str, Any] = {}
        prefix = "options"
        for key, value in request.options.items():
            if key in fields:
                mine.setdefault(key, value)
            elif key in (self.instance, self.name) and isinstance(value, Mapping):
                if key == self.instance or self.instance not in request.options:
                    mine = {**mine, **value}
                    prefix = f"options.{key}"
            elif not isinstance(value, Mapping):
                mine[key] = value  # a flat option nobody here knows: refused below
        try:
            return self.Options.model_validate(mine)
        except ValidationError as exc:
            first = exc.errors()[0]
            if first["type"] != "extra_forbidden":
                raise _invalid_from_pydantic(exc, prefix=prefix, provider=self.instance) from None
            known = ", ".join(sorted(self.Options.model_fields)) or "none"
            raise UnsupportedRequestError(
                f"unknown option for {self.instance} (it takes: {known})",
                field=".".join([prefix, *map(str, first["loc"])]),
                provider=self.instance,
            ) from None

    def _check_common(self, request: GenerationRequest, spec: ModelSpec) -> None:
        who = self.instance
        if request.task is not None and request.task != spec.task:
            raise InvalidRequestError(
                f"model {request.model_name!r} does {spec.task.value}, not {request.task.value}",
                field="task",
                provider=who,
            )
        needs_image = spec.task in (Task.image_to_video, Task.speech_to_video, Task.ad_video)
        if needs_image and request.image is None:
            raise InvalidRequestError(f"{spec.task.value} needs an image", field="image")
        if (
            spec.durations is not None
            and request.duration_s is not None
            and (request.duration_s not in spec.durations)
        ):
            allowed = ", ".join(str(d) for d in spec.durations)
            raise UnsupportedRequestError(
                f"{request.duration_s} s is not offered; allowed: {allowed}",
                field="duration_s",
                provider=who,
            )
        if (
            spec.qualities is not None
            and request.quality is not None
            and (request.quality not in spec.qualities)
        ):
            raise UnsupportedRequestError(
                f"{request.quality!r} is not offered; allowed: {', '.join(spec.qualities)}",
                field="quality",
                provider=who,
            )
        if request.end_image is not None and not spec.end_image:
            raise UnsupportedRequestError(
                "this model takes no end frame", field="end_image", provider=who
            )
        if spec.motion_required and request.motion is None:
            raise UnsupportedRequestError(
                "a motion preset id is required", field="motion", provider=who
            )
        if not spec.local_files:
            for name in ("image", "end_image", "audio"):
                media = getattr(request, name)
                if media is not None and not media.is_remote:
                    raise UnsupportedRequestError(
                        "this provider accepts only public https URLs, not local files or bytes",
                        field=name,
                        provider=who,
                    )

    def validate(self, prepared: Prepared) -> Prepared:
        """Provider-specific checks and derived values; return the (possibly new) Prepared."""
        return prepared

    # -- submit --------------------------------------------------------------------------
    def submit_flow(self, prepared: Prepared) -> Flow[Accepted]:
        prepared = yield from self.motion_flow(prepared)
        response = yield self.call(self.build_submit(prepared), Purpose.submit)
        return self.parse_submit(prepared, response)

    def build_submit(self, prepared: Prepared) -> httpx.Request:
        raise NotImplementedError

    def parse_submit(self, prepared: Prepared, response: httpx.Response) -> Accepted:
        raise NotImplementedError

    # -- status --------------------------------------------------------------------------
    def status_flow(self, job: Job) -> Flow[StatusUpdate]:
        response = yield self.call(self.build_status(job), Purpose.read)
        return self.parse_status(job, response)

    def build_status(self, job: Job) -> httpx.Request:
        raise NotImplementedError

    def parse_status(self, job: Job, response: httpx.Response) -> StatusUpdate:
        raise NotImplementedError

    def map_status(self, raw: object) -> JobStatus:
        """Table lookup; anything unmapped is `unknown` (logged by the caller, never fatal)."""
        return (
            self.STATUS_MAP.get(raw, JobStatus.unknown)
            if isinstance(raw, str)
            else (JobStatus.unknown)
        )

    # -- cancel --------------------------------------------------------------------------
    def cancel_flow(self, job: Job) -> Flow[StatusUpdate]:
        if not self.capabilities.cancel:
            raise UnsupportedOperationError(
                f"{self.instance} offers no way to cancel a job; job {job.id} keeps running "
                "there and videogw keeps tracking it"
            )
        response = yield self.call(self.build_cancel(job), Purpose.cancel)
        return self.parse_cancel(job, response)

    def build_cancel(self, job: Job) -> httpx.Request:
        raise NotImplementedError

    def parse_cancel(self, job: Job, response: httpx.Response) -> StatusUpdate:
        return StatusUpdate(status=JobStatus.cancelled, raw_status="cancelled", charged=False)

    # -- deleting a finished job's stored data ---------------------------------------
    def delete_flow(self, job: Job) -> Flow[None]:
        """Drop a finished job's stored inputs and outputs at the provider, where it offers
        that (Higgsfield: ``DELETE /requests/{id}``)."""
        raise UnsupportedOperationError(
            f"{self.instance} offers no way to delete a job's stored data; it keeps it for "
            "its own retention period"
        )
        yield  # pragma: no cover

    # -- cost ----------------------------------------------------------------------------
    def estimate(self, prepared: Prepared) -> CostEstimate:
        raise NotImplementedError

    def estimate_flow(self, prepared: Prepared) -> Flow[CostEstimate]:
        """By default the table estimate, without I/O; providers with an estimate endpoint
        override this."""
        return self.estimate(prepared)
        yield  # pragma: no cover - makes this a generator

    def price_override(self, key: str) -> Decimal | None:
        return self.settings.prices.get(key)

    def credit_ok(self, remaining: Decimal | None) -> bool:
        """Whether the account has enough credit to be routed to. `remaining` is the last
        balance videogw saw (None when unknown); providers that track a balance of their own
        (e.g. from response headers) override this."""
        threshold = self.settings.low_credit_threshold
        return remaining is None or threshold is None or remaining >= threshold

    # -- catalogs (motion presets, voices, ...) -----------------------------------------
    def catalog_flow(self, kind: str) -> Flow[list[dict[str, Any]]]:
        raise UnsupportedOperationError(f"{self.instance} has no {kind!r} catalog")
        yield  # pragma: no cover

    # -- webhooks ------------------------------------------------------------------------
    def parse_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        job: Job | None = None,
        query: Mapping[str, str] | None = None,
    ) -> StatusUpdate:
        raise UnsupportedOperationError(f"{self.instance} does not send webhooks")

    # -- errors --------------------------------------------------------------------------
    def classify(self, response: httpx.Response, purpose: Purpose) -> ProviderError | None:
        """Turn an HTTP answer into a typed error, or `None` when `parse_*` should read it."""
        if response.status_code < 400:
            return None
        cls = DEFAULT_ERRORS.get(response.status_code)
        if cls is None:
            cls = errors.ServerError if response.status_code >= 500 else errors.ProviderError
        if response.status_code == 404 and purpose is not Purpose.submit:
            cls = errors.JobNotFoundError
        if issubclass(cls, errors.ProviderRejectedError):
            return self.error(cls, response, field=rejected_field(response))
        return self.error(cls, response)

    def error(
        self,
        cls: type[ProviderError],
        response: httpx.Response,
        message: str | None = None,
        **extra: Any,
    ) -> ProviderError:
        extra.setdefault("retry_after", retry_after_seconds(response))
        return cls(
            message or self.error_message(response),
            provider=self.instance,
            status_code=response.status_code,
            provider_request_id=self.provider_request_id(response),
            **extra,
        )

    def error_message(self, response: httpx.Response) -> str:
        """The provider's message, without ever assuming the body is JSON."""
        body = _maybe_json(response)
        if isinstance(body, dict):
            for key in ("detail", "message", "error", "error_description", "details"):
                value = body.get(key)
                if isinstance(value, str) and value:
                    return value
                if isinstance(value, list) and value:
                    return "; ".join(_describe_detail(item) for item in value)
        text = response.text.strip() if _is_text(response) else ""
        if text.startswith("<"):
            text = ""  # an HTML error page says nothing useful in one line
        return text[:300] or response.reason_phrase or f"HTTP {response.status_code}"

    def provider_request_id(self, response: httpx.Response) -> str | None:
        for name in self.request_id_headers:
            value: str | None = response.headers.get(name)
            if value:
                return value
        return None

    def json(self, response: httpx.Response) -> Any:
        """The JSON body, or a `MalformedResponseError` naming the provider."""
        try:
            return json_loads(response.content)
        except ValueError as exc:  # also UnicodeDecodeError, too deep, digits too long
            raise MalformedResponseError(
                f"answer is not JSON ({exc.__class__.__name__}): {response.text[:80]!r}",
                provider=self.instance,
                status_code=response.status_code,
                provider_request_id=self.provider_request_id(response),
            ) from None

    def malformed(self, response: httpx.Response | None, message: str) -> MalformedResponseError:
        return MalformedResponseError(
            message,
            provider=self.instance,
            status_code=response.status_code if response is not None else None,
            provider_request_id=self.provider_request_id(response) if response else None,
        )

    # -- emulator --------------------------------------------------------------------------
    @classmethod
    def emulator(cls, **kwargs: Any) -> Emulator:
        """An ASGI app that speaks this provider's documented wire format."""
        raise NotImplementedError(f"{cls.__name__} ships no emulator")

    @classmethod
    def emulator_settings(cls, base_url: str) -> dict[str, Any]:
        """Settings that point this provider at an emulator (with throwaway credentials)."""
        return {"base_url": base_url, "api_key": "emulator-key"}


@functools.lru_cache(maxsize=1024)
def parsed_url(url: str) -> httpx.URL:
    """`httpx.URL(url)`, kept: an `httpx.URL` is immutable, and a request built on one is
    not parsed again (a job's own URLs differ every time: use this for fixed ones)."""
    return httpx.URL(url)


@functools.lru_cache(maxsize=256)  # classes made on the fly (tests) stay bounded
def option_names(options: type[ProviderOptions]) -> frozenset[str]:
    """Every key an `Options` model accepts: field names and their string aliases. A
    class's fields are fixed once it is built, so this is read once per class rather than
    on every submit."""
    names: set[str] = set()
    for name, info in options.model_fields.items():
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names.update([name, *(c for c in choices if isinstance(c, str))])
    return frozenset(names)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` (seconds or an HTTP date), read by `videogw.wire.until`."""
    return wire.retry_after(response)


def _is_text(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "")
    return not kind or kind.startswith(("text/", "application/json", "application/problem"))


def _maybe_json(response: httpx.Response) -> Any:
    if "json" not in response.headers.get("content-type", "") and not response.content.startswith(
        (b"{", b"[")
    ):
        return None
    try:
        return json_loads(response.content)
    except ValueError:
        return None


def rejected_field(response: httpx.Response) -> str | None:
    """The first field a validation answer names: FastAPI's ``detail[].loc`` (without the
    leading ``body``/``query``), or a ``field``/``param`` key of the error body."""
    body = _maybe_json(response)
    if not isinstance(body, dict):
        return None
    detail = body.get("detail")
    if isinstance(detail, list):
        for item in detail:
            loc = item.get("loc") if isinstance(item, dict) else None
            if isinstance(loc, list):
                parts = [str(p) for p in loc if p not in ("body", "query", "header")]
                if parts:
                    return ".".join(parts)
    for key in ("field", "param"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return None


def _describe_detail(item: Any) -> str:
    if isinstance(item, dict):
        loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        msg = str(item.get("msg", item))
        return f"{loc}: {msg}" if loc else msg
    return str(item)


def _invalid_from_pydantic(
    exc: ValidationError,
    *,
    prefix: str | None = None,
    provider: str | None = None,
    known: Iterable[str] | None = None,
) -> InvalidRequestError:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    field_name = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or None)
    message = plain_message(first["msg"])
    if first["type"] == "extra_forbidden":
        message = "unknown option" if prefix == "options" else "unknown field"
        if provider:
            message += f" for {provider}"
        names = list(known) if known is not None else []
        if known is None and prefix is None:
            names = list(GenerationRequest.model_fields)
        message += did_you_mean(str(first["loc"][-1]) if first["loc"] else "", names)
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InvalidRequestError(message, field=field_name, provider=provider)


def plain_message(text: str) -> str:
    """A pydantic message without its "Value error, " / "Assertion failed, " prefix."""
    return re.sub(r"^(Value error|Assertion failed), ", "", text)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of `choices`, or ``""``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=2, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
