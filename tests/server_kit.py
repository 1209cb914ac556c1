"""Shared set-up for the `videogw serve` tests: emulators on loopback, a gateway on them, the
server's app on a real port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from videogw.config import Config
from videogw.download import DownloadPolicy
from videogw.emulator import LoopbackServer
from videogw.emulator.harness import Emulated, emulate
from videogw.gateway import Gateway
from videogw.ledger import Ledger, MemoryLedger
from videogw.server import ServerSettings, make_app
from videogw.testing import registry_with
from videogw_hfrelay import HfRelayProvider
from videogw_higgsfield import HiggsfieldProvider
from videogw_pixazo import PixazoProvider
from videogw_segmind import SegmindProvider

ROUTE = ["higgsfield", "pixazo", "segmind", "hfrelay"]
IMAGE = "https://images.example.com/red-fox.jpg"
MOTION = {"id": "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a", "strength": 0.5}


@dataclass
class Served:
    emulated: Emulated
    gateway: Gateway
    server: LoopbackServer
    app: Any

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def provider_jobs(self, name: str | None = None) -> int:
        """Jobs the emulators created (one provider's, or all)."""
        apps = self.emulated.emulators
        return sum(len(app.jobs) for n, app in apps.items() if name in (None, n))


def gateway_config(emulated: Emulated, **extra: Any) -> Config:
    return Config.model_validate(
        {
            "providers": emulated.settings,
            "routes": {"dop-lite": {"candidates": ROUTE, "strategy": "priority"}},
            "poll": {"floor_s": 0.1, "cap_s": 1.0},
            **extra,
        }
    )


@contextmanager
def served(
    *,
    faults: dict[str, str] | None = None,
    ledger: Ledger | None = None,
    require_keys: bool = False,
    names: list[str] | None = None,
) -> Iterator[Served]:
    registry = registry_with(HiggsfieldProvider, PixazoProvider, SegmindProvider, HfRelayProvider)
    emulated = emulate(
        names or ROUTE, registry=registry, loopback=True, timing="fast", faults=faults
    )
    gateway = Gateway(
        gateway_config(emulated),
        store=ledger if ledger is not None else MemoryLedger(),
        registry=emulated.registry,
    )
    app = make_app(
        gateway,
        ServerSettings(require_keys=require_keys, download=DownloadPolicy(allow_private=True)),
    )
    server = LoopbackServer(app).start()
    try:
        yield Served(emulated, gateway, server, app)
    finally:
        server.stop()
        gateway.close()
        emulated.stop()
