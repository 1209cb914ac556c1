"""videogw: one provider-neutral job interface for generative-video APIs."""

from . import errors
from .config import Config, RouteConfig, load_config
from .engine import Clock, RetryPolicy
from .gateway import AsyncGateway, Gateway, Quote
from .hookspecs import hookimpl
from .models import (
    Attempt,
    AttemptOutcome,
    Capabilities,
    CostEstimate,
    GenerationRequest,
    Job,
    JobError,
    JobStatus,
    Media,
    ModelSpec,
    Motion,
    Output,
    Task,
)
from .plugins import get_registry, list_providers
from .provider import (
    Accepted,
    Call,
    Flow,
    Prepared,
    Provider,
    ProviderOptions,
    ProviderSettings,
    Purpose,
    StatusUpdate,
)
from .store import JobStore, MemoryStore

__version__ = "0.1.0"
PLUGIN_API_VERSION = 1

__all__ = [
    "PLUGIN_API_VERSION",
    "Accepted",
    "AsyncGateway",
    "Attempt",
    "AttemptOutcome",
    "Call",
    "Capabilities",
    "Clock",
    "Config",
    "CostEstimate",
    "Flow",
    "Gateway",
    "GenerationRequest",
    "Job",
    "JobError",
    "JobStatus",
    "JobStore",
    "Media",
    "MemoryStore",
    "ModelSpec",
    "Motion",
    "Output",
    "Prepared",
    "Provider",
    "ProviderOptions",
    "ProviderSettings",
    "Purpose",
    "Quote",
    "RetryPolicy",
    "RouteConfig",
    "StatusUpdate",
    "Task",
    "__version__",
    "errors",
    "get_registry",
    "hookimpl",
    "list_providers",
    "load_config",
]
