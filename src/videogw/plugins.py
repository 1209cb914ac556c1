"""Plugin loading: lazy, once, one entry point at a time.

A plugin that fails to import (or to register) is recorded with its error and shown by
`list_providers()`; every other plugin keeps working. Set
``VIDEOGW_DISABLE_PLUGIN_AUTOLOAD=1`` to skip entry points (tests do), and
``VIDEOGW_STRICT_PLUGINS=1`` to make a broken plugin raise instead (for plugin authors).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import pluggy

from . import hookspecs
from .errors import DuplicateProviderError, PluginError, UnknownProviderError

if TYPE_CHECKING:
    from .provider import Provider

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginFailure",
    "ProviderInfo",
    "Registry",
    "get_registry",
    "list_providers",
]

ENTRY_POINT_GROUP = "videogw"
DISABLE_AUTOLOAD_ENV = "VIDEOGW_DISABLE_PLUGIN_AUTOLOAD"
STRICT_ENV = "VIDEOGW_STRICT_PLUGINS"

log = logging.getLogger("videogw.plugins")


@dataclass(frozen=True)
class PluginFailure:
    plugin: str
    error: str
    traceback: str = field(repr=False)


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    plugin: str
    version: str | None
    provider_class: type[Provider]


class Registry:
    """Provider classes by name, built once from every plugin's `register_providers`."""

    def __init__(self, *, autoload: bool | None = None) -> None:
        self.pm = pluggy.PluginManager("videogw")
        self.pm.add_hookspecs(hookspecs)
        self._autoload = autoload
        self._lock = threading.Lock()
        self._loaded = False
        self._providers: dict[str, ProviderInfo] = {}
        self._failures: list[PluginFailure] = []
        self._extra: list[tuple[object, str, str | None]] = []

    # -- what plugins and tests add ------------------------------------------------
    def add_plugin(self, plugin: object, *, name: str, version: str | None = None) -> None:
        """Register a plugin object or module directly (tests, embedded use)."""
        with self._lock:
            self._extra.append((plugin, name, version))
            if self._loaded:
                self._register_plugin(plugin, name, version)

    # -- queries --------------------------------------------------------------------
    @property
    def providers(self) -> MappingProxyType[str, ProviderInfo]:
        self.load()
        return MappingProxyType(self._providers)

    @property
    def failures(self) -> tuple[PluginFailure, ...]:
        self.load()
        return tuple(self._failures)

    def get(self, name: str) -> ProviderInfo:
        info = self.providers.get(name)
        if info is None:
            known = ", ".join(sorted(self._providers)) or "none"
            broken = "".join(
                f"; plugin {f.plugin!r} failed to load: {f.error}"
                for f in self._failures
                if f.plugin == name
            )
            raise UnknownProviderError(f"no provider named {name!r} (known: {known}){broken}")
        return info

    # -- loading --------------------------------------------------------------------
    def load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            if self._autoload_enabled():
                for ep in _entry_points():
                    self._load_entry_point(ep)
            for plugin, name, version in self._extra:
                self._register_plugin(plugin, name, version)
            self._loaded = True

    def _autoload_enabled(self) -> bool:
        if self._autoload is not None:
            return self._autoload
        return os.environ.get(DISABLE_AUTOLOAD_ENV, "").lower() not in {"1", "true", "yes"}

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint) -> None:
        version = ep.dist.version if ep.dist is not None else None
        try:
            module = ep.load()
        except Exception as exc:
            self._fail(ep.name, exc)
            return
        self._register_plugin(module, ep.name, version)

    def _register_plugin(self, plugin: object, name: str, version: str | None) -> None:
        found: list[type[Provider]] = []

        def register(provider_class: type[Provider]) -> None:
            found.append(provider_class)

        try:
            self.pm.register(plugin, name=name)
            hook_impls = [
                impl
                for impl in self.pm.hook.register_providers.get_hookimpls()
                if impl.plugin is plugin
            ]
            for impl in hook_impls:
                # pluggy lets an implementation take a subset of the spec's arguments
                offered = {"register": register}
                impl.function(**{k: v for k, v in offered.items() if k in impl.argnames})
            additions: dict[str, ProviderInfo] = {}
            for cls in found:
                provider_name = cls.name
                clash = self._providers.get(provider_name) or additions.get(provider_name)
                if clash is not None:
                    other = clash.plugin
                    raise DuplicateProviderError(
                        f"provider name {provider_name!r} registered by both plugin {other!r} "
                        f"and plugin {name!r}"
                    )
                additions[provider_name] = ProviderInfo(provider_name, name, version, cls)
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(name, exc)
            return
        self._providers.update(additions)

    def _fail(self, plugin: str, exc: Exception) -> None:
        failure = PluginFailure(plugin, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        self._failures.append(failure)
        log.warning("videogw plugin %r failed to load: %s", plugin, failure.error)
        if os.environ.get(STRICT_ENV, "").lower() in {"1", "true", "yes"}:
            raise PluginError(f"plugin {plugin!r} failed to load: {failure.error}") from exc


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


_default: Registry | None = None
_default_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry (created on first use; plugins load lazily after that)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Registry()
    return _default


def list_providers(registry: Registry | None = None) -> list[ProviderInfo | PluginFailure]:
    """Every provider found, followed by every plugin that failed to load (with its error)."""
    reg = registry or get_registry()
    found = sorted(reg.providers.values(), key=lambda info: info.name)
    return [*found, *reg.failures]
