"""A local Octopus Server stand-in: a real HTTP server speaking the Octopus REST API.

    from tests.octopus_emulator import OctopusEmulator
    with OctopusEmulator(api_key="API-TEST") as emu:
        emu.seed_project("Phoenix"); emu.seed_environment("Feature")
        ...  # point an OctopusClient at emu.url

From a shell: `python -m tests.octopus_emulator --port 8065 --api-key API-TEST`.
"""

from tests.octopus_emulator.emulator import OctopusEmulator
from tests.octopus_emulator.faults import LoggedRequest

__all__ = ["OctopusEmulator", "LoggedRequest"]
