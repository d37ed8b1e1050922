"""An emulated Octopus with one feature's world in it, and providers configured against it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest
from pulumi.dynamic import Config, ConfigureRequest

PROJECT = "Phoenix Web"
ENVIRONMENT = "Feature"
OTHER_ENVIRONMENT = "Staging"
VERSION = "1.0.0-ryan0001"
NEXT_VERSION = "1.0.1-ryan0001"
#: Retries stay on; only the waits between them shrink, so fault tests stay fast.
FAST_CLIENT = {"backoff_factor": 0.01, "timeout": (2.0, 5.0)}


def stack_config(emulator: Any, **extra: Any) -> dict[str, Any]:
    """The provider-relevant stack config, as the engine hands it to configure()."""
    return {
        "octopus:serverUrl": emulator.url,
        "octopus:apiKey": emulator.api_key,
        "octopus:space": "Default",
        **extra,
    }


def configure(provider: Any, config: dict[str, Any]) -> Any:
    provider.client_options = FAST_CLIENT
    provider.configure(ConfigureRequest(Config(raw_config=config, project_name="phoenix")))
    return provider


@dataclass
class World:
    emulator: Any
    make: Callable[[type], Any]

    def project(self) -> dict:
        return self.emulator.project(PROJECT)

    def overrides(self) -> list[dict]:
        return list(self.project().get("AutoDeployReleaseOverrides") or [])

    def tenant_named(self, name: str) -> list[dict]:
        return [t for t in self.emulator.tenants() if t["Name"] == name]


@pytest.fixture
def world(octopus_emulator) -> World:
    emulator = octopus_emulator
    emulator.seed_project(PROJECT)
    emulator.seed_environment(ENVIRONMENT)
    emulator.seed_environment(OTHER_ENVIRONMENT)
    emulator.seed_release(PROJECT, VERSION)
    emulator.seed_release(PROJECT, NEXT_VERSION)

    def make(provider_class: type) -> Any:
        return configure(provider_class(), stack_config(emulator))

    return World(emulator=emulator, make=make)
