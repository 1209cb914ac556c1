"""Plugin hooks. Hooks only *register* things; behaviour lives in `videogw.Provider`.

A plugin is an importable module with ``@videogw.hookimpl`` functions, declared in its
distribution's ``[project.entry-points.videogw]`` table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .provider import Provider

__all__ = ["RegisterProvider", "hookimpl", "hookspec", "register_providers"]

hookspec = pluggy.HookspecMarker("videogw")
hookimpl = pluggy.HookimplMarker("videogw")

RegisterProvider = Callable[..., Any]
"""``register(provider_class: type[Provider], *, name: str | None = None)``."""


@hookspec
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register provider classes by calling ``register(ProviderClass)`` once per class.

    Called once per process, lazily, the first time providers are needed. Must be cheap
    and must not touch the network.
    """
