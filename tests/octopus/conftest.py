"""Fixtures for the Octopus client and emulator tests: a fast client and a seeded server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pytest

from components.octopus import client as client_module
from components.octopus.client import OctopusClient
from tests.octopus_emulator import OctopusEmulator


@pytest.fixture(autouse=True)
def quick_override_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settle pause guards against other processes; here it only slows tests."""
    monkeypatch.setattr(client_module, "OVERRIDE_SETTLE_SECONDS", 0.01)


def make_client(emulator: OctopusEmulator, **kwargs) -> OctopusClient:
    options = {"timeout": (2.0, 5.0), "retries": 3, "backoff_factor": 0.01, **kwargs}
    return OctopusClient(emulator.url, emulator.api_key, **options)


@pytest.fixture
def client(octopus_emulator: OctopusEmulator) -> Iterator[OctopusClient]:
    with make_client(octopus_emulator) as octopus:
        yield octopus


@dataclass(frozen=True)
class Seeded:
    project: dict
    environment: dict
    release: dict


@pytest.fixture
def seeded(octopus_emulator: OctopusEmulator) -> Seeded:
    """What every feature needs to exist first: the project, its environment, a release."""
    project = octopus_emulator.seed_project("Phoenix Web")
    environment = octopus_emulator.seed_environment("Feature")
    release = octopus_emulator.seed_release("Phoenix Web", "1.0.0-ryan0001")
    return Seeded(project=project, environment=environment, release=release)
