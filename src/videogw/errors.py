"""Exceptions raised by videogw.

The tree::

    VideoGWError
    ├── ConfigurationError ........... bad config file/values, missing credentials
    │   └── MissingCredentialsError .. names the environment variable to set
    ├── PluginError .................. a plugin could not be loaded or registered
    │   └── DuplicateProviderError ... two plugins registered the same provider name
    ├── InvalidRequestError .......... (also ValueError) rejected by videogw before any request
    │   ├── UnknownModelError ........ no provider serves this model
    │   └── UnsupportedRequestError .. this provider cannot serve this request (capability)
    ├── UnknownProviderError ......... (also KeyError) no provider by that name
    ├── UnsupportedOperationError .... the provider has no such operation (e.g. cancel)
    ├── NoCandidateError ............. the route left no provider to try
    ├── TransportError ............... the request did not get a usable HTTP answer
    │   ├── RequestNotSentError ...... failed before the body left: nothing was created
    │   └── OutcomeUnknownError ...... the body may have arrived: a paid job may exist
    ├── ProviderError ................ the provider answered with an error
    │   ├── ProviderRejectedError .... 400/422: the request is wrong everywhere
    │   ├── AuthenticationError ...... 401/403 auth: provider unusable until fixed
    │   ├── InsufficientCreditsError . 402/403/406 out of credit: unusable until topped up
    │   ├── RateLimitError ........... 429: retry later (`retry_after`)
    │   ├── CapacityError ............ concurrency limit, 423, 502/503/504: try elsewhere
    │   ├── ServerError .............. other 5xx
    │   ├── ModelUnavailableError .... model unknown, retired or disabled for this account
    │   ├── JobNotFoundError ......... the provider no longer knows the job
    │   ├── ContentRefusedError ...... input refused by moderation at submit
    │   ├── NotCancellableError ...... the job already started and cannot be cancelled
    │   └── MalformedResponseError ... the answer could not be parsed
    ├── LedgerError .................. the ledger could not be read or written
    │   ├── LedgerUnavailableError ... locked by another process too long, disk full, I/O
    │   ├── LedgerCorruptError ....... a stored row cannot be read (`job_id` names it)
    │   ├── LedgerReplacedError ...... the ledger file was deleted or replaced under us
    │   ├── StaleJobError ............ a write lost its compare-and-swap (re-read, re-apply)
    │   ├── IdempotencyConflictError . a known idempotency key with a different request
    │   ├── JobLeasedError ........... another process holds the job's lease and acts on it
    │   └── AcceptanceNotRecordedError a provider accepted a job the ledger failed to record:
    │                                  carries `provider` and `provider_job_id`
    ├── BudgetExceededError .......... a daily or per-job budget would be passed: not sent
    │   └── InFlightLimitError ....... a provider's max_in_flight is reached: not sent
    ├── WebhookRejectedError ......... a delivery failed verification (signature, token, age)
    ├── JobFailedError ............... wait(raise_on_failure=True) saw a failed job
    └── WaitTimeoutError ............. (also TimeoutError) wait() passed its deadline

Every `ProviderError` carries `provider`, `status_code` and `provider_request_id`, and
says whether it is `retryable` (same call, later) and how the router may react
(`failover`). A job that *failed* is data (`Job.status`, `Job.error`), not an exception.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from .redact import redact

if TYPE_CHECKING:
    from .models import Job

__all__ = [
    "AcceptanceNotRecordedError",
    "AuthenticationError",
    "BudgetExceededError",
    "CapacityError",
    "ConfigurationError",
    "ContentRefusedError",
    "DuplicateProviderError",
    "Failover",
    "IdempotencyConflictError",
    "InFlightLimitError",
    "InsufficientCreditsError",
    "InvalidRequestError",
    "JobFailedError",
    "JobLeasedError",
    "JobNotFoundError",
    "LedgerCorruptError",
    "LedgerError",
    "LedgerReplacedError",
    "LedgerUnavailableError",
    "MalformedResponseError",
    "MissingCredentialsError",
    "ModelUnavailableError",
    "NoCandidateError",
    "NotCancellableError",
    "OutcomeUnknownError",
    "PluginError",
    "ProviderError",
    "ProviderRejectedError",
    "RateLimitError",
    "RequestNotSentError",
    "ServerError",
    "StaleJobError",
    "TransportError",
    "UnknownModelError",
    "UnknownProviderError",
    "UnsupportedOperationError",
    "UnsupportedRequestError",
    "VideoGWError",
    "WaitTimeoutError",
    "WebhookRejectedError",
]


class Failover(StrEnum):
    """What a failed submit allows the router to do next (DESIGN §5)."""

    next = "next"  # try the next candidate
    next_cooldown = "next_cooldown"  # try the next candidate, and cool this provider down
    next_disable = "next_disable"  # try the next, and mark this provider unusable until reset
    never = "never"  # the request itself is wrong: raise
    content = "content"  # content refused: only when the route allows it
    unknown = "unknown"  # a job may exist: never resubmit elsewhere


class VideoGWError(Exception):
    """Base class of every error videogw raises."""

    #: set on errors raised by `submit`: the logical job as recorded, with its attempts
    job: Job | None = None

    def __init__(self, *args: object) -> None:
        # a provider may echo a key in its error text: no configured secret survives here
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigurationError(VideoGWError):
    pass


class MissingCredentialsError(ConfigurationError):
    def __init__(self, provider: str, env_vars: tuple[str, ...]) -> None:
        self.provider = provider
        self.env_vars = env_vars
        names = " or ".join(env_vars) or "an api_key_env setting"
        super().__init__(
            f"{provider}: no API key configured; set {names} in the environment "
            f"(or name another variable with api_key_env in [providers.{provider}])"
        )


class PluginError(VideoGWError):
    pass


class DuplicateProviderError(PluginError):
    pass


class InvalidRequestError(VideoGWError, ValueError):
    """The request was rejected before anything was sent. `field` names what is wrong."""

    def __init__(self, message: str, *, field: str | None = None, provider: str | None = None):
        self.field = field
        self.provider = provider
        prefix = f"{provider}: " if provider else ""
        where = f"{field}: " if field else ""
        super().__init__(f"{prefix}{where}{message}")


class UnknownModelError(InvalidRequestError):
    pass


class UnsupportedRequestError(InvalidRequestError):
    pass


class UnknownProviderError(VideoGWError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnsupportedOperationError(VideoGWError):
    pass


class NoCandidateError(VideoGWError):
    def __init__(self, message: str, *, reasons: dict[str, str] | None = None) -> None:
        self.reasons = reasons or {}
        detail = "; ".join(f"{name}: {why}" for name, why in self.reasons.items())
        super().__init__(f"{message} ({detail})" if detail else message)


class TransportError(VideoGWError):
    def __init__(self, message: str, *, provider: str | None = None) -> None:
        self.provider = provider
        super().__init__(f"{provider}: {message}" if provider else message)

    retryable: ClassVar[bool] = True


class RequestNotSentError(TransportError):
    """Connection refused, DNS or TLS failure: the provider never saw the request."""

    failover: ClassVar[Failover] = Failover.next_cooldown


class OutcomeUnknownError(TransportError):
    """The request body may have reached the provider but no answer came back."""

    failover: ClassVar[Failover] = Failover.unknown


class ProviderError(VideoGWError):
    """An error answer from a provider."""

    retryable: ClassVar[bool] = False
    failover: ClassVar[Failover] = Failover.never
    kind: ClassVar[str] = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        provider_request_id: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = redact(message)
        self.provider = provider
        self.status_code = status_code
        self.provider_request_id = provider_request_id
        self.code = code
        self.retry_after = retry_after
        super().__init__(message)

    def __str__(self) -> str:
        parts = [f"{self.provider}"]
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        text = f"{' '.join(parts)}: {self.message}"
        if self.provider_request_id:
            text += f" (provider request id {self.provider_request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, status_code={self.status_code!r},"
            f" message={self.message!r})"
        )


class ProviderRejectedError(ProviderError):
    """The provider refused the request's content (400/422). `field` names the first field
    it complained about, where its answer says (e.g. a FastAPI ``detail[].loc``)."""

    kind = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        self.field = field
        super().__init__(message, **kwargs)


class AuthenticationError(ProviderError):
    failover = Failover.next_disable
    kind = "authentication"


class InsufficientCreditsError(ProviderError):
    failover = Failover.next_disable
    kind = "insufficient_credits"


class RateLimitError(ProviderError):
    retryable = True
    failover = Failover.next_cooldown
    kind = "rate_limited"


class CapacityError(ProviderError):
    retryable = True
    failover = Failover.next_cooldown
    kind = "capacity"


class ServerError(ProviderError):
    """A 5xx other than the gateway-style 502/503/504. On a submit to a provider without
    idempotency keys the engine turns it into `OutcomeUnknownError`: the job may exist."""

    retryable = True
    failover = Failover.unknown
    kind = "server_error"


class ModelUnavailableError(ProviderError):
    failover = Failover.next
    kind = "model_unavailable"


class JobNotFoundError(ProviderError):
    kind = "not_found"


class ContentRefusedError(ProviderError):
    failover = Failover.content
    kind = "content_refused"


class NotCancellableError(ProviderError):
    kind = "not_cancellable"


class MalformedResponseError(ProviderError):
    retryable = True  # a garbled status read is worth another read; never a resubmit
    failover = Failover.unknown
    kind = "malformed_response"


class LedgerError(VideoGWError):
    """The ledger could not do what was asked. Nothing a provider answered is lost: see
    `AcceptanceNotRecordedError`."""


class LedgerUnavailableError(LedgerError):
    """Locked by another process for longer than the busy timeout, disk full, or an I/O
    error: the write did not happen (it may be retried)."""


class LedgerCorruptError(LedgerError):
    def __init__(self, job_id: str, detail: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id}: its ledger row cannot be read ({detail})")


class LedgerReplacedError(LedgerError):
    """The ledger file this process opened was deleted or replaced by another file: writing
    on would record jobs where nobody will look for them."""


class StaleJobError(LedgerError):
    """A write was conditional on a version of the job that is no longer current."""

    def __init__(self, job_id: str, expected: int, found: int | None) -> None:
        self.job_id = job_id
        self.expected = expected
        self.found = found
        super().__init__(
            f"job {job_id}: written at version {expected}, but the ledger holds "
            f"{'no such job' if found is None else f'version {found}'}"
        )


class IdempotencyConflictError(LedgerError, InvalidRequestError):
    """The idempotency key is already used by a job made from a different request."""

    def __init__(self, key: str, job_id: str) -> None:
        self.key = key
        self.job_id = job_id
        InvalidRequestError.__init__(
            self,
            f"idempotency key {key!r} already belongs to job {job_id}, made from a different "
            "request; use a new key for a new request",
            field="idempotency_key",
        )


class JobLeasedError(LedgerError):
    def __init__(self, job_id: str, owner: str | None) -> None:
        self.job_id = job_id
        self.owner = owner
        super().__init__(
            f"job {job_id} is being handled by another process ({owner or 'unknown'}); "
            "it acts on the job until its lease ends"
        )


class AcceptanceNotRecordedError(LedgerError):
    """A provider accepted (and may bill) a job, but the ledger write failed even after
    retries. The provider and its job id are here so nothing is lost: record them."""

    def __init__(self, job_id: str, provider: str, provider_job_id: str, cause: str) -> None:
        self.job_id = job_id
        self.provider = provider
        self.provider_job_id = provider_job_id
        super().__init__(
            f"job {job_id}: {provider} accepted it as {provider_job_id}, but the ledger could "
            f"not record that ({cause}); keep this id to track or reconcile the job"
        )


class BudgetExceededError(VideoGWError):
    """A submit would pass a budget: refused before anything was sent."""

    def __init__(self, message: str, *, limit_usd: object = None, spent_usd: object = None):
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        super().__init__(message)


class InFlightLimitError(BudgetExceededError):
    """The provider has `max_in_flight` jobs live already (over the whole fleet): this
    submit goes to the next candidate, or waits. Nothing was sent."""

    def __init__(self, provider: str, limit: int) -> None:
        self.provider = provider
        self.limit = limit
        super().__init__(f"{provider} has {limit} jobs in flight already (max_in_flight)")


class WebhookRejectedError(VideoGWError):
    """A webhook delivery failed verification; answer it with a 4xx and trust nothing in it."""


class JobFailedError(VideoGWError):
    def __init__(self, job: Job) -> None:
        self.job: Job = job
        detail = f": {job.error.message}" if job.error else ""
        super().__init__(f"job {job.id} on {job.provider} ended {job.status.value}{detail}")


class WaitTimeoutError(VideoGWError, TimeoutError):
    def __init__(self, job: Job, waited: float) -> None:
        self.job: Job = job
        self.waited = waited
        super().__init__(
            f"job {job.id} on {job.provider} still {job.status.value} after {waited:.0f} s; "
            "it keeps running at the provider: wait for it again, or resume it later"
        )
