"""schemathesis against the server's own OpenAPI schema (bounded): no 500s, and every
response matches the schema (status code, content type, body)."""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server_kit import ROUTE, gateway_config
from videogw.download import DownloadPolicy
from videogw.emulator.harness import emulate
from videogw.gateway import Gateway
from videogw.ledger import MemoryLedger
from videogw.server import ServerSettings, make_app
from videogw.testing import registry_with
from videogw_hfrelay import HfRelayProvider
from videogw_higgsfield import HiggsfieldProvider
from videogw_pixazo import PixazoProvider
from videogw_segmind import SegmindProvider

pytestmark = pytest.mark.slow


def _app() -> Any:
    """Built at import (schemathesis parametrizes from it at collection): emulators in
    process, no sockets, a memory ledger; nothing to close."""
    registry = registry_with(HiggsfieldProvider, PixazoProvider, SegmindProvider, HfRelayProvider)
    emulated = emulate(ROUTE, registry=registry, timing="fast")
    gateway = Gateway(
        gateway_config(emulated),
        transports=emulated.transports(sync=True),
        store=MemoryLedger(),
        registry=registry,
    )
    policy = DownloadPolicy(allow_private=True)
    return make_app(gateway, ServerSettings(require_keys=False, download=policy))


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@hypothesis.settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_server_keeps_its_own_schema(case: Any) -> None:
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
