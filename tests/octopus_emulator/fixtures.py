"""The `octopus_emulator` pytest fixture (registered by tests/conftest.py)."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.octopus_emulator.emulator import OctopusEmulator
from tests.octopus_emulator.ready import REGISTRATION_ONLY

TEST_API_KEY = "API-EMULATORTESTKEY0000000001"
#: The key instances register with: its user may only register machines and delete them.
TEST_REGISTRATION_KEY = "API-EMULATORREGISTRATION00001"


@pytest.fixture
def octopus_emulator() -> Iterator[OctopusEmulator]:
    """A started emulator: space Default (Spaces-1) with its default machine policy.

    Each test gets its own server on a free port, so state and faults never leak.
    Besides the deploy key, it knows TEST_REGISTRATION_KEY, whose user may only register and delete machines.
    """
    with OctopusEmulator(api_key=TEST_API_KEY) as emulator:
        emulator.add_api_key(TEST_REGISTRATION_KEY, username="tentacle-registrar", permissions=REGISTRATION_ONLY)
        yield emulator
