"""Point a gateway at emulators: in-process (no sockets) or on loopback (real ports)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..plugins import Registry, get_registry
from ..store import MemoryStore
from .app import Emulator
from .faults import FaultProfile
from .server import LoopbackServer
from .transport import AsyncEmulatorTransport, SyncEmulatorTransport

__all__ = ["Emulated", "emulate"]


@dataclass
class Emulated:
    """Emulators by provider name, and the provider settings that reach them."""

    emulators: dict[str, Emulator]
    settings: dict[str, dict[str, Any]]
    servers: dict[str, LoopbackServer] = field(default_factory=dict)
    registry: Registry | None = None

    def config(self, **extra: Any) -> Config:
        return Config.model_validate({"providers": self.settings, **extra})

    def transports(self, *, sync: bool) -> dict[str, Any]:
        if self.servers:
            return {}
        kind = SyncEmulatorTransport if sync else AsyncEmulatorTransport
        return {name: kind(app) for name, app in self.emulators.items()}

    def gateway(self, *, sync: bool = True, config: Config | None = None, **kwargs: Any) -> Any:
        from ..gateway import AsyncGateway, Gateway

        cls = Gateway if sync else AsyncGateway
        kwargs.setdefault("registry", self.registry)
        # Emulated jobs are throwaway: never write them to the user's real ledger.
        kwargs.setdefault("store", MemoryStore())
        return cls(config or self.config(), transports=self.transports(sync=sync), **kwargs)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()

    def __enter__(self) -> Emulated:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def emulate(
    names: Iterable[str] | None = None,
    *,
    registry: Registry | None = None,
    faults: Mapping[str, FaultProfile | str] | None = None,
    timing: Any = "fast",
    clock: Callable[[], float] | None = None,
    loopback: bool = False,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | Mapping[str, str] | None = None,
    seed: int = 0,
) -> Emulated:
    """Start one emulator per provider name (all registered providers by default).

    `api_key` is the key the emulators expect (any other is answered 401), one for all or
    one per provider name; without it they accept any well-formed key."""
    reg = registry or get_registry()
    chosen = list(names) if names is not None else sorted(reg.providers)
    emulated = Emulated({}, {}, registry=reg)
    for offset, name in enumerate(chosen):
        cls = reg.get(name).provider_class
        key = api_key.get(name) if isinstance(api_key, Mapping) else api_key
        kwargs: dict[str, Any] = {
            "faults": (faults or {}).get(name),
            "timing": timing,
            "seed": seed + offset,
            "api_key": key,
        }
        if clock is not None:
            kwargs["clock"] = clock
        app = cls.emulator(**kwargs)
        if loopback:
            server = LoopbackServer(app, host=host, port=port + offset if port else 0).start()
            emulated.servers[name] = server
            base_url = server.base_url
        else:
            base_url = cls.default_base_url or f"https://{name}.emulator.test"
        settings = cls.emulator_settings(base_url)
        if key is not None:
            settings["api_key"] = key
        settings["expected_job_s"] = app.timing.queue_s + app.timing.run_s
        emulated.emulators[name] = app
        emulated.settings[name] = settings
    return emulated
