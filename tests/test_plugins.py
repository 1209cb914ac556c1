"""Plugin discovery: through the `videogw` entry-point group, lazily, once, and guarded."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

import videogw.plugins
from toy import SecondToyProvider, ToyProvider
from videogw import GenerationRequest, JobStatus, hookimpl, list_providers
from videogw.emulator.clock import FakeClock
from videogw.emulator.harness import emulate
from videogw.errors import PluginError, UnknownProviderError
from videogw.plugins import PluginFailure, ProviderInfo, Registry

SHIPPED = {"higgsfield", "segmind", "pixazo", "hfrelay"}


def entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group="videogw")


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> list[importlib.metadata.EntryPoint]:
    points: list[importlib.metadata.EntryPoint] = []
    monkeypatch.setattr(videogw.plugins, "_entry_points", lambda: points)
    return points


def test_shipped_providers_are_declared_as_entry_points() -> None:
    declared = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="videogw")}
    assert set(declared) >= SHIPPED
    assert all(declared[name] == f"videogw_{name}" for name in SHIPPED)


def test_installed_providers_are_discovered_through_entry_points() -> None:
    registry = Registry(autoload=True)
    providers = registry.providers
    assert not registry.failures, registry.failures
    assert set(providers) >= SHIPPED
    for name in SHIPPED:
        info = providers[name]
        assert info.plugin == name  # the entry point's name, not a hard-coded import
        assert info.version == importlib.metadata.version("videogw")
        assert info.provider_class.__module__.startswith(f"videogw_{name}")


def test_autoload_can_be_disabled_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOGW_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert dict(Registry().providers) == {}
    monkeypatch.setenv("VIDEOGW_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert set(Registry().providers) >= SHIPPED


def test_loading_is_lazy_and_happens_once(fake_entry_points: list[Any]) -> None:
    fake_entry_points.append(entry_point("toy", "toy"))
    registry = Registry(autoload=True)
    assert registry._loaded is False
    assert "toy" in registry.providers
    fake_entry_points.append(entry_point("late", "no_such_module_at_all"))
    assert "late" not in {f.plugin for f in registry.failures}  # not loaded a second time


def test_a_broken_plugin_is_reported_and_the_others_still_work(
    fake_entry_points: list[Any],
) -> None:
    fake_entry_points.append(entry_point("broken", "videogw_no_such_plugin_module"))
    fake_entry_points.append(entry_point("toy", "toy"))
    registry = Registry(autoload=True)
    listing = list_providers(registry)
    failures = [item for item in listing if isinstance(item, PluginFailure)]
    assert [f.plugin for f in failures] == ["broken"]
    assert "ModuleNotFoundError" in failures[0].error
    assert [i.name for i in listing if isinstance(i, ProviderInfo)] == ["toy"]
    with pytest.raises(UnknownProviderError, match="broken.*failed to load"):
        registry.get("broken")

    clock = FakeClock()
    with emulate(["toy"], registry=registry, clock=clock) as emulated:
        gateway = emulated.gateway(clock=clock)
        job = gateway.run(model="dop-lite", prompt="p", image="https://example.com/a.jpg")
    assert job.status is JobStatus.succeeded


def test_a_plugin_whose_hook_raises_is_reported(fake_entry_points: list[Any]) -> None:
    class Exploding:
        @hookimpl
        def register_providers(self, register: Any) -> None:
            raise RuntimeError("boom at registration")

    registry = Registry(autoload=False)
    registry.add_plugin(Exploding(), name="exploding")
    registry.add_plugin(_plugin(ToyProvider), name="toy")
    assert set(registry.providers) == {"toy"}
    assert "boom at registration" in registry.failures[0].error


def test_strict_mode_raises_for_plugin_authors(
    monkeypatch: pytest.MonkeyPatch, fake_entry_points: list[Any]
) -> None:
    monkeypatch.setenv("VIDEOGW_STRICT_PLUGINS", "1")
    fake_entry_points.append(entry_point("broken", "videogw_no_such_plugin_module"))
    with pytest.raises(PluginError, match="broken"):
        Registry(autoload=True).load()


def test_duplicate_provider_names_name_both_plugins() -> None:
    class Imposter(SecondToyProvider):
        name = "toy"

    registry = Registry(autoload=False)
    registry.add_plugin(_plugin(ToyProvider), name="first-plugin")
    registry.add_plugin(_plugin(Imposter), name="second-plugin")
    assert set(registry.providers) == {"toy"}
    error = registry.failures[0].error
    assert "DuplicateProviderError" in error
    assert "first-plugin" in error
    assert "second-plugin" in error


def test_a_hook_may_take_a_subset_of_arguments() -> None:
    class Quiet:
        @hookimpl
        def register_providers(self) -> None:
            pass

    registry = Registry(autoload=False)
    registry.add_plugin(Quiet(), name="quiet")
    assert not registry.failures


def test_pinned_request_to_a_broken_plugin_says_why(fake_entry_points: list[Any]) -> None:
    fake_entry_points.append(entry_point("toy", "toy"))
    fake_entry_points.append(entry_point("pixazo2", "videogw_missing_pixazo2"))
    registry = Registry(autoload=True)
    with emulate(["toy"], registry=registry) as emulated:
        gateway = emulated.gateway()
        with pytest.raises(UnknownProviderError, match="pixazo2.*failed to load"):
            gateway.submit(
                GenerationRequest(model="pixazo2:dop-lite", image="https://example.com/a.jpg")
            )


def _plugin(cls: type[ToyProvider]) -> Any:
    class Plugin:
        @hookimpl
        def register_providers(self, register: Any) -> None:
            register(cls)

    return Plugin()
