"""videogw: one provider-neutral job interface for generative-video APIs."""

from . import errors
from .compare import Comparison
from .config import Config, RouteConfig, load_config
from .engine import Clock, RetryPolicy
from .events import JobEvent
from .gateway import AsyncGateway, Gateway, Quote, ResumeReport
from .hookspecs import hookimpl
from .ledger import SQLiteLedger
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
from .router import Candidacy
from .store import JobStore, Ledger, MemoryStore

__version__ = "0.1.0"
PLUGIN_API_VERSION = 1

__all__ = [
    "PLUGIN_API_VERSION",
    "Accepted",
    "AsyncGateway",
    "Attempt",
    "AttemptOutcome",
    "Call",
    "Candidacy",
    "Capabilities",
    "Clock",
    "Comparison",
    "Config",
    "CostEstimate",
    "Flow",
    "Gateway",
    "GenerationRequest",
    "Job",
    "JobError",
    "JobEvent",
    "JobStatus",
    "JobStore",
    "Ledger",
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
    "ResumeReport",
    "RetryPolicy",
    "RouteConfig",
    "SQLiteLedger",
    "StatusUpdate",
    "Task",
    "__version__",
    "errors",
    "get_registry",
    "hookimpl",
    "list_providers",
    "load_config",
]
