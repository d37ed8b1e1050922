"""The `octopus_emulator` pytest fixture (registered by tests/conftest.py)."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.octopus_emulator.emulator import OctopusEmulator

TEST_API_KEY = "API-EMULATORTESTKEY0000000001"


@pytest.fixture
def octopus_emulator() -> Iterator[OctopusEmulator]:
    """A started emulator: space Default (Spaces-1) with its default machine policy.

    Each test gets its own server on a free port, so state and faults never leak.
    """
    with OctopusEmulator(api_key=TEST_API_KEY) as emulator:
        yield emulator
