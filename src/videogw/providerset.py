"""The provider instances of a gateway: given in code, configured, or registered by a
plugin, each built once from its settings on first use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import ValidationError

from .config import Config, config_error
from .errors import ConfigurationError, UnknownProviderError, VideoGWError
from .plugins import Registry
from .provider import Provider
from .redact import register_provider_secrets

__all__ = ["Providers"]


class Providers:
    def __init__(
        self,
        config: Config,
        registry: Registry,
        given: Mapping[str, Provider] | Iterable[Provider] | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self._built: dict[str, Provider] = {}
        if given is not None:
            items = given.values() if isinstance(given, Mapping) else given
            for provider in items:
                self._built[provider.instance] = provider
        self._given = list(self._built)

    def names(self) -> list[str]:
        """Every provider instance, in a stable order: given in code first, then the
        config file's order, then plugins."""
        names = list(self._given)
        for name in self.config.providers:
            if name not in names:
                names.append(name)
        for name in self.registry.providers:
            if name not in names:
                names.append(name)
        return names

    def get(self, name: str) -> Provider:
        found = self._built.get(name)
        if found is None:
            found = self._built[name] = self._build(name)
        return found

    __getitem__ = get

    def _build(self, name: str) -> Provider:
        raw = dict(self.config.providers.get(name, {}))
        plugin = raw.get("plugin", name)
        if plugin != name and name not in self.config.providers:
            raise UnknownProviderError(f"no provider named {name!r}")
        cls = self.registry.get(plugin).provider_class
        for key, field_info in cls.Settings.model_fields.items():
            in_file = self.config._source is not None
            if in_file and key in raw and "SecretStr" in str(field_info.annotation):
                raise ConfigurationError(
                    f"{self.config.locate(f'providers.{name}.{key}') or 'config'}: "
                    f"{key} must not be written in the config file; put it in the environment "
                    f"and name the variable with {key}_env"
                )
        try:
            settings = cls.Settings.model_validate(raw)
        except ValidationError as exc:
            raise config_error(
                exc,
                text=self.config._text,
                source=self.config._source or "config",
                prefix=("providers", name),
            ) from None
        provider = cls(settings, instance=name)
        register_provider_secrets(provider)  # redacted from now on; whitespace refused
        return provider

    def engine_limits(self) -> tuple[dict[str, float], dict[str, int]]:
        """Per provider: request timeout and connection-pool size, for the engine."""
        names = set(self.config.providers) | set(self._built)
        timeouts, limits = {}, {}
        for name in names:
            try:
                provider = self.get(name)
            except VideoGWError:
                continue
            timeouts[name] = provider.settings.timeout_s
            limits[name] = provider.settings.max_concurrency
        return timeouts, limits
